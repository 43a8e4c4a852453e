//! Kernels, by device. Ops (in `crate::ops`) check arguments and record autograd; they call the
//! functions here, which dispatch on where the storage lives and run a kernel.

pub mod cpu;
pub mod geometry;
mod kinds;

pub use kinds::{BinaryOp, PointLoss, ReduceOp, UnaryOp};
#[cfg(feature = "cuda")]
pub mod cuda;

// ----- device dispatch --------------------------------------------------------------------------
//
// Each function below reads its inputs' storage, runs the kernel of the device they live on and
// wraps the result in a new tensor. Ops have checked shapes, dtypes and devices before calling.

use crate::error::{Error, Result};
use crate::storage::{CpuStorage, DType, Storage, StorageData};
use crate::tensor::{Layout, Scalar, Tensor};

fn wrap_cpu(data: CpuStorage, shape: &[usize]) -> Tensor {
    Tensor::from_storage(Storage::cpu(data), shape)
}

#[cfg(feature = "cuda")]
fn wrap(data: StorageData, shape: &[usize]) -> Tensor {
    Tensor::from_storage(Storage::new(data), shape)
}

/// Runs `$cpu` with `$s` bound to the CPU storage of `$data`, or `$cuda` for CUDA storage.
macro_rules! on_device {
    ($data:expr, $s:ident => cpu: $cpu:expr, cuda: $cuda:expr) => {
        match $data {
            StorageData::Cpu($s) => $cpu,
            #[cfg(feature = "cuda")]
            StorageData::Cuda($s) => $cuda,
        }
    };
}
pub(crate) use on_device;

#[cfg(feature = "cuda")]
fn mixed_devices() -> Error {
    Error::runtime("internal error: kernel inputs on different devices")
}

pub(crate) fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    let body = x.body();
    let data = body.storage.read();
    let shape = body.layout.shape();
    on_device!(&*data, s =>
        cpu: Ok(wrap_cpu(cpu::elementwise::unary(op, s, &body.layout)?, shape)),
        cuda: Ok(wrap(StorageData::Cuda(cuda::unary(op, s, &body.layout)?), shape)))
}

/// `op(a, b)` with both broadcast to `shape`; `a` and `b` share a dtype.
pub(crate) fn binary(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let (ba, bb) = (a.body(), b.body());
    let (da, db) = (ba.storage.read(), bb.storage.read());
    match (&*da, &*db) {
        (StorageData::Cpu(x), StorageData::Cpu(y)) => Ok(wrap_cpu(
            cpu::elementwise::binary(op, x, &ba.layout, y, &bb.layout, shape)?,
            shape,
        )),
        #[cfg(feature = "cuda")]
        (StorageData::Cuda(x), StorageData::Cuda(y)) => Ok(wrap(
            StorageData::Cuda(cuda::binary(op, x, &ba.layout, y, &bb.layout, shape)?),
            shape,
        )),
        #[cfg(feature = "cuda")]
        _ => Err(mixed_devices()),
    }
}

/// `cond ? a : b` broadcast to `shape`.
pub(crate) fn where_(cond: &Tensor, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let (bc, ba, bb) = (cond.body(), a.body(), b.body());
    let (dc, da, db) = (bc.storage.read(), ba.storage.read(), bb.storage.read());
    match (&*dc, &*da, &*db) {
        (StorageData::Cpu(c), StorageData::Cpu(x), StorageData::Cpu(y)) => Ok(wrap_cpu(
            cpu::elementwise::where_(
                c.slice::<u8>()?,
                &bc.layout,
                x,
                &ba.layout,
                y,
                &bb.layout,
                shape,
            )?,
            shape,
        )),
        #[cfg(feature = "cuda")]
        (StorageData::Cuda(c), StorageData::Cuda(x), StorageData::Cuda(y)) => Ok(wrap(
            StorageData::Cuda(cuda::where_(
                c, &bc.layout, x, &ba.layout, y, &bb.layout, shape,
            )?),
            shape,
        )),
        #[cfg(feature = "cuda")]
        _ => Err(mixed_devices()),
    }
}

/// A contiguous copy of `x` converted to `dtype` (also how `contiguous()` copies).
pub(crate) fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    let body = x.body();
    let data = body.storage.read();
    let shape = body.layout.shape();
    on_device!(&*data, s =>
        cpu: Ok(wrap_cpu(cpu::elementwise::cast(s, &body.layout, dtype)?, shape)),
        cuda: Ok(wrap(StorageData::Cuda(cuda::cast(s, &body.layout, dtype)?), shape)))
}

/// Reduces sorted `dims` of `x`; the result has the kept dims.
pub(crate) fn reduce(op: ReduceOp, x: &Tensor, dims: &[usize]) -> Result<Tensor> {
    let body = x.body();
    let n_red: usize = dims.iter().map(|&d| body.layout.shape()[d]).product();
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
    let data = body.storage.read();
    let shape: Vec<usize> = (0..body.layout.ndim())
        .filter(|d| !dims.contains(d))
        .map(|d| body.layout.shape()[d])
        .collect();
    on_device!(&*data, s =>
        cpu: Ok(wrap_cpu(cpu::reduce::reduce(op, s, &body.layout, dims)?, &shape)),
        cuda: Ok(wrap(StorageData::Cuda(cuda::reduce(op, s, &body.layout, dims)?), &shape)))
}

