//! The CUDA backend's side of the device interface (backend/kernels.rs): each kernel family's
//! entry points, handing device operands to the host side of its kernels.

use super::device::device_of;
use super::{
    conv, elementwise, index, matmul, nn, optim, pool, random, reduce, storage, CudaStorage, Dv,
};
use crate::backend::dispatch::{View, ViewMut};
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
use crate::storage::{Buffer, CpuElement, CpuStorage, DType, Device, StorageData};
use crate::tensor::layout::StridedOffsets;
use crate::tensor::{Layout, Scalar};

impl<'a> View<'a, CudaStorage> {
    /// A contiguous operand as the kernels take it: storage and element offset.
    pub(crate) fn dv(&self) -> Result<Dv<'a>> {
        Ok(Dv {
            s: self.storage,
            off: self.contiguous_range()?.start,
        })
    }
}

impl DeviceStorage for CudaStorage {
    const KIND: &'static str = "CUDA";
    fn dtype(&self) -> DType {
        CudaStorage::dtype(self)
    }
    fn len(&self) -> usize {
        CudaStorage::len(self)
    }
    fn of(data: &StorageData) -> Option<&Self> {
        match data {
            StorageData::Cuda(s) => Some(s),
            _ => None,
        }
    }
    fn of_mut(data: &mut StorageData) -> Option<&mut Self> {
        match data {
            StorageData::Cuda(s) => Some(s),
            _ => None,
        }
    }
    fn into_data(self) -> StorageData {
        StorageData::Cuda(self)
    }
}

impl MemoryKernels for CudaStorage {
    fn full(device: Device, len: usize, dtype: DType, value: Scalar) -> Result<Self> {
        let mut s = CudaStorage::alloc(&device_of(device)?, dtype, len)?;
        elementwise::fill(&mut s, &Layout::contiguous(&[len]), value)?;
        Ok(s)
    }
    fn upload(host: View<'_, CpuStorage>, device: Device) -> Result<Self> {
        let dev = device_of(device)?;
        crate::with_dtype!(host.dtype(), T => {
            let all = host.storage.slice::<T>()?;
            match host.layout.contiguous_range() {
                Some(r) => storage::upload(&dev, &all[r]),
                None => {
                    let v: Vec<T> = StridedOffsets::new(host.layout).map(|o| all[o]).collect();
                    storage::upload(&dev, &v)
                }
            }
        })
    }
    fn download(x: View<'_, Self>) -> Result<CpuStorage> {
        let contiguous;
        let (src, start) = match x.layout.contiguous_range() {
            Some(r) => (x.storage, r.start),
            None => {
                contiguous = elementwise::cast(x.storage, x.layout, x.dtype())?;
                (&contiguous, 0)
            }
        };
        let n = x.layout.numel();
        Ok(crate::with_dtype!(x.dtype(), T => {
            let mut buf = Buffer::<T>::uninit(n)?;
            storage::download(src, start, buf.as_mut_slice())?;
            T::wrap(buf)
        }))
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
        device: Device,
        len: usize,
        dtype: DType,
        draw: Draw,
        key: u64,
        start: u64,
    ) -> Result<Self> {
        random::fill(&device_of(device)?, len, dtype, draw, key, start)
    }
}

impl ElementwiseKernels for CudaStorage {
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
        elementwise::where_(
            cond.storage,
            cond.layout,
            a.storage,
            a.layout,
            b.storage,
            b.layout,
            shape,
        )
    }
}

impl ReduceKernels for CudaStorage {
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
        reduce::softmax(x.storage, x.layout, dim, log)
    }
    fn softmax_backward(
        g: View<'_, Self>,
        y: View<'_, Self>,
        dim: usize,
        log: bool,
    ) -> Result<Self> {
        reduce::softmax_backward(g.storage, g.layout, y.storage, y.layout, dim, log)
    }
}

impl MatmulKernels for CudaStorage {
    fn matmul(a: View<'_, Self>, b: View<'_, Self>) -> Result<Self> {
        matmul::matmul(a.storage, a.layout, b.storage, b.layout)
    }
    fn addmm(bias: Option<View<'_, Self>>, a: View<'_, Self>, b: View<'_, Self>) -> Result<Self> {
        let bias = bias.map(|b| b.dv()).transpose()?;
        matmul::addmm(bias, a.storage, a.layout, b.storage, b.layout)
    }
}

