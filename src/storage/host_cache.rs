//! A cache of large host allocations, bucketed by exact page-rounded size.
//!
//! A training step frees and re-allocates the same activation and gradient sizes on every
//! iteration. Blocks this large come from mmap and go back to the kernel on free, so each new one
//! page-faults on first touch: about 15% of a seed ConvNet step in `perf`, kernel time spent
//! zeroing and mapping pages. Reusing freed blocks of the same size removes that.
//!
//! The cache holds at most [`limit`] bytes (`RUSTGRAD_HOST_CACHE_MB`, default 512; 0 turns it
//! off), evicting other sizes to make room, and is emptied when an allocation fails.

use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::OnceLock;

use parking_lot::Mutex;

/// Blocks below this size are left to malloc, which serves them from its own free lists.
pub const MIN_BYTES: usize = 64 * 1024;
const PAGE: usize = 4096;

/// A cached block's address (the cache owns it until handed out again).
struct Block(NonNull<u8>);
// SAFETY: a cached block is plain memory that nobody else references.
unsafe impl Send for Block {}

#[derive(Default)]
struct Cache {
    free: HashMap<usize, Vec<Block>>,
    bytes: usize,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Cache::default()))
}

/// Most bytes the cache keeps.
pub fn limit() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("RUSTGRAD_HOST_CACHE_MB")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(512)
            .saturating_mul(1 << 20)
    })
}

/// The size actually allocated for `bytes`: whole pages for cacheable blocks, so that nearby
/// sizes share a bucket.
pub fn rounded(bytes: usize) -> usize {
    if bytes >= MIN_BYTES {
        bytes.div_ceil(PAGE).saturating_mul(PAGE)
    } else {
        bytes
    }
}

/// A cached block of exactly `size` (rounded) bytes, if one is free.
pub fn take(size: usize) -> Option<NonNull<u8>> {
    if size < MIN_BYTES {
        return None;
    }
    let mut c = cache().lock();
    let block = c.free.get_mut(&size)?.pop()?;
    c.bytes -= size;
    Some(block.0)
}

/// Offers a freed block of `size` (rounded) bytes to the cache; false when the cache does not
/// keep it (the caller frees it).
pub fn give(ptr: NonNull<u8>, size: usize) -> bool {
    let limit = limit();
    if size < MIN_BYTES || size > limit {
        return false;
    }
    let mut evicted = Vec::new();
    let mut c = cache().lock();
    // Make room by dropping blocks of other sizes first (they are the ones not being reused).
    while c.bytes + size > limit {
        let victim = c.free.iter().find(|(&k, v)| k != size && !v.is_empty());
        let Some(victim) = victim.map(|(&k, _)| k) else {
            break;
        };
        if let Some(b) = c.free.get_mut(&victim).and_then(Vec::pop) {
            c.bytes -= victim;
            evicted.push((b.0, victim));
        }
    }
    let kept = c.bytes + size <= limit;
    if kept {
        c.free.entry(size).or_default().push(Block(ptr));
        c.bytes += size;
    }
    drop(c);
    free_evicted(evicted);
    kept
}

/// Empties the cache (after a failed allocation, or on request).
pub fn clear() {
    let blocks: Vec<(NonNull<u8>, usize)> = {
        let mut c = cache().lock();
        c.bytes = 0;
        c.free
            .drain()
            .flat_map(|(size, v)| v.into_iter().map(move |b| (b.0, size)))
            .collect()
    };
    free_evicted(blocks);
}

/// Bytes held by the cache now.
pub fn cached_bytes() -> usize {
    cache().lock().bytes
}

fn free_evicted(blocks: Vec<(NonNull<u8>, usize)>) {
    for (ptr, size) in blocks {
        if let Ok(layout) = std::alloc::Layout::from_size_align(size, super::cpu::ALIGN) {
            // SAFETY: every cached block was allocated with `size` bytes and this alignment.
            unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Buffer;

    #[test]
    fn freed_blocks_are_reused_and_zeroed_on_request() -> crate::Result<()> {
        // A size no other test uses, so that parallel tests cannot take the block.
        let len = (MIN_BYTES + 12_345) / 4;
        let mut a = Buffer::<f32>::full(len, 7.0)?;
        let addr = a.as_mut_ptr() as usize;
        drop(a);
        let size = rounded(len * 4);
        assert!(cached_bytes() >= size);
        let b = Buffer::<f32>::zeros(len)?;
        assert_eq!(
            b.as_ptr() as usize,
            addr,
            "the freed block is handed out again"
        );
        assert!(b.as_slice().iter().all(|&v| v == 0.0));
        Ok(())
    }

    #[test]
    fn small_blocks_bypass_the_cache() {
        assert_eq!(rounded(100), 100);
        assert_eq!(rounded(MIN_BYTES + 1), MIN_BYTES + PAGE);
        let block = NonNull::<u8>::dangling();
        assert!(!give(block, 100), "blocks below MIN_BYTES are never kept");
        assert!(
            !give(block, limit() + PAGE),
            "blocks above the limit are never kept"
        );
    }
}
