//! The CPU backend's side of the device interface (backend/kernels.rs): each kernel family's
//! entry points, picking the element type and handing typed slices to the kernels.

use super::nn::loss::{RowGrad, Target};
use super::{elementwise, index, matmul, nn, optim, random, reduce};
use crate::backend::dispatch::{Host, View, ViewMut};
use crate::backend::geometry::{
    AvgGeom, CeOptions, ConvGeom, ConvNeeds, MaxPoolGeom, NormGeom, ResampleGeom, RowGeom,
};
use crate::backend::kernels::{
    AdamState, ConvKernels, DeviceStorage, ElementwiseKernels, IndexKernels, LossKernels,
    MatmulKernels, MemoryKernels, NormGrads, NormKernels, OptimKernels, PoolKernels, ReduceKernels,
    Upstream, WeightSum,
};
use crate::backend::kinds::{BinaryOp, Draw, PointLoss, ReduceOp, UnaryOp};
use crate::error::{Error, Result};
use crate::optim::{AdamOptions, SgdOptions};
use crate::storage::{Buffer, CpuElement, CpuStorage, DType, Device, Element, StorageData};
use crate::tensor::{Layout, Scalar};
use crate::with_float_dtype;

impl<'a> View<'a, CpuStorage> {
    /// The elements of a contiguous operand as a typed slice.
    pub fn slice<T: CpuElement>(&self) -> Result<&'a [T]> {
        let range = self.contiguous_range()?;
        self.storage
            .slice::<T>()?
            .get(range)
            .ok_or_else(|| Error::internal("a kernel operand is out of range"))
    }
}

impl DeviceStorage for CpuStorage {
    const KIND: &'static str = "CPU";
    const HOST_VISIBLE: bool = true;
    fn dtype(&self) -> DType {
        CpuStorage::dtype(self)
    }
    fn len(&self) -> usize {
        CpuStorage::len(self)
    }
    fn of(data: &StorageData) -> Option<&Self> {
        match data {
            StorageData::Cpu(s) => Some(s),
            _ => None,
        }
    }
    fn of_mut(data: &mut StorageData) -> Option<&mut Self> {
        match data {
            StorageData::Cpu(s) => Some(s),
            _ => None,
        }
    }
    fn into_data(self) -> StorageData {
        StorageData::Cpu(self)
    }
}

impl MemoryKernels for CpuStorage {
    fn full(_: Device, len: usize, dtype: DType, value: Scalar) -> Result<Self> {
        Ok(crate::with_dtype!(dtype, T => T::wrap(
            // All-zero bits (not -0.0) come from zeroed pages.
            if value.to_f64().to_bits() == 0 { Buffer::<T>::zeros(len)? } else { Buffer::<T>::full(len, value.cast::<T>())? }
        )))
    }
    fn upload(host: View<'_, CpuStorage>, _: Device) -> Result<Self> {
        elementwise::cast(host.storage, host.layout, host.dtype())
    }
    fn download(x: View<'_, Self>) -> Result<CpuStorage> {
        elementwise::cast(x.storage, x.layout, x.dtype())
    }
    fn cast(x: View<'_, Self>, dtype: DType) -> Result<Self> {
        elementwise::cast(x.storage, x.layout, dtype)
    }
    fn copy_into(dst: &mut Self, dst_layout: &Layout, src: View<'_, Self>) -> Result<()> {
        elementwise::copy_into(dst, dst_layout, src.storage, src.layout)
    }
    fn fill(dst: &mut Self, layout: &Layout, value: Scalar) -> Result<()> {
        elementwise::fill(dst, layout, value)
    }
    fn random(
        _: Device,
        len: usize,
        dtype: DType,
        draw: Draw,
        key: u64,
        start: u64,
    ) -> Result<Self> {
        random::draw(len, dtype, draw, key, start)
    }
}

impl ElementwiseKernels for CpuStorage {
    fn unary(op: UnaryOp, x: View<'_, Self>) -> Result<Self> {
        elementwise::unary(op, x.storage, x.layout)
    }
    fn binary(op: BinaryOp, a: View<'_, Self>, b: View<'_, Self>, shape: &[usize]) -> Result<Self> {
        elementwise::binary(op, a.storage, a.layout, b.storage, b.layout, shape)
    }
    fn where_(
        cond: View<'_, Self>,
        a: View<'_, Self>,
        b: View<'_, Self>,
        shape: &[usize],
    ) -> Result<Self> {
        let c = cond.storage.slice::<u8>()?;
        elementwise::where_(
            c,
            cond.layout,
            a.storage,
            a.layout,
            b.storage,
            b.layout,
            shape,
        )
    }
}