impl ConvKernels for CudaStorage {
    fn conv2d_forward(
        x: View<'_, Self>,
        w: View<'_, Self>,
        bias: Option<View<'_, Self>>,
        geom: &ConvGeom,
    ) -> Result<Self> {
        let bias = bias.map(|b| b.dv()).transpose()?;
        conv::conv2d_forward(x.dv()?, w.dv()?, bias, geom)
    }
    fn conv2d_backward(
        gy: View<'_, Self>,
        x: Option<View<'_, Self>>,
        w: Option<View<'_, Self>>,
        geom: &ConvGeom,
        needs: ConvNeeds,
    ) -> Result<(Option<Self>, Option<Self>, Option<Self>)> {
        let x = x.map(|x| x.dv()).transpose()?;
        let w = w.map(|w| w.dv()).transpose()?;
        conv::conv2d_backward(gy.dv()?, x, w, geom, needs)
    }
}

impl PoolKernels for CudaStorage {
    fn max_pool2d_forward(x: View<'_, Self>, geom: &MaxPoolGeom) -> Result<(Self, Self)> {
        pool::max_pool2d_forward(x.dv()?, geom)
    }
    fn max_pool2d_backward(
        gy: View<'_, Self>,
        indices: View<'_, Self>,
        geom: &MaxPoolGeom,
    ) -> Result<Self> {
        pool::max_pool2d_backward(gy.dv()?, indices.dv()?, geom)
    }
    fn avg_pool2d(x: View<'_, Self>, geom: &AvgGeom, forward: bool) -> Result<Self> {
        pool::avg_pool2d(x.dv()?, geom, forward)
    }
    fn resample(x: View<'_, Self>, geom: &ResampleGeom, forward: bool) -> Result<Self> {
        pool::resample(x.dv()?, geom, forward)
    }
}

/// Optional operands as the kernels take them.
fn dvs<'a>(v: Option<View<'a, CudaStorage>>) -> Result<Option<Dv<'a>>> {
    v.map(|v| v.dv()).transpose()
}

impl NormKernels for CudaStorage {
    // Layer norm is composed from tensor ops on this device.

    fn batch_norm_stats(
        x: View<'_, Self>,
        geom: &NormGeom,
        running_mean: Option<View<'_, Self>>,
        running_var: Option<View<'_, Self>>,
        momentum: f64,
        eps: f64,
    ) -> Result<((Self, Self), (Option<Self>, Option<Self>))> {
        let running = (dvs(running_mean)?, dvs(running_var)?);
        let (stats, nrm, nrv) = nn::bn_train_stats(x.dv()?, geom, running, momentum, eps)?;
        Ok(((stats.mean, stats.invstd), (nrm, nrv)))
    }
    fn batch_norm_running_stats(
        running_mean: View<'_, Self>,
        running_var: View<'_, Self>,
        eps: f64,
    ) -> Result<(Self, Self)> {
        let c = running_mean.layout.numel();
        let stats = nn::bn_eval_stats(running_mean.dv()?, running_var.dv()?, c, eps)?;
        Ok((stats.mean, stats.invstd))
    }
    fn batch_norm(
        x: View<'_, Self>,
        geom: &NormGeom,
        (mean, invstd): (View<'_, Self>, View<'_, Self>),
        weight: Option<View<'_, Self>>,
        bias: Option<View<'_, Self>>,
    ) -> Result<Self> {
        let stats = (mean.dv()?, invstd.dv()?);
        nn::bn_normalize(x.dv()?, geom, stats, dvs(weight)?, dvs(bias)?)
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
        let stats = (mean.dv()?, invstd.dv()?);
        let w = dvs(weight)?;
        let (dx, dw, db) =
            nn::bn_backward(gy.dv()?, x.dv()?, geom, stats, w, training, need_input)?;
        Ok((dx, Some(dw), Some(db)))
    }
}

/// The upstream gradient as the kernels read it: an operand and its stride per row (a host
/// scalar is uploaded as a one-element operand).
struct RowGrads<'a> {
    operand: Dv<'a>,
    stride: usize,
}

