//! Choosing the backend: the one place that turns tensors into a backend's storages.
//!
//! [`run!`](crate::backend::run) locks the operands' storages, checks that they live on one
//! device, and runs its body with `B` bound to that device's storage type and each operand bound
//! to a [`View`] of it; [`run_on!`](crate::backend::run_on) does the same for a device given
//! without operands (creation). Kernel results come back device-neutral ([`KernelOutput`]).

use parking_lot::RwLockReadGuard;

use super::kernels::DeviceStorage;
use crate::error::{Error, Result};
use crate::storage::{Device, Storage, StorageData};
use crate::tensor::{Layout, Tensor};

/// A kernel operand: a storage seen through a layout.
pub struct View<'a, S> {
    pub storage: &'a S,
    pub layout: &'a Layout,
}

impl<S> Clone for View<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for View<'_, S> {}

impl<'a, S: DeviceStorage> View<'a, S> {
    pub fn new(storage: &'a S, layout: &'a Layout) -> Self {
        View { storage, layout }
    }
    pub fn shape(&self) -> &'a [usize] {
        self.layout.shape()
    }
    pub fn dtype(&self) -> crate::storage::DType {
        self.storage.dtype()
    }
    /// The elements `start..end` of a contiguous operand (what the nn kernels read).
    pub fn contiguous_range(&self) -> Result<std::ops::Range<usize>> {
        self.layout
            .contiguous_range()
            .ok_or_else(|| Error::internal("a kernel operand is not contiguous"))
    }
    /// `S`'s storage inside read-locked `data`, seen through `layout`.
    pub fn of(data: &'a StorageData, layout: &'a Layout) -> Result<Self> {
        Ok(View::new(storage::<S>(data)?, layout))
    }
}

/// A kernel operand written in place (the optimizer updates).
pub struct ViewMut<'a, S> {
    pub storage: &'a mut S,
    pub layout: &'a Layout,
}

impl<'a, S: DeviceStorage> ViewMut<'a, S> {
    /// `S`'s storage inside write-locked `data`, seen through `layout`.
    pub fn of(data: &'a mut StorageData, layout: &'a Layout) -> Result<Self> {
        Ok(ViewMut {
            storage: storage_mut::<S>(data)?,
            layout,
        })
    }
}

/// A tensor's storage and layout, held for the duration of a kernel call.
pub struct Held {
    storage: std::sync::Arc<Storage>,
    layout: Layout,
}

/// A held operand with its storage read-locked.
pub struct Locked<'a> {
    data: RwLockReadGuard<'a, StorageData>,
    layout: &'a Layout,
    device: Device,
}

/// What `run!` takes as an operand: a tensor, or an optional one.
pub trait Operand {
    type Held;
    fn hold(self) -> Self::Held;
}

impl Operand for &Tensor {
    type Held = Held;
    fn hold(self) -> Held {
        let body = self.body();
        Held {
            storage: body.storage,
            layout: body.layout,
        }
    }
}

/// A tensor seen through another layout of its storage (a broadcast or transposed view).
impl Operand for (&Tensor, &Layout) {
    type Held = Held;
    fn hold(self) -> Held {
        Held {
            storage: self.0.body().storage,
            layout: self.1.clone(),
        }
    }
}

impl Operand for Option<&Tensor> {
    type Held = Option<Held>;
    fn hold(self) -> Option<Held> {
        self.map(Operand::hold)
    }
}

/// Read-locks held operands.
pub trait Lock {
    type Locked<'a>: Viewable
    where
        Self: 'a;
    fn lock(&self) -> Self::Locked<'_>;
}

impl Lock for Held {
    type Locked<'a> = Locked<'a>;
    fn lock(&self) -> Locked<'_> {
        Locked {
            // Recursive: an op may name one storage twice (`x * x`), and a plain read lock taken
            // twice by one thread deadlocks once a writer queues between the two.
            data: self.storage.read_recursive(),
            layout: &self.layout,
            device: self.storage.device(),
        }
    }
}

impl Lock for Option<Held> {
    type Locked<'a> = Option<Locked<'a>>;
    fn lock(&self) -> Option<Locked<'_>> {
        self.as_ref().map(Lock::lock)
    }
}

/// Locked operands seen as a backend's views.
pub trait Viewable {
    type View<'a, S: 'a>
    where
        Self: 'a;
    fn device(&self) -> Option<Device>;
    fn view<S: DeviceStorage>(&self) -> Result<Self::View<'_, S>>;
}

impl Viewable for Locked<'_> {
    type View<'a, S: 'a>
        = View<'a, S>
    where
        Self: 'a;
    fn device(&self) -> Option<Device> {
        Some(self.device)
    }
    fn view<S: DeviceStorage>(&self) -> Result<View<'_, S>> {
        Ok(View::new(storage::<S>(&self.data)?, self.layout))
    }
}

impl Viewable for Option<Locked<'_>> {
    type View<'a, S: 'a>
        = Option<View<'a, S>>
    where
        Self: 'a;
    fn device(&self) -> Option<Device> {
        self.as_ref().map(|l| l.device)
    }
    fn view<S: DeviceStorage>(&self) -> Result<Option<View<'_, S>>> {
        match self {
            Some(locked) => Ok(Some(locked.view::<S>()?)),
            None => Ok(None),
        }
    }
}

