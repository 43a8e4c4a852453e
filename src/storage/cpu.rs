//! Host memory: a typed, 64-byte aligned buffer that is either ours or borrowed from an owner
//! (a NumPy array) that it keeps alive.

use std::alloc::{self, Layout as AllocLayout};
use std::any::Any;
use std::ptr::NonNull;

use crate::error::{Error, Result};
use crate::storage::dtype::{DType, Element};
use crate::storage::host_cache;
use crate::storage::narrow::{bf16, f16, U8};

pub(super) const ALIGN: usize = 64;

/// Who frees the memory.
enum Owner {
    /// Allocated by `Buffer::alloc`; freed with the same layout.
    Ours,
    /// Memory owned by someone else (kept alive by this box until the buffer drops).
    External(#[allow(dead_code)] Box<dyn Any + Send + Sync>),
}

/// A contiguous run of `len` elements of `T` in host memory.
pub struct Buffer<T: Element> {
    ptr: NonNull<T>,
    len: usize,
    owner: Owner,
}

// SAFETY: the buffer is a plain allocation of `Send + Sync` elements; shared access is governed by
// the `RwLock` in `Storage`.
unsafe impl<T: Element> Send for Buffer<T> {}
unsafe impl<T: Element> Sync for Buffer<T> {}

impl<T: Element> Buffer<T> {
    fn alloc_layout(len: usize) -> Result<AllocLayout> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .filter(|&b| b <= isize::MAX as usize - ALIGN)
            .ok_or_else(|| Error::out_of_memory(usize::MAX, "CPU"))?;
        AllocLayout::from_size_align(host_cache::rounded(bytes.max(1)), ALIGN)
            .map_err(|e| Error::runtime(e.to_string()))
    }

    fn alloc_with(len: usize, zeroed: bool) -> Result<Self> {
        let layout = Self::alloc_layout(len)?;
        if let Some(block) = host_cache::take(layout.size()) {
            if zeroed {
                // SAFETY: the cached block holds layout.size() bytes.
                unsafe { block.as_ptr().write_bytes(0, layout.size()) };
            }
            return Ok(Buffer {
                ptr: block.cast(),
                len,
                owner: Owner::Ours,
            });
        }
        let fresh = || {
            // SAFETY: the layout has a non-zero size.
            let raw = unsafe {
                if zeroed {
                    alloc::alloc_zeroed(layout)
                } else {
                    alloc::alloc(layout)
                }
            };
            NonNull::new(raw as *mut T)
        };
        // On failure, give the cached blocks back and try once more.
        let ptr = fresh()
            .or_else(|| {
                host_cache::clear();
                fresh()
            })
            .ok_or_else(|| {
                Error::out_of_memory(len * std::mem::size_of::<T>(), "DefaultCPUAllocator")
            })?;
        Ok(Buffer {
            ptr,
            len,
            owner: Owner::Ours,
        })
    }

    /// Uninitialised memory for `len` elements, filled by the caller before any read. Elements are
    /// plain old data, so any bit pattern is a valid value; we still never hand it out unwritten.
    pub fn uninit(len: usize) -> Result<Self> {
        Self::alloc_with(len, false)
    }

    /// `len` zero elements (zero bits are 0 for every dtype we have).
    pub fn zeros(len: usize) -> Result<Self> {
        Self::alloc_with(len, true)
    }

    pub fn full(len: usize, value: T) -> Result<Self> {
        let mut b = Self::uninit(len)?;
        b.as_mut_slice().fill(value);
        Ok(b)
    }

    pub fn from_slice(data: &[T]) -> Result<Self> {
        let mut b = Self::uninit(data.len())?;
        b.as_mut_slice().copy_from_slice(data);
        Ok(b)
    }

    /// Fills a new buffer from an iterator of exactly `len` items.
    pub fn from_iter_exact(len: usize, iter: impl Iterator<Item = T>) -> Result<Self> {
        let mut b = Self::uninit(len)?;
        let mut n = 0;
        for (dst, v) in b.as_mut_slice().iter_mut().zip(iter) {
            *dst = v;
            n += 1;
        }
        debug_assert_eq!(n, len);
        Ok(b)
    }