impl ReduceKernels for CpuStorage {
    fn reduce(op: ReduceOp, x: View<'_, Self>, dims: &[usize]) -> Result<Self> {
        reduce::reduce(op, x.storage, x.layout, dims)
    }
    fn cumsum(x: View<'_, Self>, dim: usize, reverse: bool) -> Result<Self> {
        reduce::cumsum(x.storage, x.layout, dim, reverse)
    }
    fn extreme_along(x: View<'_, Self>, dim: usize, want_max: bool) -> Result<(Self, Self)> {
        reduce::extreme_along(x.storage, x.layout, dim, want_max)
    }
    fn softmax(x: View<'_, Self>, dim: usize, log: bool) -> Result<Self> {
        nn::softmax::softmax(x.storage, x.layout, dim, log)
    }
    fn softmax_backward(
        g: View<'_, Self>,
        y: View<'_, Self>,
        dim: usize,
        log: bool,
    ) -> Result<Self> {
        nn::softmax::softmax_backward(g.storage, g.layout, y.storage, y.layout, dim, log)
    }
}

impl MatmulKernels for CpuStorage {
    fn matmul(a: View<'_, Self>, b: View<'_, Self>) -> Result<Self> {
        matmul::matmul(a.storage, a.layout, b.storage, b.layout)
    }
    fn addmm(bias: Option<View<'_, Self>>, a: View<'_, Self>, b: View<'_, Self>) -> Result<Self> {
        matmul::addmm(bias, a, b)
    }
}

impl ConvKernels for CpuStorage {
    fn conv2d_forward(
        x: View<'_, Self>,
        w: View<'_, Self>,
        bias: Option<View<'_, Self>>,
        geom: &ConvGeom,
    ) -> Result<Self> {
        with_float_dtype!(x.dtype(), T => {
            let bias = bias.map(|b| b.slice::<T>()).transpose()?;
            Ok(T::wrap(nn::conv::conv2d_forward(x.slice::<T>()?, w.slice::<T>()?, bias, geom)?))
        }, else Err(Error::not_implemented_for("slow_conv2d_cpu", x.dtype())))
    }
    fn conv2d_backward(
        gy: View<'_, Self>,
        x: Option<View<'_, Self>>,
        w: Option<View<'_, Self>>,
        geom: &ConvGeom,
        needs: ConvNeeds,
    ) -> Result<(Option<Self>, Option<Self>, Option<Self>)> {
        with_float_dtype!(gy.dtype(), T => {
            let x = x.map(|x| x.slice::<T>()).transpose()?;
            let w = w.map(|w| w.slice::<T>()).transpose()?;
            let r = nn::conv::conv2d_backward(gy.slice::<T>()?, x, w, geom, needs)?;
            Ok((r.input.map(T::wrap), r.weight.map(T::wrap), r.bias.map(T::wrap)))
        }, else Err(Error::not_implemented_for("slow_conv2d_cpu", gy.dtype())))
    }
}