fn row_grads<'a>(
    up: Upstream<View<'a, CudaStorage>>,
    dtype: DType,
    on: &CudaStorage,
    scalar: &'a mut Option<CudaStorage>,
) -> Result<RowGrads<'a>> {
    Ok(match up {
        Upstream::Rows(v) => RowGrads {
            operand: v.dv()?,
            stride: 1,
        },
        Upstream::Broadcast(v) => RowGrads {
            operand: v.dv()?,
            stride: 0,
        },
        Upstream::Scalar(value) => {
            let mut s = CudaStorage::alloc(on.device(), dtype, 1)?;
            elementwise::fill(&mut s, &Layout::contiguous(&[1]), Scalar::Float(value))?;
            RowGrads {
                operand: Dv {
                    s: scalar.insert(s),
                    off: 0,
                },
                stride: 0,
            }
        }
    })
}

impl LossKernels for CudaStorage {
    fn cross_entropy(
        x: View<'_, Self>,
        target: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        geom: &RowGeom,
        prob: bool,
        opt: CeOptions,
    ) -> Result<(Self, Self, WeightSum<Self>)> {
        let rows = nn::ce_forward(x.dv()?, target.dv()?, dvs(weight)?, geom, prob, opt)?;
        Ok((rows.loss, rows.lse, WeightSum::Rows(rows.weight)))
    }
    fn cross_entropy_backward(
        x: View<'_, Self>,
        target: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        lse: View<'_, Self>,
        upstream: Upstream<View<'_, Self>>,
        geom: &RowGeom,
        (prob, opt): (bool, CeOptions),
        need_target: bool,
    ) -> Result<(Self, Option<Self>)> {
        let mut scalar = None;
        let up = row_grads(upstream, x.dtype(), x.storage, &mut scalar)?;
        nn::ce_backward(
            x.dv()?,
            target.dv()?,
            dvs(weight)?,
            lse.dv()?,
            up.operand,
            up.stride,
            geom,
            prob,
            opt,
            need_target,
        )
    }
    fn class_coefficients(
        target: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        dtype: DType,
        geom: &RowGeom,
        opt: CeOptions,
    ) -> Result<Self> {
        nn::ce_coefficients(
            target.storage.device(),
            dtype,
            target.dv()?,
            dvs(weight)?,
            geom,
            opt,
        )
    }
    fn nll_loss(
        x: View<'_, Self>,
        target: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        geom: &RowGeom,
        ignore_index: i64,
    ) -> Result<(Self, WeightSum<Self>)> {
        let (rows, weights) =
            nn::nll_forward(x.dv()?, target.dv()?, dvs(weight)?, geom, ignore_index)?;
        Ok((rows, WeightSum::Rows(weights)))
    }
    fn nll_loss_backward(
        target: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        upstream: Upstream<View<'_, Self>>,
        dtype: DType,
        geom: &RowGeom,
        ignore_index: i64,
    ) -> Result<Self> {
        let mut scalar = None;
        let up = row_grads(upstream, dtype, target.storage, &mut scalar)?;
        nn::nll_backward(
            target.storage.device(),
            dtype,
            target.dv()?,
            dvs(weight)?,
            up.operand,
            up.stride,
            geom,
            ignore_index,
        )
    }
    fn pointwise_loss(
        kind: PointLoss,
        x: View<'_, Self>,
        target: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        pos_weight: Option<View<'_, Self>>,
        sum: bool,
    ) -> Result<Self> {
        let n = x.layout.numel();
        let per = nn::point_loss(
            kind,
            x.dv()?,
            target.dv()?,
            dvs(weight)?,
            dvs(pos_weight)?,
            n,
        )?;
        if sum {
            // Summed where the losses are, as every reduction on this device.
            reduce::reduce(
                ReduceOp::Sum,
                &per,
                &Layout::contiguous(x.shape()),
                &all_dims(x.shape()),
            )
        } else {
            Ok(per)
        }
    }
}

fn all_dims(shape: &[usize]) -> Vec<usize> {
    (0..shape.len()).collect()
}

impl OptimKernels for CudaStorage {
    fn sgd_update(
        param: ViewMut<'_, Self>,
        grad: View<'_, Self>,
        momentum_buffer: Option<ViewMut<'_, Self>>,
        first: bool,
        options: &SgdOptions,
    ) -> Result<()> {
        optim::sgd_update(param, grad, momentum_buffer, first, options)
    }
    fn adam_update(
        param: ViewMut<'_, Self>,
        grad: View<'_, Self>,
        state: AdamState<'_, Self>,
        step: f64,
        options: &AdamOptions,
    ) -> Result<()> {
        optim::adam_update(param, grad, state, step, options)
    }
}