    /// Wraps memory owned by `owner`.
    ///
    /// # Safety
    /// `ptr` must be valid for reads and writes of `len` elements, suitably aligned for `T`, for
    /// as long as `owner` lives.
    pub unsafe fn from_external(
        ptr: *mut T,
        len: usize,
        owner: Box<dyn Any + Send + Sync>,
    ) -> Result<Self> {
        let ptr = NonNull::new(ptr).unwrap_or(NonNull::dangling());
        Ok(Buffer {
            ptr,
            len,
            owner: Owner::External(owner),
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn as_ptr(&self) -> *const T {
        self.ptr.as_ptr()
    }
    pub fn as_mut_ptr(&mut self) -> *mut T {
        self.ptr.as_ptr()
    }

    #[inline]
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: ptr is valid for len elements while self lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as above, and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// True when this buffer's memory belongs to another object (NumPy).
    pub fn is_external(&self) -> bool {
        matches!(self.owner, Owner::External(_))
    }
}

impl<T: Element> Drop for Buffer<T> {
    fn drop(&mut self) {
        if let Owner::Ours = self.owner {
            if let Ok(layout) = Self::alloc_layout(self.len) {
                if !host_cache::give(self.ptr.cast(), layout.size()) {
                    // SAFETY: allocated in alloc_with with this very layout.
                    unsafe { alloc::dealloc(self.ptr.as_ptr() as *mut u8, layout) };
                }
            }
        }
    }
}

/// Host storage of one dtype.
pub enum CpuStorage {
    F32(Buffer<f32>),
    F64(Buffer<f64>),
    I64(Buffer<i64>),
    Bool(Buffer<u8>),
    F16(Buffer<f16>),
    BF16(Buffer<bf16>),
    U8(Buffer<U8>),
    I8(Buffer<i8>),
    I16(Buffer<i16>),
    I32(Buffer<i32>),
}

/// Converts between `CpuStorage` and the typed buffer of one element type.
pub trait CpuElement: Element {
    fn buffer(s: &CpuStorage) -> Option<&Buffer<Self>>;
    fn buffer_mut(s: &mut CpuStorage) -> Option<&mut Buffer<Self>>;
    fn wrap(b: Buffer<Self>) -> CpuStorage;
}

macro_rules! impl_cpu_element {
    ($t:ty, $variant:ident) => {
        impl CpuElement for $t {
            #[inline]
            fn buffer(s: &CpuStorage) -> Option<&Buffer<Self>> {
                match s {
                    CpuStorage::$variant(b) => Some(b),
                    _ => None,
                }
            }
            #[inline]
            fn buffer_mut(s: &mut CpuStorage) -> Option<&mut Buffer<Self>> {
                match s {
                    CpuStorage::$variant(b) => Some(b),
                    _ => None,
                }
            }
            fn wrap(b: Buffer<Self>) -> CpuStorage {
                CpuStorage::$variant(b)
            }
        }
    };
}
impl_cpu_element!(f32, F32);
impl_cpu_element!(f64, F64);
impl_cpu_element!(i64, I64);
impl_cpu_element!(u8, Bool);
impl_cpu_element!(f16, F16);
impl_cpu_element!(bf16, BF16);
impl_cpu_element!(U8, U8);
impl_cpu_element!(i8, I8);
impl_cpu_element!(i16, I16);
impl_cpu_element!(i32, I32);

/// Runs `$body` with `$b` bound to the typed buffer inside a `CpuStorage`, whatever its dtype.
macro_rules! with_buffer {
    ($s:expr, $b:ident => $body:expr) => {
        match $s {
            CpuStorage::F32($b) => $body,
            CpuStorage::F64($b) => $body,
            CpuStorage::I64($b) => $body,
            CpuStorage::Bool($b) => $body,
            CpuStorage::F16($b) => $body,
            CpuStorage::BF16($b) => $body,
            CpuStorage::U8($b) => $body,
            CpuStorage::I8($b) => $body,
            CpuStorage::I16($b) => $body,
            CpuStorage::I32($b) => $body,
        }
    };
}

impl CpuStorage {
    pub fn dtype(&self) -> DType {
        fn of<T: Element>(_: &Buffer<T>) -> DType {
            T::DTYPE
        }
        with_buffer!(self, b => of(b))
    }

    pub fn len(&self) -> usize {
        with_buffer!(self, b => b.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn zeros(dtype: DType, len: usize) -> Result<Self> {
        Ok(crate::with_dtype!(dtype, T => T::wrap(Buffer::<T>::zeros(len)?)))
    }

    /// The typed slice of this storage; an internal error if the dtype is not `T`.
    #[inline]
    pub fn slice<T: CpuElement>(&self) -> Result<&[T]> {
        T::buffer(self)
            .map(|b| b.as_slice())
            .ok_or_else(|| dtype_confusion::<T>(self.dtype()))
    }

    #[inline]
    pub fn slice_mut<T: CpuElement>(&mut self) -> Result<&mut [T]> {
        let dtype = self.dtype();
        T::buffer_mut(self)
            .map(|b| b.as_mut_slice())
            .ok_or_else(|| dtype_confusion::<T>(dtype))
    }

    /// Raw pointer to the first byte (for zero-copy export to NumPy).
    pub fn as_ptr(&self) -> *const u8 {
        with_buffer!(self, b => b.as_ptr().cast::<u8>())
    }
}

fn dtype_confusion<T: Element>(actual: DType) -> Error {
    Error::internal(format!("expected {} storage, found {}", T::DTYPE, actual))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_allocation_is_an_error() {
        let err = Buffer::<f32>::uninit(usize::MAX / 2).err().unwrap();
        assert!(err.to_string().contains("out of memory"), "{err}");
        let err = Buffer::<f64>::zeros(1 << 60).err().unwrap();
        assert!(err.to_string().contains("out of memory"), "{err}");
    }

    #[test]
    fn buffers_are_aligned() {
        let b = Buffer::<f32>::zeros(3).unwrap();
        assert_eq!(b.as_ptr() as usize % 64, 0);
        assert_eq!(b.as_slice(), &[0.0, 0.0, 0.0]);
    }
}
