//! The device seam. Ops (in `crate::ops`) check arguments and record autograd; below this line a
//! kernel runs on the device its operands live on, and nothing above it asks which that is.
//!
//! * [`kernels`]: the interface every backend implements (one trait per kernel family);
//! * [`dispatch`]: [`run!`] and [`run_on!`], which pick the backend of the operands' device;
//! * [`geometry`] and [`kinds`]: what ops tell kernels (shapes, windows, op kinds), shared by all
//!   backends;
//! * [`cpu`] and [`cuda`]: the backends, side by side (neither imports the other); without the
//!   `cuda` feature, `cuda` is a stub whose storage type has no values.
//!
//! The functions below are the entry points of the core families (elementwise, reductions,
//! products, copies), which many ops share; the nn ops call [`run!`] themselves.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(not(feature = "cuda"))]
#[path = "no_cuda.rs"]
pub mod cuda;
pub(crate) mod dispatch;
pub mod geometry;
pub(crate) mod kernels;
mod kinds;
/// The table of elementwise unary ops, from which `UnaryOp`, its Tensor methods, bindings,
/// autograd names and kernel op codes are generated (`unary_ops!(consumer)`).
pub(crate) mod unary_ops;

pub use cpu::peak::fma_peak_flops;
pub use cpu::threads::{num_threads, set_num_threads};
pub(crate) use dispatch::{run, run_native, run_on, tensor, View, ViewMut};
pub use kinds::{BinaryOp, Draw, PointLoss, ReduceOp, UnaryOp};

use crate::error::{Error, Result};
use crate::optim::{AdamOptions, SgdOptions};
use crate::storage::{DType, Device, StorageData};
use crate::tensor::{Dims, Layout, Scalar, Tensor};

/// Checks that `device` can be used (CUDA needs its driver, NVRTC and the device).
pub fn check_available(device: Device) -> Result<()> {
    cuda::check_available(device)
}

/// Whether the host sees `device`'s memory directly (see `DeviceStorage::HOST_VISIBLE`).
pub(crate) fn host_visible(device: Device) -> bool {
    match device {
        Device::Cpu => <crate::storage::CpuStorage as kernels::DeviceStorage>::HOST_VISIBLE,
        Device::Cuda(_) => <cuda::CudaStorage as kernels::DeviceStorage>::HOST_VISIBLE,
    }
}

/// Whether `device`'s backend has fused layer-norm kernels (else the op composes it).
pub(crate) fn fused_layer_norm(device: Device) -> bool {
    match device {
        Device::Cpu => <crate::storage::CpuStorage as kernels::NormKernels>::FUSED_LAYER_NORM,
        Device::Cuda(_) => <cuda::CudaStorage as kernels::NormKernels>::FUSED_LAYER_NORM,
    }
}

pub(crate) fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    let data = run!(B: x = x => B::unary(op, x));
    Ok(tensor(data, &x.shape()))
}

/// `op(a, b)` with both broadcast to `shape`; `a` and `b` share a dtype.
pub(crate) fn binary(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let data = run!(B: a = a, b = b => B::binary(op, a, b, shape));
    Ok(tensor(data, shape))
}

/// `cond ? a : b` broadcast to `shape`.
pub(crate) fn where_(cond: &Tensor, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let data = run!(B: c = cond, a = a, b = b => B::where_(c, a, b, shape));
    Ok(tensor(data, shape))
}

/// A contiguous copy of `x` converted to `dtype` (also how `contiguous()` copies).
pub(crate) fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    let data = run_native!(B: x = x => B::cast(x, dtype));
    Ok(tensor(data, &x.shape()))
}

/// `x` in its compute dtype, for kernels whose result stays wide where `x` is a storage dtype
/// (the int64 sum of an int32 tensor, indices); `run!` would narrow it back.
pub(crate) fn widened(x: &Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    if dtype.is_storage_only() {
        cast(x, dtype.compute_dtype())
    } else {
        Ok(x.clone())
    }
}

/// `x` widened when it is a small integer (whose sums, products and indices are int64); half
/// tensors keep their dtype (their sums are half).
fn widened_integer(x: &Tensor) -> Result<Tensor> {
    if x.dtype().is_floating_point() {
        Ok(x.clone())
    } else {
        widened(x)
    }
}

