//! DLPack: tensors shared without a copy with NumPy, PyTorch and any other DLPack library.
//!
//! Export (`_C._to_dlpack`) hands out a capsule holding a `DLManagedTensorVersioned` ("dltensor_versioned")
//! or, for consumers that predate DLPack 1.0, a `DLManagedTensor` ("dltensor"). Its manager context
//! owns a clone of the tensor, so our storage lives until the consumer calls the deleter; a capsule
//! nobody consumed calls it when it is collected. Import (`_C._from_dlpack`) wraps the producer's
//! memory (host or CUDA device) in a storage whose owner calls the producer's deleter when the
//! storage drops, and renames the capsule "used_dltensor[_versioned]" so that it is used once.
//! The policy (requires_grad, streams, `copy`, `dl_device`) lives in `rustgrad/utils/dlpack.py`.

use std::ffi::{c_void, CStr};
use std::sync::Arc;

use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;

use super::tensor::PyTensor;
use super::IntoPy;
use crate::storage::{Buffer, DType, Storage, StorageData};
use crate::tensor::{Layout, Tensor};

const LEGACY_NAME: &CStr = c"dltensor";
const VERSIONED_NAME: &CStr = c"dltensor_versioned";
const USED_LEGACY_NAME: &CStr = c"used_dltensor";
const USED_VERSIONED_NAME: &CStr = c"used_dltensor_versioned";

/// The DLPack version we produce and the newest major version we read.
const DLPACK_MAJOR: u32 = 1;
const DLPACK_MINOR: u32 = 1;
const FLAG_READ_ONLY: u64 = 1;
const FLAG_IS_COPIED: u64 = 2;

const K_DL_CPU: i32 = 1;
const K_DL_CUDA: i32 = 2;

const K_DL_INT: u8 = 0;
const K_DL_UINT: u8 = 1;
const K_DL_FLOAT: u8 = 2;
const K_DL_BFLOAT: u8 = 4;
const K_DL_BOOL: u8 = 6;

#[repr(C)]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
struct DLDevice {
    device_type: i32,
    device_id: i32,
}

#[repr(C)]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
struct DLDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

#[repr(C)]
struct DLTensor {
    data: *mut c_void,
    device: DLDevice,
    ndim: i32,
    dtype: DLDataType,
    shape: *mut i64,
    strides: *mut i64,
    byte_offset: u64,
}

#[repr(C)]
struct DLManagedTensor {
    dl_tensor: DLTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

#[repr(C)]
struct DLPackVersion {
    major: u32,
    minor: u32,
}

#[repr(C)]
struct DLManagedTensorVersioned {
    version: DLPackVersion,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensorVersioned)>,
    flags: u64,
    dl_tensor: DLTensor,
}

/// DLPack's type code of a dtype, by its name (so dtypes added later map without a change here).
fn dl_dtype(dtype: DType) -> Option<DLDataType> {
    let code = match dtype.name() {
        "bool" => K_DL_BOOL,
        "uint8" => K_DL_UINT,
        "int8" | "int16" | "int32" | "int64" => K_DL_INT,
        "float16" | "float32" | "float64" => K_DL_FLOAT,
        "bfloat16" => K_DL_BFLOAT,
        _ => return None,
    };
    Some(DLDataType {
        code,
        bits: (dtype.size_in_bytes() * 8) as u8,
        lanes: 1,
    })
}

fn dtype_of(dl: DLDataType) -> PyResult<DType> {
    DType::ALL
        .iter()
        .copied()
        .find(|&d| dl_dtype(d) == Some(dl))
        .ok_or_else(|| {
            PyBufferError::new_err(format!(
                "Unsupported DLPack dtype (code {}, bits {}, lanes {}): rustgrad has no such dtype",
                dl.code, dl.bits, dl.lanes
            ))
        })
}

// ----- export ------------------------------------------------------------------------------------

/// What a produced capsule owns: the tensor (and so its storage) and the shape/strides arrays.
struct ExportContext {
    _tensor: Tensor,
    shape: Vec<i64>,
    strides: Vec<i64>,
}

unsafe extern "C" fn delete_exported_legacy(managed: *mut DLManagedTensor) {
    // SAFETY: both boxes were leaked by `to_dlpack` and the deleter runs once.
    unsafe {
        drop(Box::from_raw((*managed).manager_ctx as *mut ExportContext));
        drop(Box::from_raw(managed));
    }
}