impl PoolKernels for CpuStorage {
    fn max_pool2d_forward(x: View<'_, Self>, geom: &MaxPoolGeom) -> Result<(Self, Self)> {
        with_float_dtype!(x.dtype(), T => {
            let (v, i) = nn::pool::max_pool2d_forward(x.slice::<T>()?, geom)?;
            Ok((T::wrap(v), i64::wrap(i)))
        }, else Err(Error::not_implemented_for("max_pool2d", x.dtype())))
    }
    fn max_pool2d_backward(
        gy: View<'_, Self>,
        indices: View<'_, Self>,
        geom: &MaxPoolGeom,
    ) -> Result<Self> {
        with_float_dtype!(gy.dtype(), T => {
            let i = indices.slice::<i64>()?;
            Ok(T::wrap(nn::pool::max_pool2d_backward(gy.slice::<T>()?, i, geom)?))
        }, else Err(Error::not_implemented_for("max_pool2d_backward", gy.dtype())))
    }
    fn avg_pool2d(x: View<'_, Self>, geom: &AvgGeom, forward: bool) -> Result<Self> {
        with_float_dtype!(x.dtype(), T => {
            let x = x.slice::<T>()?;
            Ok(T::wrap(if forward {
                nn::pool::avg_pool2d_forward(x, geom)?
            } else {
                nn::pool::avg_pool2d_backward(x, geom)?
            }))
        }, else Err(Error::not_implemented_for("avg_pool2d_out_frame", x.dtype())))
    }
    fn resample(x: View<'_, Self>, geom: &ResampleGeom, forward: bool) -> Result<Self> {
        with_float_dtype!(x.dtype(), T => {
            let x = x.slice::<T>()?;
            Ok(T::wrap(if forward {
                nn::interpolate::resample_forward(x, geom)?
            } else {
                nn::interpolate::resample_backward(x, geom)?
            }))
        }, else Err(Error::not_implemented_for("upsample_bilinear2d_out_frame", x.dtype())))
    }
}

/// Host values as a storage of `T`.
fn from_f64s<T: CpuElement>(values: &[f64]) -> Result<CpuStorage> {
    Ok(T::wrap(Buffer::from_iter_exact(
        values.len(),
        values.iter().map(|&v| T::from_f64(v)),
    )?))
}

fn f64s(values: Vec<f64>) -> Result<CpuStorage> {
    Ok(CpuStorage::F64(Buffer::from_slice(&values)?))
}

impl NormKernels for CpuStorage {
    const FUSED_LAYER_NORM: bool = true;