/// Reduces sorted `dims` of `x`; the result has the kept dims.
pub(crate) fn reduce(op: ReduceOp, x: &Tensor, dims: &[usize]) -> Result<Tensor> {
    let x = &match op {
        ReduceOp::Sum | ReduceOp::Prod | ReduceOp::ArgMax | ReduceOp::ArgMin => widened_integer(x)?,
        _ => x.clone(),
    };
    let in_shape = x.shape();
    let n_red: usize = dims.iter().map(|&d| in_shape[d]).product();
    let name = match op {
        ReduceOp::Max => Some("max"),
        ReduceOp::Min => Some("min"),
        ReduceOp::ArgMax => Some("argmax"),
        ReduceOp::ArgMin => Some("argmin"),
        _ => None,
    };
    if let (0, Some(name)) = (n_red, name) {
        return Err(Error::index(format!(
            "{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument."
        )));
    }
    let shape: Dims = (0..in_shape.len())
        .filter(|d| !dims.contains(d))
        .map(|d| in_shape[d])
        .collect();
    let data = run!(B: x = x => B::reduce(op, x, dims));
    Ok(tensor(data, &shape))
}

/// Cumulative sum along `dim` (from the end when `reverse`) in `x`'s dtype; contiguous result.
pub(crate) fn cumsum(x: &Tensor, dim: usize, reverse: bool) -> Result<Tensor> {
    let x = &widened_integer(x)?;
    let data = run!(B: x = x => B::cumsum(x, dim, reverse));
    Ok(tensor(data, &x.shape()))
}

/// Max or min along `dim` with its indices (the dim removed).
pub(crate) fn extreme_along(x: &Tensor, dim: usize, want_max: bool) -> Result<(Tensor, Tensor)> {
    let mut shape = x.shape();
    if shape[dim] == 0 {
        return Err(Error::index(format!(
            "{}(): Expected reduction dim {dim} to have non-zero size.",
            if want_max { "max" } else { "min" }
        )));
    }
    shape.remove(dim);
    // The indices stay int64: widen an integer input here and narrow only the values.
    let wide = widened_integer(x)?;
    let (v, i) = run!(B: x = &wide => B::extreme_along(x, dim, want_max));
    let values = tensor(v, &shape);
    let values = if values.dtype() == x.dtype() {
        values
    } else {
        cast(&values, x.dtype())?
    };
    Ok((values, tensor(i, &shape)))
}

/// Batched `a @ b` over layouts already broadcast in their batch dims.
pub(crate) fn matmul(a: &Tensor, la: &Layout, b: &Tensor, lb: &Layout) -> Result<Tensor> {
    let nd = la.ndim();
    let mut shape = Dims::from_slice(&la.shape()[..nd - 1]);
    shape.push(lb.shape()[nd - 1]);
    let data = run!(B: a = (a, la), b = (b, lb) => B::matmul(a, b));
    Ok(tensor(data, &shape))
}

/// `bias + a @ b` for 2-D `a` [m, k] and `b` [k, n] (given by layouts); bias broadcasts over rows.
pub(crate) fn addmm(
    bias: Option<&Tensor>,
    a: &Tensor,
    la: &Layout,
    b: &Tensor,
    lb: &Layout,
) -> Result<Tensor> {
    let (m, n) = (la.shape()[0], lb.shape()[1]);
    let bias = bias
        .map(|t| t.broadcast_to(&[n])?.contiguous())
        .transpose()?;
    let data = run!(B: bias = bias.as_ref(), a = (a, la), b = (b, lb) => B::addmm(bias, a, b));
    Ok(tensor(data, &[m, n]))
}