unsafe extern "C" fn delete_exported_versioned(managed: *mut DLManagedTensorVersioned) {
    // SAFETY: as above.
    unsafe {
        drop(Box::from_raw((*managed).manager_ctx as *mut ExportContext));
        drop(Box::from_raw(managed));
    }
}

/// Destructor of a capsule we produced: frees the tensor unless a consumer took it over.
unsafe extern "C" fn capsule_destructor(capsule: *mut ffi::PyObject) {
    // SAFETY: `capsule` is a live capsule; IsValid never sets an exception.
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, VERSIONED_NAME.as_ptr()) == 1 {
            let m = ffi::PyCapsule_GetPointer(capsule, VERSIONED_NAME.as_ptr())
                as *mut DLManagedTensorVersioned;
            if let Some(deleter) = (*m).deleter {
                deleter(m);
            }
        } else if ffi::PyCapsule_IsValid(capsule, LEGACY_NAME.as_ptr()) == 1 {
            let m =
                ffi::PyCapsule_GetPointer(capsule, LEGACY_NAME.as_ptr()) as *mut DLManagedTensor;
            if let Some(deleter) = (*m).deleter {
                deleter(m);
            }
        }
    }
}

/// `tensor.__dlpack__()`'s capsule (the checks of the call are made in Python).
#[pyfunction]
#[pyo3(signature = (tensor, versioned, copied=false))]
fn _to_dlpack(
    py: Python<'_>,
    tensor: &PyTensor,
    versioned: bool,
    copied: bool,
) -> PyResult<Py<PyAny>> {
    let t = tensor.t.detach();
    let dtype = dl_dtype(t.dtype()).ok_or_else(|| {
        PyBufferError::new_err(format!("DLPack has no type for {}", t.dtype().name()))
    })?;
    let storage = t.storage();
    let (data, device) = {
        let guard = storage.read();
        match &*guard {
            StorageData::Cpu(c) => (
                c.as_ptr() as usize + t.storage_offset() * t.dtype().size_in_bytes(),
                DLDevice {
                    device_type: K_DL_CPU,
                    device_id: 0,
                },
            ),
            #[cfg(feature = "cuda")]
            StorageData::Cuda(c) => {
                // The consumer may use the memory on any stream: our queued work finishes first.
                c.device().synchronize().py()?;
                (
                    c.ptr_at(t.storage_offset()) as usize,
                    DLDevice {
                        device_type: K_DL_CUDA,
                        device_id: c.ordinal() as i32,
                    },
                )
            }
            #[cfg(not(feature = "cuda"))]
            StorageData::Cuda(c) => match *c {},
        }
    };
    let mut ctx = Box::new(ExportContext {
        shape: t.shape().iter().map(|&n| n as i64).collect(),
        strides: t.strides().iter().map(|&s| s as i64).collect(),
        _tensor: t,
    });
    let dl_tensor = DLTensor {
        data: data as *mut c_void,
        device,
        ndim: ctx.shape.len() as i32,
        dtype,
        shape: ctx.shape.as_mut_ptr(),
        strides: ctx.strides.as_mut_ptr(),
        byte_offset: 0,
    };
    let manager_ctx = Box::into_raw(ctx) as *mut c_void;
    let (pointer, name) = if versioned {
        let managed = Box::new(DLManagedTensorVersioned {
            version: DLPackVersion {
                major: DLPACK_MAJOR,
                minor: DLPACK_MINOR,
            },
            manager_ctx,
            deleter: Some(delete_exported_versioned),
            flags: if copied { FLAG_IS_COPIED } else { 0 },
            dl_tensor,
        });
        (Box::into_raw(managed) as *mut c_void, VERSIONED_NAME)
    } else {
        let managed = Box::new(DLManagedTensor {
            dl_tensor,
            manager_ctx,
            deleter: Some(delete_exported_legacy),
        });
        (Box::into_raw(managed) as *mut c_void, LEGACY_NAME)
    };
    // SAFETY: a valid pointer and a static name; the destructor frees the pointer if unused.
    let capsule = unsafe { ffi::PyCapsule_New(pointer, name.as_ptr(), Some(capsule_destructor)) };
    if capsule.is_null() {
        // SAFETY: the capsule was not made, so the deleter is ours to call.
        unsafe { free_unconsumed(pointer, versioned) };
        return Err(PyErr::fetch(py));
    }
    // SAFETY: PyCapsule_New returned a new reference.
    Ok(unsafe { Bound::from_owned_ptr(py, capsule) }.unbind())
}

