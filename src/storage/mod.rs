//! Storage: the memory behind tensors, shared by every view of it.
//!
//! A `Storage` is created once per allocation and shared (`Arc`) by all tensors that view it. It
//! carries the version counter that in-place ops bump and autograd checks, and guards its data with
//! a reader-writer lock: kernels read under a read lock, in-place ops write under the write lock.

pub mod cpu;
pub mod dtype;
pub mod host_cache;
pub mod narrow;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use cpu::{Buffer, CpuElement, CpuStorage};
pub use dtype::{Category, DType, Element, Float};

use crate::error::{Error, Result};

/// Where a tensor's memory lives.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    #[default]
    Cpu,
    Cuda(usize),
}

impl Device {
    pub fn is_cuda(self) -> bool {
        matches!(self, Device::Cuda(_))
    }

    /// Parses "cpu", "cuda", "cuda:1" as PyTorch does.
    pub fn parse(s: &str) -> Result<Device> {
        let bad = || {
            Error::runtime(format!(
                "Expected one of cpu, cuda device type at start of device string: {s}"
            ))
        };
        match s.split_once(':') {
            None if s == "cpu" => Ok(Device::Cpu),
            None if s == "cuda" => Ok(Device::Cuda(0)),
            Some(("cuda", idx)) => idx
                .parse::<usize>()
                .map(Device::Cuda)
                .map_err(|_| Error::runtime(format!("Invalid device string: '{s}'"))),
            Some(("cpu", "0")) => Ok(Device::Cpu),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// The data of a storage on one device.
pub enum StorageData {
    Cpu(CpuStorage),
    /// Device memory (a type with no values in builds without the `cuda` feature).
    Cuda(crate::backend::cuda::CudaStorage),
}

/// Memory shared by a tensor and all its views.
pub struct Storage {
    dtype: DType,
    device: Device,
    len: usize,
    version: AtomicU64,
    data: RwLock<StorageData>,
}

impl Storage {
    pub fn new(data: StorageData) -> Self {
        let (dtype, device, len) = match &data {
            StorageData::Cpu(c) => (c.dtype(), Device::Cpu, c.len()),
            StorageData::Cuda(c) => (c.dtype(), Device::Cuda(c.ordinal()), c.len()),
        };
        Storage {
            dtype,
            device,
            len,
            version: AtomicU64::new(0),
            data: RwLock::new(data),
        }
    }

    pub fn cpu(data: CpuStorage) -> Self {
        Storage::new(StorageData::Cpu(data))
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn device(&self) -> Device {
        self.device
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn read(&self) -> RwLockReadGuard<'_, StorageData> {
        self.data.read()
    }
    /// A read lock this thread may take again while holding one (several operands of one kernel
    /// can share a storage).
    pub fn read_recursive(&self) -> RwLockReadGuard<'_, StorageData> {
        self.data.read_recursive()
    }
    pub fn write(&self) -> RwLockWriteGuard<'_, StorageData> {
        self.data.write()
    }

    /// The version counter autograd compares saved tensors against.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
    pub fn bump_version(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }
}

impl StorageData {
    /// The host storage, or an internal error naming the device (callers dispatch on device first).
    pub fn as_cpu(&self) -> Result<&CpuStorage> {
        match self {
            StorageData::Cpu(c) => Ok(c),
            StorageData::Cuda(_) => Err(Error::runtime(
                "expected a CPU tensor but got a CUDA tensor",
            )),
        }
    }
    pub fn as_cpu_mut(&mut self) -> Result<&mut CpuStorage> {
        match self {
            StorageData::Cpu(c) => Ok(c),
            StorageData::Cuda(_) => Err(Error::runtime(
                "expected a CPU tensor but got a CUDA tensor",
            )),
        }
    }
}
