//! The device runtime: memory, copies, modules, launches and synchronisation on one device.
//!
//! Two implementations with one interface: `driver` (the NVIDIA driver through cudarc's raw
//! bindings) and, with the test-only `cuda-emu` feature, `emu` (the CPU emulator that runs the same
//! kernels, compiled natively). Everything above this module is shared, so the emulator exercises
//! the real dispatch, argument packing, launch arithmetic and error paths.

#[cfg(not(feature = "cuda-emu"))]
mod driver;
#[cfg(not(feature = "cuda-emu"))]
pub(crate) use driver::{availability, Function, Module, RtDevice};

#[cfg(feature = "cuda-emu")]
mod emu;
#[cfg(feature = "cuda-emu")]
pub(crate) use emu::{availability, Function, Module, RtDevice};

/// What a device is.
#[derive(Clone, Debug)]
pub(crate) struct Props {
    pub name: String,
    /// Compute capability (major, minor).
    pub cc: (i32, i32),
    /// The newest CUDA version the driver supports (major, minor); the emulator loads no images.
    #[cfg_attr(feature = "cuda-emu", allow(dead_code))]
    pub driver: (i32, i32),
    pub sm_count: u32,
    pub total_mem: usize,
}

/// A runtime failure: out of memory is told apart (it gets PyTorch's message and a retry).
#[derive(Debug)]
pub(crate) enum RtError {
    OutOfMemory,
    Other(String),
}

impl From<RtError> for crate::Error {
    fn from(e: RtError) -> Self {
        match e {
            RtError::OutOfMemory => crate::Error::runtime("CUDA out of memory"),
            RtError::Other(m) => crate::Error::runtime(m),
        }
    }
}

/// Grid and block of a launch, and its dynamic shared memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct LaunchDims {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub smem: u32,
}
