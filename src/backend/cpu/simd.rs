//! Runs a loop compiled for the widest vector unit the CPU has.
//!
//! The wheel is built for baseline x86-64 (SSE2), so a plain loop gets 128-bit vectors. A loop
//! written inside `vectorized(|| ...)` is inlined into a function compiled with AVX2 and FMA and
//! taken when the CPU has them, so LLVM's vectorizer emits 256-bit code for it. Rust never
//! contracts `a * b + c` into an FMA on its own, so both versions give the same bits.

use std::sync::atomic::{AtomicU8, Ordering};

const UNKNOWN: u8 = 0;
const BASELINE: u8 = 1;
const AVX2: u8 = 2;

static LEVEL: AtomicU8 = AtomicU8::new(UNKNOWN);

#[inline]
fn has_avx2() -> bool {
    match LEVEL.load(Ordering::Relaxed) {
        UNKNOWN => {
            let level = detect();
            LEVEL.store(level, Ordering::Relaxed);
            level == AVX2
        }
        level => level == AVX2,
    }
}

fn detect() -> u8 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        return AVX2;
    }
    BASELINE
}

/// `f()`, compiled with AVX2 and FMA where the CPU has them. `f` must be a loop the vectorizer
/// can handle once inlined (no calls it cannot see through).
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { with_avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_paths_give_the_same_result() {
        let x: Vec<f32> = (0..1001).map(|i| (i as f32 * 0.37).sin()).collect();
        let fast = vectorized(|| x.iter().map(|&v| v * v + 1.0).collect::<Vec<_>>());
        let plain: Vec<f32> = x.iter().map(|&v| v * v + 1.0).collect();
        assert_eq!(fast, plain);
    }
}
