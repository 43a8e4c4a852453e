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

impl Held {
    /// This operand with a storage dtype (float16, int32...) widened to its compute dtype: the
    /// whole storage is converted, so the layout still addresses it. Kernels below the seam only
    /// see compute dtypes; [`Narrowing`] converts their results back.
    fn widened(self, narrowing: &mut Narrowing) -> Result<Held> {
        let dtype = self.storage.dtype();
        if !dtype.is_storage_only() {
            return Ok(self);
        }
        narrowing.note(dtype);
        let whole = Layout::contiguous(&[self.storage.len()]);
        let data = self.storage.read_recursive();
        let wide = run_on_backend!(self.storage.device(), B => {
            B::cast(View::new(storage::<B>(&data)?, &whole), dtype.compute_dtype())
        });
        drop(data);
        Ok(Held {
            storage: std::sync::Arc::new(Storage::new(wide)),
            layout: self.layout,
        })
    }
}

/// The storage dtypes among a kernel's operands, by compute dtype: a result in float32 goes
/// back to the operands' half type, a result in int64 to their small integer type.
#[derive(Default)]
pub struct Narrowing {
    to_half: Option<crate::storage::DType>,
    to_small_int: Option<crate::storage::DType>,
}

impl Narrowing {
    pub const NONE: Narrowing = Narrowing {
        to_half: None,
        to_small_int: None,
    };

    fn note(&mut self, dtype: crate::storage::DType) {
        let slot = if dtype.is_floating_point() {
            &mut self.to_half
        } else {
            &mut self.to_small_int
        };
        slot.get_or_insert(dtype);
    }

    /// `data` in its operands' storage dtype when it is in their compute dtype.
    pub fn restore(&self, data: StorageData) -> Result<StorageData> {
        let dtype = match &data {
            StorageData::Cpu(c) => c.dtype(),
            StorageData::Cuda(c) => c.dtype(),
        };
        let target = match dtype {
            crate::storage::DType::F32 => self.to_half,
            crate::storage::DType::I64 => self.to_small_int,
            _ => None,
        };
        let Some(target) = target else {
            return Ok(data);
        };
        fn narrow<S: super::kernels::MemoryKernels>(s: &S, to: crate::storage::DType) -> Result<S> {
            S::cast(View::new(s, &Layout::contiguous(&[s.len()])), to)
        }
        Ok(match &data {
            StorageData::Cpu(c) => StorageData::Cpu(narrow(c, target)?),
            StorageData::Cuda(c) => StorageData::Cuda(narrow(c, target)?),
        })
    }
}

/// A held operand with its storage read-locked.
pub struct Locked<'a> {
    data: RwLockReadGuard<'a, StorageData>,
    layout: &'a Layout,
    device: Device,
}

