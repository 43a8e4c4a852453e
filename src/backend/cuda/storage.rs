//! Tensor memory on a CUDA device: storage, its view as a kernel operand, and copies between it
//! and the host.

use std::sync::Arc;

use super::device::{CudaDevice, DeviceBuffer};
use crate::error::{Error, Result};
use crate::storage::{CpuElement, DType};

/// `len` elements of `dtype` in device memory (bool stored as one byte, as on the CPU).
pub struct CudaStorage {
    buf: DeviceBuffer,
    dtype: DType,
    len: usize,
}

impl CudaStorage {
    /// Uninitialised storage for `len` elements.
    pub(crate) fn alloc(dev: &Arc<CudaDevice>, dtype: DType, len: usize) -> Result<CudaStorage> {
        let bytes = len.checked_mul(dtype.size_in_bytes()).ok_or_else(|| {
            Error::runtime("CUDA out of memory. Tried to allocate more than 2^64 bytes")
        })?;
        Ok(CudaStorage {
            buf: dev.alloc(bytes)?,
            dtype,
            len,
        })
    }

    /// Zeroed storage (zero bits are 0 for every dtype).
    pub(crate) fn zeros(dev: &Arc<CudaDevice>, dtype: DType, len: usize) -> Result<CudaStorage> {
        let s = CudaStorage::alloc(dev, dtype, len)?;
        dev.memset(s.ptr(), 0, s.buf.bytes())?;
        Ok(s)
    }

    /// Storage over `len` elements of device memory that `owner` keeps alive (DLPack import).
    ///
    /// # Safety
    /// `ptr` must address `len` elements of `dtype` in `dev`'s memory for as long as `owner` lives.
    #[cfg_attr(not(feature = "python"), allow(dead_code))] // used by the DLPack bindings
    pub(crate) unsafe fn from_external(
        dev: &Arc<CudaDevice>,
        ptr: u64,
        dtype: DType,
        len: usize,
        owner: Box<dyn std::any::Any + Send + Sync>,
    ) -> CudaStorage {
        // SAFETY: forwarded to the caller.
        let buf = unsafe { dev.external(ptr, len * dtype.size_in_bytes(), owner) };
        CudaStorage { buf, dtype, len }
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The device index.
    pub fn ordinal(&self) -> usize {
        self.buf.device().ordinal
    }
    /// Device address of element 0.
    pub(crate) fn ptr(&self) -> u64 {
        self.buf.ptr()
    }
    /// Device address of element `offset`.
    pub(crate) fn ptr_at(&self, offset: usize) -> u64 {
        self.buf.ptr() + (offset * self.dtype.size_in_bytes()) as u64
    }
    pub(crate) fn device(&self) -> &Arc<CudaDevice> {
        self.buf.device()
    }
    pub(crate) fn buffer(&self) -> &DeviceBuffer {
        &self.buf
    }
}

/// A contiguous kernel operand: storage and element offset.
#[derive(Copy, Clone)]
pub(crate) struct Dv<'a> {
    pub s: &'a CudaStorage,
    pub off: usize,
}

impl Dv<'_> {
    pub fn ptr(&self) -> u64 {
        self.s.ptr_at(self.off)
    }
}

/// Uploads contiguous host elements into a new device storage.
pub(crate) fn upload<T: CpuElement>(dev: &Arc<CudaDevice>, data: &[T]) -> Result<CudaStorage> {
    let s = CudaStorage::alloc(dev, T::DTYPE, data.len())?;
    // SAFETY: plain elements viewed as bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts(data.as_ptr() as *const u8, std::mem::size_of_val(data))
    };
    if !bytes.is_empty() {
        dev.htod(s.buffer(), bytes)?;
    }
    Ok(s)
}

/// Copies `out.len()` elements starting at element `start` of `src` to the host (synchronising).
pub(crate) fn download<T: CpuElement>(
    src: &CudaStorage,
    start: usize,
    out: &mut [T],
) -> Result<()> {
    if out.is_empty() {
        return src.device().synchronize();
    }
    // SAFETY: plain elements viewed as bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut u8, std::mem::size_of_val(out))
    };
    src.device().dtoh(bytes, src.ptr_at(start))
}