/// Backend `S`'s storage inside `data`.
pub fn storage<S: DeviceStorage>(data: &StorageData) -> Result<&S> {
    S::of(data).ok_or_else(|| Error::internal("a storage is not on the dispatched device"))
}

pub fn storage_mut<S: DeviceStorage>(data: &mut StorageData) -> Result<&mut S> {
    S::of_mut(data).ok_or_else(|| Error::internal("a storage is not on the dispatched device"))
}

/// The one device of a kernel's operands (absent optional operands left out).
pub fn common_device(devices: &[Option<Device>]) -> Result<Device> {
    let mut present = devices.iter().flatten();
    let first = *present
        .next()
        .ok_or_else(|| Error::internal("a kernel launched without operands"))?;
    match present.find(|&&d| d != first) {
        Some(&other) => Err(Error::device_mismatch(first, other)),
        None => Ok(first),
    }
}

/// A kernel's result with each backend storage made device-neutral.
pub trait KernelOutput<S> {
    type Data;
    fn into_data(self) -> Self::Data;
}

// Any backend may return host storage (a download).
impl<S> KernelOutput<S> for crate::storage::CpuStorage {
    type Data = StorageData;
    fn into_data(self) -> StorageData {
        StorageData::Cpu(self)
    }
}

impl KernelOutput<super::cuda::CudaStorage> for super::cuda::CudaStorage {
    type Data = StorageData;
    fn into_data(self) -> StorageData {
        StorageData::Cuda(self)
    }
}

impl<S> KernelOutput<S> for () {
    type Data = ();
    fn into_data(self) {}
}

impl<S, A: KernelOutput<S>> KernelOutput<S> for Option<A> {
    type Data = Option<A::Data>;
    fn into_data(self) -> Self::Data {
        self.map(A::into_data)
    }
}

impl<S, A: KernelOutput<S>, B: KernelOutput<S>> KernelOutput<S> for (A, B) {
    type Data = (A::Data, B::Data);
    fn into_data(self) -> Self::Data {
        (self.0.into_data(), self.1.into_data())
    }
}

impl<S, A: KernelOutput<S>, B: KernelOutput<S>, C: KernelOutput<S>> KernelOutput<S> for (A, B, C) {
    type Data = (A::Data, B::Data, C::Data);
    fn into_data(self) -> Self::Data {
        (self.0.into_data(), self.1.into_data(), self.2.into_data())
    }
}

impl<S, A: KernelOutput<S>> KernelOutput<S> for super::kernels::WeightSum<A> {
    type Data = super::kernels::WeightSum<A::Data>;
    fn into_data(self) -> Self::Data {
        match self {
            super::kernels::WeightSum::Total(v) => super::kernels::WeightSum::Total(v),
            super::kernels::WeightSum::Rows(s) => super::kernels::WeightSum::Rows(s.into_data()),
        }
    }
}

/// A value computed on the host beside a kernel's storages (a count, a total).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Host<T>(pub T);

impl<S, T> KernelOutput<S> for Host<T> {
    type Data = T;
    fn into_data(self) -> T {
        self.0
    }
}

/// A new tensor of `shape` over a kernel's result.
pub fn tensor(data: StorageData, shape: &[usize]) -> Tensor {
    Tensor::from_storage(Storage::new(data), shape)
}

/// Runs `$body` with `$B` bound to the storage type of `$device`'s backend.
macro_rules! run_on_backend {
    ($device:expr, $B:ident => $body:expr) => {{
        #[allow(unused_imports)]
        use $crate::backend::kernels::*;
        match $device {
            $crate::storage::Device::Cpu => {
                type $B = $crate::storage::CpuStorage;
                $crate::backend::dispatch::KernelOutput::<$B>::into_data($body?)
            }
            $crate::storage::Device::Cuda(_) => {
                type $B = $crate::backend::cuda::CudaStorage;
                $crate::backend::dispatch::KernelOutput::<$B>::into_data($body?)
            }
        }
    }};
}

/// Runs one kernel on its operands' device:
/// `run!(B: x = &xc, w = bias.as_ref() => B::conv2d_forward(x, w, ...))` binds `B` to the
/// backend's storage type and each name to a [`View`] (an `Option<View>` for an optional
/// operand). Operands on two devices are PyTorch's device-mismatch error. The value is the
/// kernel's result made device-neutral; an error returns from the enclosing function.
macro_rules! run {
    ($B:ident : $($v:ident = $t:expr),+ => $body:expr) => {{
        #[allow(unused_imports)]
        use $crate::backend::dispatch::{Lock as _, Operand as _, Viewable as _};
        $( let $v = $crate::backend::dispatch::Operand::hold($t); )+
        $( let $v = $v.lock(); )+
        let device = $crate::backend::dispatch::common_device(&[$($v.device()),+])?;
        $crate::backend::dispatch::run_on_backend!(device, $B => {
            $( let $v = $v.view::<$B>()?; )+
            $body
        })
    }};
}

/// Runs one kernel that creates storage on `device`: `run_on!(device, B => B::full(...))`.
macro_rules! run_on {
    ($device:expr, $B:ident => $body:expr) => {{
        let device: $crate::storage::Device = $device;
        $crate::backend::dispatch::run_on_backend!(device, $B => $body)
    }};
}

pub(crate) use {run, run_on, run_on_backend};