    fn batch_norm_stats(
        x: View<'_, Self>,
        geom: &NormGeom,
        running_mean: Option<View<'_, Self>>,
        running_var: Option<View<'_, Self>>,
        momentum: f64,
        eps: f64,
    ) -> Result<((Self, Self), (Option<Self>, Option<Self>))> {
        with_float_dtype!(x.dtype(), T => {
            let (mean, var) = nn::norm::channel_stats(x.slice::<T>()?, geom);
            let m = geom.m() as f64;
            let update = |running: Option<View<'_, Self>>, batch: &[f64], unbias: f64| {
                running.map(|r| -> Result<Self> {
                    let new = r.slice::<T>()?.iter().zip(batch).map(|(&r, &v)| {
                        T::from_f64(momentum * (v * unbias) + (1.0 - momentum) * r.to_f64())
                    });
                    Ok(T::wrap(Buffer::from_iter_exact(batch.len(), new)?))
                }).transpose()
            };
            let new_mean = update(running_mean, &mean, 1.0)?;
            let new_var = update(running_var, &var, m / (m - 1.0))?;
            let invstd = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
            Ok(((f64s(mean)?, f64s(invstd)?), (new_mean, new_var)))
        }, else Err(Error::not_implemented_for("batch_norm", x.dtype())))
    }
    fn batch_norm_running_stats(
        running_mean: View<'_, Self>,
        running_var: View<'_, Self>,
        eps: f64,
    ) -> Result<(Self, Self)> {
        with_float_dtype!(running_mean.dtype(), T => {
            let mean = running_mean.slice::<T>()?.iter().map(|v| v.to_f64()).collect();
            let invstd = running_var.slice::<T>()?.iter().map(|v| 1.0 / (v.to_f64() + eps).sqrt()).collect();
            Ok((f64s(mean)?, f64s(invstd)?))
        }, else Err(Error::not_implemented_for("batch_norm", running_mean.dtype())))
    }
    fn batch_norm(
        x: View<'_, Self>,
        geom: &NormGeom,
        (mean, invstd): (View<'_, Self>, View<'_, Self>),
        weight: Option<View<'_, Self>>,
        bias: Option<View<'_, Self>>,
    ) -> Result<Self> {
        with_float_dtype!(x.dtype(), T => {
            let w = weight.map(|w| w.slice::<T>()).transpose()?;
            let b = bias.map(|b| b.slice::<T>()).transpose()?;
            let (mean, invstd) = (mean.slice::<f64>()?, invstd.slice::<f64>()?);
            Ok(T::wrap(nn::norm::normalize(x.slice::<T>()?, geom, mean, invstd, w, b)?))
        }, else Err(Error::not_implemented_for("batch_norm", x.dtype())))
    }
    fn batch_norm_backward(
        gy: View<'_, Self>,
        x: View<'_, Self>,
        geom: &NormGeom,
        (mean, invstd): (View<'_, Self>, View<'_, Self>),
        weight: Option<View<'_, Self>>,
        training: bool,
        need_input: bool,
    ) -> Result<NormGrads<Self>> {
        with_float_dtype!(gy.dtype(), T => {
            let w = weight.map(|w| w.slice::<T>()).transpose()?;
            let (mean, invstd) = (mean.slice::<f64>()?, invstd.slice::<f64>()?);
            let r = nn::norm::normalize_backward(
                gy.slice::<T>()?, x.slice::<T>()?, geom, mean, invstd, w, training, need_input)?;
            Ok((
                r.input.map(T::wrap),
                r.weight.map(|v| from_f64s::<T>(&v)).transpose()?,
                r.bias.map(|v| from_f64s::<T>(&v)).transpose()?,
            ))
        }, else Err(Error::not_implemented_for("batch_norm_backward", gy.dtype())))
    }
    fn layer_norm(
        x: View<'_, Self>,
        d: usize,
        eps: f64,
        weight: Option<View<'_, Self>>,
        bias: Option<View<'_, Self>>,
    ) -> Result<(Self, Self, Self)> {
        with_float_dtype!(x.dtype(), T => {
            let w = weight.map(|w| w.slice::<T>()).transpose()?;
            let b = bias.map(|b| b.slice::<T>()).transpose()?;
            let (y, mean, invstd) = nn::norm::layer_normalize(x.slice::<T>()?, d, eps, w, b)?;
            Ok((T::wrap(y), f64s(mean)?, f64s(invstd)?))
        }, else Err(Error::not_implemented_for("LayerNormKernelImpl", x.dtype())))
    }
    fn layer_norm_backward(
        gy: View<'_, Self>,
        x: View<'_, Self>,
        d: usize,
        (mean, invstd): (View<'_, Self>, View<'_, Self>),
        weight: Option<View<'_, Self>>,
        need_input: bool,
    ) -> Result<NormGrads<Self>> {
        with_float_dtype!(gy.dtype(), T => {
            let w = weight.map(|w| w.slice::<T>()).transpose()?;
            let (mean, invstd) = (mean.slice::<f64>()?, invstd.slice::<f64>()?);
            let r = nn::norm::layer_normalize_backward(
                gy.slice::<T>()?, x.slice::<T>()?, d, mean, invstd, w, need_input)?;
            Ok((
                r.input.map(T::wrap),
                r.weight.map(|v| from_f64s::<T>(&v)).transpose()?,
                r.bias.map(|v| from_f64s::<T>(&v)).transpose()?,
            ))
        }, else Err(Error::not_implemented_for("layer_norm_backward", gy.dtype())))
    }
}

/// A loss target as the CPU kernels read it.
fn target<'a, T: CpuElement>(t: View<'a, CpuStorage>, prob: bool) -> Result<Target<'a, T>> {
    Ok(if prob {
        Target::Prob(t.slice::<T>()?)
    } else {
        Target::Class(t.slice::<i64>()?)
    })
}

/// The upstream gradient as the CPU kernels read it (a one-element operand read directly).
fn row_grad<'a, T: CpuElement + crate::storage::Float>(
    up: Upstream<View<'a, CpuStorage>>,
) -> Result<RowGrad<'a, T>> {
    Ok(match up {
        Upstream::Scalar(v) => RowGrad::Scalar(v),
        Upstream::Rows(v) => RowGrad::PerRow(v.slice::<T>()?),
        Upstream::Broadcast(v) => RowGrad::Scalar(
            v.slice::<T>()?
                .first()
                .ok_or_else(|| Error::internal("an empty upstream gradient"))?
                .to_f64(),
        ),
    })
}