/// Frees an exported tensor that never reached a capsule.
unsafe fn free_unconsumed(pointer: *mut c_void, versioned: bool) {
    // SAFETY: `pointer` came from `_to_dlpack` for this `versioned`.
    unsafe {
        if versioned {
            delete_exported_versioned(pointer as *mut DLManagedTensorVersioned);
        } else {
            delete_exported_legacy(pointer as *mut DLManagedTensor);
        }
    }
}

// ----- import ------------------------------------------------------------------------------------

/// Keeps a producer's tensor alive while our storage uses its memory; calls its deleter on drop.
struct ProducerOwner {
    managed: *mut c_void,
    versioned: bool,
}

// SAFETY: the producer's memory and deleter are usable from any thread (DLPack requires it).
unsafe impl Send for ProducerOwner {}
unsafe impl Sync for ProducerOwner {}

impl Drop for ProducerOwner {
    fn drop(&mut self) {
        // SAFETY: `managed` is the producer's managed tensor, released exactly once here.
        unsafe {
            if self.versioned {
                let m = self.managed as *mut DLManagedTensorVersioned;
                if let Some(deleter) = (*m).deleter {
                    deleter(m);
                }
            } else {
                let m = self.managed as *mut DLManagedTensor;
                if let Some(deleter) = (*m).deleter {
                    deleter(m);
                }
            }
        }
    }
}

/// Shape, element strides (size-1 dims get stride 0, as `from_numpy` gives them) and the span
/// of elements the tensor reaches.
fn layout_of(dl: &DLTensor) -> PyResult<(Vec<usize>, Vec<usize>, usize)> {
    let ndim = usize::try_from(dl.ndim)
        .map_err(|_| PyBufferError::new_err(format!("DLPack tensor with ndim {}", dl.ndim)))?;
    if ndim > 0 && dl.shape.is_null() {
        return Err(PyBufferError::new_err("DLPack tensor without a shape"));
    }
    // SAFETY: DLPack guarantees `ndim` entries behind non-null shape/strides.
    let shape: &[i64] = if ndim == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(dl.shape, ndim) }
    };
    let shape: Vec<usize> = shape
        .iter()
        .map(|&n| usize::try_from(n))
        .collect::<Result<_, _>>()
        .map_err(|_| PyBufferError::new_err("DLPack tensor with a negative size"))?;
    let strides: Vec<usize> = if dl.strides.is_null() || ndim == 0 {
        crate::tensor::contiguous_strides(&shape).to_vec()
    } else {
        // SAFETY: as above.
        let raw = unsafe { std::slice::from_raw_parts(dl.strides, ndim) };
        raw.iter()
            .zip(&shape)
            .map(|(&s, &n)| match (n, usize::try_from(s)) {
                (1, _) => Ok(0),
                (_, Ok(s)) => Ok(s),
                (_, Err(_)) => Err(PyBufferError::new_err(
                    "DLPack tensors with negative strides are not supported",
                )),
            })
            .collect::<PyResult<_>>()?
    };
    let numel: usize = shape.iter().product();
    let span = if numel == 0 {
        0
    } else {
        shape
            .iter()
            .zip(&strides)
            .map(|(&n, &s)| (n - 1) * s)
            .sum::<usize>()
            + 1
    };
    Ok((shape, strides, span))
}