/// An operand as the index kernels read it: contiguous in `dtype`, the view itself when it is
/// already, else a copy kept in `copy`.
fn dense<'a>(
    v: View<'a, CudaStorage>,
    dtype: DType,
    copy: &'a mut Option<CudaStorage>,
) -> Result<Dv<'a>> {
    if v.dtype() == dtype {
        if let Some(r) = v.layout.contiguous_range() {
            return Ok(Dv {
                s: v.storage,
                off: r.start,
            });
        }
    }
    let c = elementwise::cast(v.storage, v.layout, dtype)?;
    Ok(Dv {
        s: copy.insert(c),
        off: 0,
    })
}

/// A contiguous copy of a scatter's base, which the kernels then write into.
fn copy_of(base: View<'_, CudaStorage>) -> Result<CudaStorage> {
    elementwise::cast(base.storage, base.layout, base.dtype())
}

/// The `n` of `[k, n]` advanced-indexing positions.
fn position_count(positions: View<'_, CudaStorage>) -> Result<usize> {
    positions
        .shape()
        .get(1)
        .copied()
        .ok_or_else(|| Error::internal("advanced-indexing positions are not [k, n]"))
}

// Positions are read (and checked) by the kernels on the device.
impl IndexKernels for CudaStorage {
    fn index_select(src: View<'_, Self>, dim: usize, idx: View<'_, Self>) -> Result<Self> {
        let (mut sc, mut ic) = (None, None);
        let s = dense(src, src.dtype(), &mut sc)?;
        let i = dense(idx, DType::I64, &mut ic)?;
        index::index_select(s, src.shape(), dim, i, idx.layout.numel())
    }
    fn index_add(
        base: View<'_, Self>,
        dim: usize,
        idx: View<'_, Self>,
        src: View<'_, Self>,
    ) -> Result<Self> {
        let out = copy_of(base)?;
        let (mut ic, mut sc) = (None, None);
        let i = dense(idx, DType::I64, &mut ic)?;
        let s = dense(src, src.dtype(), &mut sc)?;
        index::index_add(&out, base.shape(), dim, i, s, idx.layout.numel())?;
        Ok(out)
    }
    fn gather(src: View<'_, Self>, dim: usize, idx: View<'_, Self>) -> Result<Self> {
        let (mut sc, mut ic) = (None, None);
        let s = dense(src, src.dtype(), &mut sc)?;
        let i = dense(idx, DType::I64, &mut ic)?;
        index::gather(s, src.shape(), dim, i, idx.shape())
    }
    fn scatter(
        base: View<'_, Self>,
        dim: usize,
        idx: View<'_, Self>,
        src: View<'_, Self>,
        accumulate: bool,
    ) -> Result<Self> {
        let out = copy_of(base)?;
        let mut ic = None;
        let i = dense(idx, DType::I64, &mut ic)?;
        let shape = base.shape();
        index::scatter(
            &out,
            shape,
            dim,
            i,
            idx.shape(),
            src.storage,
            src.layout,
            accumulate,
        )?;
        Ok(out)
    }
    fn index_leading(
        src: View<'_, Self>,
        positions: View<'_, Self>,
        dims: &[usize],
    ) -> Result<Self> {
        let n = position_count(positions)?;
        let mut pc = None;
        let p = dense(positions, DType::I64, &mut pc)?;
        index::index_lead(src.storage, src.layout, p, dims.len(), n, dims)
    }
    fn index_put_leading(
        dst: View<'_, Self>,
        positions: View<'_, Self>,
        dims: &[usize],
        values: View<'_, Self>,
        accumulate: bool,
    ) -> Result<Self> {
        let n = position_count(positions)?;
        let out = copy_of(dst)?;
        let mut pc = None;
        let p = dense(positions, DType::I64, &mut pc)?;
        index::index_put_lead(
            &out,
            dst.shape(),
            p,
            dims.len(),
            n,
            values.storage,
            values.layout,
            accumulate,
            dims,
        )?;
        Ok(out)
    }
    // nonzero: no kernel (the op runs it on a host copy).
}