impl LossKernels for CpuStorage {
    fn cross_entropy(
        x: View<'_, Self>,
        t: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        geom: &RowGeom,
        prob: bool,
        opt: CeOptions,
    ) -> Result<(Self, Self, WeightSum<Self>)> {
        if !prob {
            nn::loss::check_targets(t.slice::<i64>()?, geom.c, opt.ignore_index)?;
        }
        with_float_dtype!(x.dtype(), T => {
            let w = weight.map(|w| w.slice::<T>()).transpose()?;
            let f = nn::loss::cross_entropy_forward(x.slice::<T>()?, target::<T>(t, prob)?, w, geom, opt)?;
            Ok((T::wrap(f.loss), T::wrap(f.lse), WeightSum::Total(f.total_weight)))
        }, else Err(Error::not_implemented_for("cross_entropy", x.dtype())))
    }
    fn cross_entropy_backward(
        x: View<'_, Self>,
        t: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        lse: View<'_, Self>,
        upstream: Upstream<View<'_, Self>>,
        geom: &RowGeom,
        (prob, opt): (bool, CeOptions),
        need_target: bool,
    ) -> Result<(Self, Option<Self>)> {
        with_float_dtype!(x.dtype(), T => {
            let w = weight.map(|w| w.slice::<T>()).transpose()?;
            let (dx, dt) = nn::loss::cross_entropy_backward(
                x.slice::<T>()?, target::<T>(t, prob)?, w, lse.slice::<T>()?,
                row_grad::<T>(upstream)?, geom, opt, need_target)?;
            Ok((T::wrap(dx), dt.map(T::wrap)))
        }, else Err(Error::not_implemented_for("cross_entropy", x.dtype())))
    }
    fn class_coefficients(
        t: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        dtype: DType,
        geom: &RowGeom,
        opt: CeOptions,
    ) -> Result<Self> {
        with_float_dtype!(dtype, T => {
            let w = weight.map(|w| w.slice::<T>()).transpose()?;
            Ok(T::wrap(nn::loss::class_coefficients(t.slice::<i64>()?, w, geom, opt)?))
        }, else Err(Error::not_implemented_for("cross_entropy", dtype)))
    }
    fn nll_loss(
        x: View<'_, Self>,
        t: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        geom: &RowGeom,
        ignore_index: i64,
    ) -> Result<(Self, WeightSum<Self>)> {
        let t = t.slice::<i64>()?;
        nn::loss::check_targets(t, geom.c, ignore_index)?;
        with_float_dtype!(x.dtype(), T => {
            let w = weight.map(|w| w.slice::<T>()).transpose()?;
            let (l, total) = nn::loss::nll_forward(x.slice::<T>()?, t, w, geom, ignore_index)?;
            Ok((T::wrap(l), WeightSum::Total(total)))
        }, else Err(Error::not_implemented_for("nll_loss_out_frame", x.dtype())))
    }
    fn nll_loss_backward(
        t: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        upstream: Upstream<View<'_, Self>>,
        dtype: DType,
        geom: &RowGeom,
        ignore_index: i64,
    ) -> Result<Self> {
        with_float_dtype!(dtype, T => {
            let w = weight.map(|w| w.slice::<T>()).transpose()?;
            Ok(T::wrap(nn::loss::nll_backward(
                t.slice::<i64>()?, w, row_grad::<T>(upstream)?, geom, ignore_index)?))
        }, else Err(Error::not_implemented_for("nll_loss_backward", dtype)))
    }
    fn pointwise_loss(
        kind: PointLoss,
        x: View<'_, Self>,
        t: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        pos_weight: Option<View<'_, Self>>,
        sum: bool,
    ) -> Result<Self> {
        with_float_dtype!(x.dtype(), T => {
            let w = weight.map(|w| w.slice::<T>()).transpose()?;
            let pw = pos_weight.map(|p| p.slice::<T>()).transpose()?;
            Ok(T::wrap(nn::loss::pointwise_loss(kind, x.slice::<T>()?, t.slice::<T>()?, w, pw, sum)?))
        }, else Err(Error::not_implemented_for("loss", x.dtype())))
    }
}

impl OptimKernels for CpuStorage {
    fn sgd_update(
        param: ViewMut<'_, Self>,
        grad: View<'_, Self>,
        momentum_buffer: Option<ViewMut<'_, Self>>,
        first: bool,
        options: &SgdOptions,
    ) -> Result<()> {
        with_float_dtype!(param.storage.dtype(),
            T => optim::sgd::update::<T>(param, grad, momentum_buffer, first, options),
            else Err(Error::runtime("SGD: parameters must be floating point")))
    }
    fn adam_update(
        param: ViewMut<'_, Self>,
        grad: View<'_, Self>,
        state: AdamState<'_, Self>,
        step: f64,
        options: &AdamOptions,
    ) -> Result<()> {
        with_float_dtype!(param.storage.dtype(),
            T => optim::adam::update::<T>(param, grad, state, step, options),
            else Err(Error::runtime("Adam: parameters must be floating point")))
    }
}