/// What `run!` takes as an operand: a tensor, or an optional one. `hold_wide` holds it with a
/// storage dtype widened (noting it in `narrowing`); `hold` as it is (conversions, copies).
pub trait Operand: Sized {
    type Held;
    fn hold(self) -> Self::Held;
    fn hold_wide(self, narrowing: &mut Narrowing) -> Result<Self::Held>;
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
    fn hold_wide(self, narrowing: &mut Narrowing) -> Result<Held> {
        self.hold().widened(narrowing)
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
    fn hold_wide(self, narrowing: &mut Narrowing) -> Result<Held> {
        self.hold().widened(narrowing)
    }
}

impl Operand for Option<&Tensor> {
    type Held = Option<Held>;
    fn hold(self) -> Option<Held> {
        self.map(Operand::hold)
    }
    fn hold_wide(self, narrowing: &mut Narrowing) -> Result<Option<Held>> {
        self.map(|t| t.hold_wide(narrowing)).transpose()
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

/// A kernel's result with each backend storage made device-neutral (and narrowed back to its
/// operands' storage dtype, see [`Narrowing`]).
pub trait KernelOutput<S> {
    type Data;
    fn into_data(self, narrowing: &Narrowing) -> Result<Self::Data>;
}

// Any backend may return host storage (a download).
impl<S> KernelOutput<S> for crate::storage::CpuStorage {
    type Data = StorageData;
    fn into_data(self, narrowing: &Narrowing) -> Result<StorageData> {
        narrowing.restore(StorageData::Cpu(self))
    }
}

impl KernelOutput<super::cuda::CudaStorage> for super::cuda::CudaStorage {
    type Data = StorageData;
    fn into_data(self, narrowing: &Narrowing) -> Result<StorageData> {
        narrowing.restore(StorageData::Cuda(self))
    }
}

impl<S> KernelOutput<S> for () {
    type Data = ();
    fn into_data(self, _: &Narrowing) -> Result<()> {
        Ok(())
    }
}

impl<S, A: KernelOutput<S>> KernelOutput<S> for Option<A> {
    type Data = Option<A::Data>;
    fn into_data(self, narrowing: &Narrowing) -> Result<Self::Data> {
        self.map(|a| a.into_data(narrowing)).transpose()
    }
}

impl<S, A: KernelOutput<S>, B: KernelOutput<S>> KernelOutput<S> for (A, B) {
    type Data = (A::Data, B::Data);
    fn into_data(self, n: &Narrowing) -> Result<Self::Data> {
        Ok((self.0.into_data(n)?, self.1.into_data(n)?))
    }
}

impl<S, A: KernelOutput<S>, B: KernelOutput<S>, C: KernelOutput<S>> KernelOutput<S> for (A, B, C) {
    type Data = (A::Data, B::Data, C::Data);
    fn into_data(self, n: &Narrowing) -> Result<Self::Data> {
        Ok((
            self.0.into_data(n)?,
            self.1.into_data(n)?,
            self.2.into_data(n)?,
        ))
    }
}

impl<S, A: KernelOutput<S>> KernelOutput<S> for super::kernels::WeightSum<A> {
    type Data = super::kernels::WeightSum<A::Data>;
    fn into_data(self, n: &Narrowing) -> Result<Self::Data> {
        Ok(match self {
            super::kernels::WeightSum::Total(v) => super::kernels::WeightSum::Total(v),
            super::kernels::WeightSum::Rows(s) => super::kernels::WeightSum::Rows(s.into_data(n)?),
        })
    }
}

/// A value computed on the host beside a kernel's storages (a count, a total).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Host<T>(pub T);

impl<S, T> KernelOutput<S> for Host<T> {
    type Data = T;
    fn into_data(self, _: &Narrowing) -> Result<T> {
        Ok(self.0)
    }
}

/// A new tensor of `shape` over a kernel's result.
pub fn tensor(data: StorageData, shape: &[usize]) -> Tensor {
    Tensor::from_storage(Storage::new(data), shape)
}

/// Runs `$body` with `$B` bound to the storage type of `$device`'s backend (results narrowed
/// by `narrowing`, none by default).
macro_rules! run_on_backend {
    ($device:expr, $B:ident => $body:expr) => {
        $crate::backend::dispatch::run_on_backend!(
            $device, &$crate::backend::dispatch::Narrowing::NONE, $B => $body)
    };
    ($device:expr, $narrowing:expr, $B:ident => $body:expr) => {{
        #[allow(unused_imports)]
        use $crate::backend::kernels::*;
        match $device {
            $crate::storage::Device::Cpu => {
                type $B = $crate::storage::CpuStorage;
                $crate::backend::dispatch::KernelOutput::<$B>::into_data($body?, $narrowing)?
            }
            $crate::storage::Device::Cuda(_) => {
                type $B = $crate::backend::cuda::CudaStorage;
                $crate::backend::dispatch::KernelOutput::<$B>::into_data($body?, $narrowing)?
            }
        }
    }};
}

/// Runs one kernel on its operands' device:
/// `run!(B: x = &xc, w = bias.as_ref() => B::conv2d_forward(x, w, ...))` binds `B` to the
/// backend's storage type and each name to a [`View`] (an `Option<View>` for an optional
/// operand). Operands on two devices are PyTorch's device-mismatch error. The value is the
/// kernel's result made device-neutral; an error returns from the enclosing function.
///
/// Operands of a storage dtype (float16, int32...) are widened to their compute dtype first,
/// and results in that compute dtype are narrowed back (see [`Narrowing`]): the one place where
/// those dtypes meet kernels. An op whose result stays wide where an operand is narrow (the
/// int64 sum of an int32 tensor, indices) widens that operand itself before calling.
macro_rules! run {
    ($B:ident : $($v:ident = $t:expr),+ => $body:expr) => {{
        #[allow(unused_imports)]
        use $crate::backend::dispatch::{Lock as _, Operand as _, Viewable as _};
        let mut narrowing = $crate::backend::dispatch::Narrowing::default();
        $( let $v = $crate::backend::dispatch::Operand::hold_wide($t, &mut narrowing)?; )+
        $( let $v = $v.lock(); )+
        let device = $crate::backend::dispatch::common_device(&[$($v.device()),+])?;
        $crate::backend::dispatch::run_on_backend!(device, &narrowing, $B => {
            $( let $v = $v.view::<$B>()?; )+
            $body
        })
    }};
}

/// `run!` for kernels that take every dtype as it is (conversions, transfers).
macro_rules! run_native {
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

pub(crate) use {run, run_native, run_on, run_on_backend};
