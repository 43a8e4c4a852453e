//! The CUDA backend of a build without the `cuda` feature. No CUDA storage can exist (the type
//! has no values), so the kernels below are never reached; asking for a CUDA device reports
//! that the build has no CUDA backend, as PyTorch's CPU-only builds do.

use super::dispatch::View;
use super::kernels::{
    ConvKernels, DeviceStorage, ElementwiseKernels, IndexKernels, LossKernels, MatmulKernels,
    MemoryKernels, NormKernels, OptimKernels, PoolKernels, ReduceKernels,
};
use super::kinds::{BinaryOp, Draw, ReduceOp, UnaryOp};
use crate::error::{Error, Result};
use crate::storage::{CpuStorage, DType, Device, StorageData};
use crate::tensor::{Layout, Scalar};

/// Storage on a CUDA device: none in this build.
pub enum CudaStorage {}

impl CudaStorage {
    pub fn dtype(&self) -> DType {
        match *self {}
    }
    pub fn len(&self) -> usize {
        match *self {}
    }
    pub fn is_empty(&self) -> bool {
        match *self {}
    }
    /// The device index.
    pub fn ordinal(&self) -> usize {
        match *self {}
    }
}

fn not_compiled() -> Error {
    Error::runtime("Torch not compiled with CUDA enabled: this rustgrad build has no CUDA backend")
}

/// `device` can be used: the CPU only.
pub fn check_available(device: Device) -> Result<()> {
    match device {
        Device::Cpu => Ok(()),
        Device::Cuda(_) => Err(not_compiled()),
    }
}

impl DeviceStorage for CudaStorage {
    const KIND: &'static str = "CUDA";
    fn dtype(&self) -> DType {
        match *self {}
    }
    fn len(&self) -> usize {
        match *self {}
    }
    fn of(data: &StorageData) -> Option<&Self> {
        match data {
            StorageData::Cuda(s) => Some(s),
            StorageData::Cpu(_) => None,
        }
    }
    fn of_mut(data: &mut StorageData) -> Option<&mut Self> {
        match data {
            StorageData::Cuda(s) => Some(s),
            StorageData::Cpu(_) => None,
        }
    }
    fn into_data(self) -> StorageData {
        match self {}
    }
}

impl MemoryKernels for CudaStorage {
    fn full(_: Device, _: usize, _: DType, _: Scalar) -> Result<Self> {
        Err(not_compiled())
    }
    fn upload(_: View<'_, CpuStorage>, _: Device) -> Result<Self> {
        Err(not_compiled())
    }
    fn download(x: View<'_, Self>) -> Result<CpuStorage> {
        match *x.storage {}
    }
    fn cast(x: View<'_, Self>, _: DType) -> Result<Self> {
        match *x.storage {}
    }
    fn copy_into(dst: &mut Self, _: &Layout, _: View<'_, Self>) -> Result<()> {
        match *dst {}
    }
    fn fill(dst: &mut Self, _: &Layout, _: Scalar) -> Result<()> {
        match *dst {}
    }
    fn random(_: Device, _: usize, _: DType, _: Draw, _: u64, _: u64) -> Result<Self> {
        Err(not_compiled())
    }
}

impl ElementwiseKernels for CudaStorage {
    fn unary(_: UnaryOp, x: View<'_, Self>) -> Result<Self> {
        match *x.storage {}
    }
    fn binary(_: BinaryOp, a: View<'_, Self>, _: View<'_, Self>, _: &[usize]) -> Result<Self> {
        match *a.storage {}
    }
    fn where_(
        c: View<'_, Self>,
        _: View<'_, Self>,
        _: View<'_, Self>,
        _: &[usize],
    ) -> Result<Self> {
        match *c.storage {}
    }
}

impl ReduceKernels for CudaStorage {
    fn reduce(_: ReduceOp, x: View<'_, Self>, _: &[usize]) -> Result<Self> {
        match *x.storage {}
    }
    fn cumsum(x: View<'_, Self>, _: usize, _: bool) -> Result<Self> {
        match *x.storage {}
    }
    fn extreme_along(x: View<'_, Self>, _: usize, _: bool) -> Result<(Self, Self)> {
        match *x.storage {}
    }
    fn softmax(x: View<'_, Self>, _: usize, _: bool) -> Result<Self> {
        match *x.storage {}
    }
    fn softmax_backward(g: View<'_, Self>, _: View<'_, Self>, _: usize, _: bool) -> Result<Self> {
        match *g.storage {}
    }
}

impl MatmulKernels for CudaStorage {
    fn matmul(a: View<'_, Self>, _: View<'_, Self>) -> Result<Self> {
        match *a.storage {}
    }
    fn addmm(_: Option<View<'_, Self>>, a: View<'_, Self>, _: View<'_, Self>) -> Result<Self> {
        match *a.storage {}
    }
}

// The nn and index families: their default bodies (no kernel) are never reached either.
impl ConvKernels for CudaStorage {}
impl IndexKernels for CudaStorage {}
impl LossKernels for CudaStorage {}
impl NormKernels for CudaStorage {}
impl OptimKernels for CudaStorage {}
impl PoolKernels for CudaStorage {}