/// Runs `f` on the `[k, n]` positions of advanced indexing, checked against the leading dims
/// of `shape` (the user's `dims`), read in place when they are a contiguous int64 operand.
fn with_leading<R>(
    positions: View<'_, CpuStorage>,
    shape: &[usize],
    dims: &[usize],
    f: impl FnOnce(&index::Leading<'_>) -> Result<R>,
) -> Result<R> {
    let n = positions
        .shape()
        .get(1)
        .copied()
        .ok_or_else(|| Error::internal("advanced-indexing positions are not [k, n]"))?;
    let copy;
    let pos = match positions.layout.contiguous_range() {
        Some(r) if positions.dtype() == DType::I64 => &positions.storage.slice::<i64>()?[r],
        _ => {
            copy = index::read_positions(positions.storage, positions.layout)?;
            &copy[..]
        }
    };
    let leading = index::Leading {
        pos,
        k: dims.len(),
        n,
    };
    leading.check(shape, dims)?;
    f(&leading)
}

impl IndexKernels for CpuStorage {
    fn index_select(src: View<'_, Self>, dim: usize, idx: View<'_, Self>) -> Result<Self> {
        let size = src.shape()[dim];
        let mut positions = index::read_positions(idx.storage, idx.layout)?;
        for &v in &positions {
            if v < -(size as i64) || v >= size as i64 {
                return Err(Error::index("index out of range in self"));
            }
        }
        index::normalize_positions(&mut positions, size, dim)?;
        index::index_select(src.storage, src.layout, dim, &positions)
    }
    fn index_add(
        base: View<'_, Self>,
        dim: usize,
        idx: View<'_, Self>,
        src: View<'_, Self>,
    ) -> Result<Self> {
        let shape = base.shape();
        let positions = index::positions(idx.storage, idx.layout, shape[dim], dim)?;
        // The rows of `src` summed into zeros (repeated positions first), then added to the base.
        let added = index::index_add(shape, dim, &positions, src.storage, src.layout)?;
        let al = Layout::contiguous(shape);
        elementwise::binary(BinaryOp::Add, base.storage, base.layout, &added, &al, shape)
    }
    fn gather(src: View<'_, Self>, dim: usize, idx: View<'_, Self>) -> Result<Self> {
        let positions = index::positions(idx.storage, idx.layout, src.shape()[dim], dim)?;
        index::gather(src.storage, src.layout, dim, &positions, idx.shape())
    }
    fn scatter(
        base: View<'_, Self>,
        dim: usize,
        idx: View<'_, Self>,
        src: View<'_, Self>,
        accumulate: bool,
    ) -> Result<Self> {
        let positions = index::positions(idx.storage, idx.layout, base.shape()[dim], dim)?;
        let at = index::ScatterIndex {
            dim,
            positions: &positions,
            shape: idx.shape(),
        };
        index::scatter(
            base.storage,
            base.layout,
            &at,
            src.storage,
            src.layout,
            accumulate,
        )
    }
    fn index_leading(
        src: View<'_, Self>,
        positions: View<'_, Self>,
        dims: &[usize],
    ) -> Result<Self> {
        with_leading(positions, src.shape(), dims, |at| {
            index::index_leading(src.storage, src.layout, at)
        })
    }
    fn index_put_leading(
        dst: View<'_, Self>,
        positions: View<'_, Self>,
        dims: &[usize],
        values: View<'_, Self>,
        accumulate: bool,
    ) -> Result<Self> {
        with_leading(positions, dst.shape(), dims, |at| {
            index::index_put_leading(
                dst.storage,
                dst.layout,
                at,
                values.storage,
                values.layout,
                accumulate,
            )
        })
    }
    fn nonzero(x: View<'_, Self>) -> Result<(Self, Host<usize>)> {
        let (coords, count) = index::nonzero(x.storage, x.layout)?;
        Ok((i64::wrap(coords), Host(count)))
    }
}