/// Writes `src` (broadcast to `dst`'s shape) into `dst` in place, converting dtype. When both
/// share storage the source is copied first, so overlapping copies are safe.
pub(crate) fn copy_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    let src = if dst.shares_storage(src) {
        cast(src, src.dtype())?
    } else if dst.device() != src.device() {
        // `copy_` between devices (as `load_state_dict` into a module on the GPU) moves the data.
        to_device(src, dst.device())?
    } else {
        src.clone()
    };
    let (bd, bs) = (dst.body(), src.body());
    let sl = bs.layout.broadcast_to(bd.layout.shape());
    // Locks in address order, as everywhere two storages are held: `a.copy_(b)` and `b.copy_(a)`
    // on two threads must not each hold one lock and wait for the other.
    let (ds, mut dd) = if std::ptr::addr_of!(*bs.storage) < std::ptr::addr_of!(*bd.storage) {
        let ds = bs.storage.read();
        (ds, bd.storage.write())
    } else {
        let dd = bd.storage.write();
        (bs.storage.read(), dd)
    };
    dispatch::run_on_backend!(bd.storage.device(), B => {
        let d = dispatch::storage_mut::<B>(&mut dd)?;
        B::copy_into(d, &bd.layout, View::new(dispatch::storage::<B>(&ds)?, &sl))
    });
    drop(dd);
    bd.storage.bump_version();
    Ok(())
}

/// Fills `dst` in place.
pub(crate) fn fill(dst: &Tensor, value: Scalar) -> Result<()> {
    let bd = dst.body();
    let mut dd = bd.storage.write();
    dispatch::run_on_backend!(bd.storage.device(), B => {
        B::fill(dispatch::storage_mut::<B>(&mut dd)?, &bd.layout, value)
    });
    drop(dd);
    bd.storage.bump_version();
    Ok(())
}

/// A tensor of `shape` filled with `value` on `device`.
pub(crate) fn full(shape: &[usize], value: Scalar, dtype: DType, device: Device) -> Result<Tensor> {
    let len = crate::tensor::layout::checked_numel(shape)?;
    let data = run_on!(device, B => B::full(device, len, dtype, value));
    Ok(tensor(data, shape))
}

/// A copy of `x` on `device` (through the host between two devices that are not the CPU).
pub(crate) fn to_device(x: &Tensor, device: Device) -> Result<Tensor> {
    check_available(device)?;
    if x.device() == device {
        return cast(x, x.dtype());
    }
    let host = match x.device() {
        Device::Cpu => x.clone(),
        _ => tensor(run_native!(B: x = x => B::download(x)), &x.shape()),
    };
    if device == Device::Cpu {
        return Ok(host);
    }
    let data = {
        let body = host.body();
        let data = body.storage.read();
        let view = View::new(
            dispatch::storage::<crate::storage::CpuStorage>(&data)?,
            &body.layout,
        );
        run_on!(device, B => B::upload(view, device))
    };
    Ok(tensor(data, &x.shape()))
}

/// A written operand of an in-place update: write-locked storage data and its layout.
pub(crate) type Written<'a> = (&'a mut StorageData, &'a Layout);
/// A read operand: read-locked storage data and its layout.
pub(crate) type Read<'a> = (&'a StorageData, &'a Layout);

/// One fused SGD update of a parameter (and its momentum buffer) on `device`, in place.
pub(crate) fn sgd_update(
    device: Device,
    param: Written<'_>,
    grad: Read<'_>,
    momentum_buffer: Option<Written<'_>>,
    first: bool,
    options: &SgdOptions,
) -> Result<()> {
    dispatch::run_on_backend!(device, B => {
        let buf = momentum_buffer.map(|(d, l)| ViewMut::of(d, l)).transpose()?;
        B::sgd_update(ViewMut::of(param.0, param.1)?, View::of(grad.0, grad.1)?, buf, first, options)
    });
    Ok(())
}

/// One fused Adam / AdamW update of a parameter and its state (exp_avg, exp_avg_sq and the
/// amsgrad maximum) on `device`, in place.
pub(crate) fn adam_update(
    device: Device,
    param: Written<'_>,
    grad: Read<'_>,
    (exp_avg, exp_avg_sq, max_exp_avg_sq): (Written<'_>, Written<'_>, Option<Written<'_>>),
    step: f64,
    options: &AdamOptions,
) -> Result<()> {
    dispatch::run_on_backend!(device, B => {
        let state = (
            ViewMut::of(exp_avg.0, exp_avg.1)?,
            ViewMut::of(exp_avg_sq.0, exp_avg_sq.1)?,
            max_exp_avg_sq.map(|(d, l)| ViewMut::of(d, l)).transpose()?,
        );
        B::adam_update(ViewMut::of(param.0, param.1)?, View::of(grad.0, grad.1)?, state, step, options)
    });
    Ok(())
}