/// Cumulative sum along `dim` (from the end when `reverse`) in `x`'s dtype; contiguous result.
pub(crate) fn cumsum(x: &Tensor, dim: usize, reverse: bool) -> Result<Tensor> {
    let body = x.body();
    let data = body.storage.read();
    let shape = body.layout.shape();
    on_device!(&*data, s =>
        cpu: Ok(wrap_cpu(cpu::reduce::cumsum(s, &body.layout, dim, reverse)?, shape)),
        cuda: Ok(wrap(StorageData::Cuda(cuda::cumsum(s, &body.layout, dim, reverse)?), shape)))
}

/// Max or min along `dim` with its indices (the dim removed).
pub(crate) fn extreme_along(x: &Tensor, dim: usize, want_max: bool) -> Result<(Tensor, Tensor)> {
    let body = x.body();
    if body.layout.shape()[dim] == 0 {
        return Err(Error::index(format!(
            "{}(): Expected reduction dim {dim} to have non-zero size.",
            if want_max { "max" } else { "min" }
        )));
    }
    let data = body.storage.read();
    let mut shape = body.layout.dims().clone();
    shape.remove(dim);
    on_device!(&*data, s =>
    cpu: {
        let (v, i) = cpu::reduce::extreme_along(s, &body.layout, dim, want_max)?;
        Ok((wrap_cpu(v, &shape), wrap_cpu(i, &shape)))
    },
    cuda: {
        let (v, i) = cuda::extreme_along(s, &body.layout, dim, want_max)?;
        Ok((wrap(StorageData::Cuda(v), &shape), wrap(StorageData::Cuda(i), &shape)))
    })
}

/// Batched `a @ b` over layouts already broadcast in their batch dims.
pub(crate) fn matmul(a: &Tensor, la: &Layout, b: &Tensor, lb: &Layout) -> Result<Tensor> {
    let (ba, bb) = (a.body(), b.body());
    let (da, db) = (ba.storage.read(), bb.storage.read());
    let nd = la.ndim();
    let mut shape = crate::tensor::Dims::from_slice(&la.shape()[..nd - 1]);
    shape.push(lb.shape()[nd - 1]);
    match (&*da, &*db) {
        (StorageData::Cpu(x), StorageData::Cpu(y)) => {
            Ok(wrap_cpu(cpu::matmul::matmul(x, la, y, lb)?, &shape))
        }
        #[cfg(feature = "cuda")]
        (StorageData::Cuda(x), StorageData::Cuda(y)) => {
            Ok(wrap(StorageData::Cuda(cuda::matmul(x, la, y, lb)?), &shape))
        }
        #[cfg(feature = "cuda")]
        _ => Err(mixed_devices()),
    }
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
    match (&mut *dd, &*ds) {
        (StorageData::Cpu(d), StorageData::Cpu(s)) => {
            cpu::elementwise::copy_into(d, &bd.layout, s, &sl)?
        }
        #[cfg(feature = "cuda")]
        (StorageData::Cuda(d), StorageData::Cuda(s)) => cuda::copy_into(d, &bd.layout, s, &sl)?,
        #[cfg(feature = "cuda")]
        _ => return Err(mixed_devices()),
    }
    drop(dd);
    bd.storage.bump_version();
    Ok(())
}

/// Fills `dst` in place.
pub(crate) fn fill(dst: &Tensor, value: Scalar) -> Result<()> {
    let bd = dst.body();
    let mut dd = bd.storage.write();
    on_device!(&mut *dd, d =>
        cpu: cpu::elementwise::fill(d, &bd.layout, value)?,
        cuda: cuda::fill(d, &bd.layout, value)?);
    drop(dd);
    bd.storage.bump_version();
    Ok(())
}

/// A copy of `x` on `device`.
pub(crate) fn to_device(x: &Tensor, device: crate::storage::Device) -> Result<Tensor> {
    #[cfg(feature = "cuda")]
    {
        cuda::transfer(x, device)
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = x;
        Err(Error::runtime(format!(
            "cannot move a tensor to {device}: rustgrad was built without CUDA support (build with the `cuda` feature)"
        )))
    }
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
    let (ba, bb) = (a.body(), b.body());
    let (da, db) = (ba.storage.read(), bb.storage.read());
    match (&*da, &*db) {
        (StorageData::Cpu(x), StorageData::Cpu(y)) => {
            let bias_rows = match bias {
                Some(t) => Some(t.broadcast_to(&[n])?.contiguous()?.to_vec::<f64>()?),
                None => None,
            };
            let out = crate::with_dtype!(x.dtype(), T => {
                let mut out = crate::storage::Buffer::<T>::uninit(m * n)?;
                let o = out.as_mut_slice();
                if let Some(rows) = &bias_rows {
                    let row: Vec<T> = rows.iter().map(|&v| <T as crate::storage::Element>::from_f64(v)).collect();
                    for chunk in o.chunks_mut(n.max(1)) {
                        chunk.copy_from_slice(&row[..chunk.len()]);
                    }
                }
                cpu::matmul::matmul_into(o, x.slice::<T>()?, la, y.slice::<T>()?, lb, bias_rows.is_some())?;
                <T as crate::storage::CpuElement>::wrap(out)
            });
            Ok(wrap_cpu(out, &[m, n]))
        }
        #[cfg(feature = "cuda")]
        (StorageData::Cuda(x), StorageData::Cuda(y)) => {
            let bias = match bias {
                Some(t) => Some(t.broadcast_to(&[n])?.contiguous()?),
                None => None,
            };
            Ok(wrap(
                StorageData::Cuda(cuda::addmm(bias.as_ref(), x, la, y, lb)?),
                &[m, n],
            ))
        }
        #[cfg(feature = "cuda")]
        _ => Err(mixed_devices()),
    }
}
