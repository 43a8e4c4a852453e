//! The CUDA backend: our kernels (CUDA C in `kernels/`), compiled by NVRTC for the device's
//! architecture on first use, cached in memory and on disk, and launched through cudarc.
//!
//! Layout:
//! * [`loader`]: finding libcuda and the pip-installed NVRTC, before anything calls into cudarc;
//! * `rt`: the runtime (driver API, or the CPU emulator with the test-only `cuda-emu` feature);
//! * [`nvrtc`]: kernel sources, compilation, the module caches (cubin or PTX);
//! * [`device`]: a device's modules, memory accounting, launches and error reporting;
//! * [`launch`]: choosing kernels by name, kernel arguments and launch-configuration arithmetic;
//! * [`op_codes`]: the codes the host passes to kernels, by name, and the C enums made from them;
//! * `storage`: device memory, kernel operands (`Dv`), uploads and downloads;
//! * one file per kernel family with the host side of its launches.
//!
//! The functions here are what `crate::backend` and the ops call for CUDA storage; they have the
//! signatures of their CPU counterparts.

pub(crate) mod conv;
pub(crate) mod device;
pub(crate) mod elementwise;
pub(crate) mod index;
mod interface;
#[cfg(test)]
mod kernel_names;
pub(crate) mod launch;
pub mod loader;
pub(crate) mod matmul;
pub(crate) mod nn;
pub mod nvrtc;
/// The one table of the integer codes that the host passes to kernels (the unary and binary
/// maps' op, the pointwise loss kind) and that kernels report (the status word's error codes).
///
/// A table's order defines the codes, and both sides read it: the host maps each op to a code by
/// its *name* (`op_code!(UNARY, "U_EXPM1")` in [`launch`], evaluated at compile time, so a name
/// missing from the table does not build), and [`op_codes::c_declarations`] turns the same table
/// into `enum UnaryCode { U_NEG = 0, ... };` text that is put before every kernel file: by
/// [`nvrtc::full_source`] (so it is part of the hashed source that keys the disk cache) and by
/// build.rs for the emulator's native build (which `include!`s this file). Reordering or inserting
/// entries therefore changes both sides at once; the kernels never spell a number. The unit tests
/// in kernel_names.rs check that every code name the kernels use is in the table, and that every
/// table entry is used by the kernels and reached by exactly one Rust op.
pub(crate) mod op_codes;
pub(crate) mod optim;
pub(crate) mod pool;
pub(crate) mod random;
pub(crate) mod reduce;
pub(crate) mod rt;
mod storage;

use std::sync::atomic::{AtomicBool, Ordering};

pub use storage::CudaStorage;

pub(crate) use storage::Dv;

pub(crate) use reduce::reduce;

use crate::error::Result;
use crate::storage::Device;

/// Checks that `device` can be used: the driver and NVRTC load and the device exists.
pub fn check_available(device: Device) -> Result<()> {
    match device {
        Device::Cpu => Ok(()),
        Device::Cuda(i) => device::get(i).map(|_| ()),
    }
}

/// True when a CUDA driver, NVRTC and at least one device can be used.
pub fn is_available() -> bool {
    device::availability().is_ok()
}

/// Number of CUDA devices (0 when CUDA cannot be used).
pub fn device_count() -> usize {
    device::availability().unwrap_or(0)
}

/// Why CUDA cannot be used (empty when it can).
pub fn unavailable_reason() -> String {
    device::availability().err().unwrap_or_default()
}

/// Waits for all work queued on `device` (every opened device when None); raises deferred
/// kernel errors.
pub fn synchronize(device: Option<usize>) -> Result<()> {
    match device {
        Some(i) => device::get(i)?.synchronize(),
        None => {
            for d in device::opened() {
                d.synchronize()?;
            }
            Ok(())
        }
    }
}

/// Bytes held by tensors on device `i` (0 before the device is used).
pub fn memory_allocated(i: usize) -> usize {
    if device::availability().is_err() {
        return 0;
    }
    device::get(i).map(|d| d.memory_allocated()).unwrap_or(0)
}

/// The most bytes tensors held on device `i` at once.
pub fn max_memory_allocated(i: usize) -> usize {
    if device::availability().is_err() {
        return 0;
    }
    device::get(i)
        .map(|d| d.max_memory_allocated())
        .unwrap_or(0)
}

/// How many device-to-host copies the calling thread has made so far (each one synchronises).
/// Ops keep their data on the device, so this only grows with `item()`, `to_vec()`, moves to the
/// CPU and the few ops whose output size depends on the data (`nonzero`, `masked_select`).
pub fn host_reads() -> u64 {
    device::host_reads()
}

/// The device's name.
pub fn device_name(i: usize) -> Result<String> {
    Ok(device::get(i)?.props().name.clone())
}

/// The device's compute capability.
pub fn device_capability(i: usize) -> Result<(i32, i32)> {
    Ok(device::get(i)?.props().cc)
}

/// (free, total) bytes of device memory.
pub fn mem_get_info(i: usize) -> Result<(usize, usize)> {
    device::get(i)?.mem_info()
}

static ALLOW_TF32: AtomicBool = AtomicBool::new(false);

/// `torch.backends.cuda.matmul.allow_tf32`: float32 matmuls may use TF32 tensor cores (10-bit
/// mantissa inputs, float32 accumulation). Off by default, as in PyTorch.
pub fn set_allow_tf32(allow: bool) {
    ALLOW_TF32.store(allow, Ordering::Relaxed);
}

pub fn allow_tf32() -> bool {
    ALLOW_TF32.load(Ordering::Relaxed)
}

/// Registers a folder to search for NVRTC (the Python layer passes `nvidia/cu13/lib` of each
/// site-packages folder).
pub fn add_nvrtc_search_dir(dir: std::path::PathBuf) {
    loader::add_nvrtc_search_dir(dir)
}