/// The storage over a producer's memory (host or device) for `span` elements.
fn storage_over(
    dl: &DLTensor,
    dtype: DType,
    span: usize,
    owner: ProducerOwner,
) -> PyResult<Storage> {
    let address = (dl.data as usize)
        .checked_add(dl.byte_offset as usize)
        .ok_or_else(|| PyBufferError::new_err("DLPack tensor address overflows"))?;
    if span > 0 && !address.is_multiple_of(dtype.size_in_bytes()) {
        return Err(PyBufferError::new_err(
            "DLPack tensor data is not aligned to its element size",
        ));
    }
    let owner: Box<dyn std::any::Any + Send + Sync> = Box::new(owner);
    match dl.device.device_type {
        K_DL_CPU => Ok(crate::with_dtype!(dtype, T => {
            // SAFETY: the producer keeps `span` elements at `address` alive while `owner` lives.
            let buf = unsafe { Buffer::<T>::from_external(address as *mut T, span, owner) }.py()?;
            Storage::cpu(<T as crate::storage::CpuElement>::wrap(buf))
        })),
        #[cfg(feature = "cuda")]
        K_DL_CUDA => {
            let ordinal = usize::try_from(dl.device.device_id)
                .map_err(|_| PyBufferError::new_err("DLPack tensor on a negative CUDA device"))?;
            let dev = crate::backend::cuda::device::get(ordinal).py()?;
            // The producer ordered its writes before the stream it was given: wait for them all.
            dev.synchronize_context().py()?;
            // SAFETY: as above, in device memory of `ordinal`.
            let s = unsafe {
                crate::backend::cuda::CudaStorage::from_external(
                    &dev,
                    address as u64,
                    dtype,
                    span,
                    owner,
                )
            };
            Ok(Storage::new(StorageData::Cuda(s)))
        }
        #[cfg(not(feature = "cuda"))]
        K_DL_CUDA => Err(PyBufferError::new_err(
            "a CUDA DLPack tensor, but this rustgrad was built without CUDA support",
        )),
        other => Err(PyBufferError::new_err(format!(
            "Unsupported DLPack device type {other}: rustgrad takes CPU and CUDA tensors"
        ))),
    }
}

/// Builds a tensor over a producer's `DLTensor`; `owner` releases it (also when this fails).
fn tensor_over(dl: &DLTensor, owner: ProducerOwner) -> PyResult<Tensor> {
    let dtype = dtype_of(dl.dtype)?;
    let (shape, strides, span) = layout_of(dl)?;
    let storage = storage_over(dl, dtype, span, owner)?;
    let layout = Layout::from_parts(
        shape.into_iter().collect(),
        strides.into_iter().collect(),
        0,
    );
    Ok(Tensor::from_body(Arc::new(storage), layout, None))
}

/// `rustgrad.from_dlpack(capsule)`: a tensor over the memory of a DLPack capsule (used up).
#[pyfunction]
fn _from_dlpack(capsule: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let ptr = capsule.as_ptr();
    // SAFETY: IsValid accepts any object and never sets an exception.
    let (versioned, used_name) = unsafe {
        if ffi::PyCapsule_IsValid(ptr, VERSIONED_NAME.as_ptr()) == 1 {
            (true, USED_VERSIONED_NAME)
        } else if ffi::PyCapsule_IsValid(ptr, LEGACY_NAME.as_ptr()) == 1 {
            (false, USED_LEGACY_NAME)
        } else {
            return Err(PyTypeError::new_err(
                "from_dlpack received an invalid capsule. Note that DLTensor capsules can be consumed only once, so you might have already constructed a tensor from it once.",
            ));
        }
    };
    let name = if versioned {
        VERSIONED_NAME
    } else {
        LEGACY_NAME
    };
    // SAFETY: the capsule is valid under `name`.
    let managed = unsafe { ffi::PyCapsule_GetPointer(ptr, name.as_ptr()) };
    // SAFETY: a valid capsule of this name holds the managed tensor of its kind.
    let (dl, flags) = unsafe {
        if versioned {
            let m = &*(managed as *const DLManagedTensorVersioned);
            if m.version.major > DLPACK_MAJOR {
                return Err(PyBufferError::new_err(format!(
                    "DLPack major version {} is newer than the {} rustgrad supports",
                    m.version.major, DLPACK_MAJOR
                )));
            }
            (&m.dl_tensor, m.flags)
        } else {
            (&(*(managed as *const DLManagedTensor)).dl_tensor, 0)
        }
    };
    if flags & FLAG_READ_ONLY != 0 {
        return Err(PyBufferError::new_err(
            "from_dlpack: read-only DLPack tensors are not supported (rustgrad tensors are writable); pass a writable array or a copy",
        ));
    }
    // From here the deleter belongs to us: rename first, so that the capsule never calls it.
    // SAFETY: renaming a valid capsule to a static name.
    if unsafe { ffi::PyCapsule_SetName(ptr, used_name.as_ptr()) } != 0 {
        return Err(PyErr::fetch(capsule.py()));
    }
    let owner = ProducerOwner { managed, versioned };
    Ok(tensor_over(dl, owner)?.into())
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_to_dlpack, m)?)?;
    m.add_function(wrap_pyfunction!(_from_dlpack, m)?)?;
    Ok(())
}
