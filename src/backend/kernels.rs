//! The device interface: every kernel an op can launch, grouped by family. A backend is a storage
//! type (`CpuStorage`, `CudaStorage`) that implements these traits; ops reach them through
//! [`run!`](super::run), which picks the backend of the operands' device once, below the op.
//!
//! Operands are [`View`]s (a storage seen through a layout). Kernels of the nn families read
//! contiguous operands (the ops make them so); the elementwise and reduction kernels take any
//! strides. Results are new storages in row-major order. Every backend implements the core
//! families (memory, elementwise, reductions, products); a kernel of the other families that a
//! backend lacks reports `NotImplementedError` naming the op and the device (the default bodies
//! below). The CPU backend has every kernel.

use super::dispatch::{Host, View, ViewMut};
use super::geometry::{
    AvgGeom, CeOptions, ConvGeom, ConvNeeds, MaxPoolGeom, NormGeom, ResampleGeom, RowGeom,
};
use super::kinds::{BinaryOp, Draw, PointLoss, ReduceOp, UnaryOp};
use crate::error::{Error, Result};
use crate::optim::{AdamOptions, SgdOptions};
use crate::storage::{CpuStorage, DType, Device, StorageData};
use crate::tensor::{Layout, Scalar};

/// What every backend's storage is: a typed run of elements on one device.
pub trait DeviceStorage: Sized + Send + Sync + 'static {
    /// The device kind in messages ("CPU", "CUDA").
    const KIND: &'static str;
    /// Whether this memory is the host's, so that reading a value needs no copy and no
    /// synchronisation: ops then finish small reductions on the host (in double) instead of
    /// launching kernels for them.
    const HOST_VISIBLE: bool = false;
    fn dtype(&self) -> DType;
    /// Number of elements.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// This backend's storage inside `data`, if `data` lives on this backend.
    fn of(data: &StorageData) -> Option<&Self>;
    fn of_mut(data: &mut StorageData) -> Option<&mut Self>;
    fn into_data(self) -> StorageData;
}

/// A kernel this backend lacks.
pub(crate) fn no_kernel<S: DeviceStorage>(op: &str) -> Error {
    Error::not_implemented(format!(
        "{op}: no {} kernel; move the tensors to the CPU",
        S::KIND
    ))
}

/// Memory: creation, copies between devices, fills and in-place copies.
pub trait MemoryKernels: DeviceStorage {
    /// `len` elements equal to `value` on `device`.
    fn full(device: Device, len: usize, dtype: DType, value: Scalar) -> Result<Self>;
    /// A copy of host data on `device` (contiguous, the host's dtype).
    fn upload(host: View<'_, CpuStorage>, device: Device) -> Result<Self>;
    /// A contiguous host copy.
    fn download(x: View<'_, Self>) -> Result<CpuStorage>;
    /// A contiguous copy converted to `dtype` (also how `contiguous()` copies).
    fn cast(x: View<'_, Self>, dtype: DType) -> Result<Self>;
    /// Writes `src` (already broadcast to `dst`'s shape) into `dst`, converting dtype.
    fn copy_into(dst: &mut Self, dst_layout: &Layout, src: View<'_, Self>) -> Result<()>;
    /// Sets every element of `dst` seen through `layout` to `value`.
    fn fill(dst: &mut Self, layout: &Layout, value: Scalar) -> Result<()>;
    /// `len` values drawn from the Philox stream `key` from counter `start` on (the same numbers
    /// on every backend).
    fn random(
        device: Device,
        len: usize,
        dtype: DType,
        draw: Draw,
        key: u64,
        start: u64,
    ) -> Result<Self> {
        let _ = (device, len, dtype, draw, key, start);
        Err(no_kernel::<Self>("random"))
    }
}

/// Elementwise maps over broadcast operands.
pub trait ElementwiseKernels: DeviceStorage {
    fn unary(op: UnaryOp, x: View<'_, Self>) -> Result<Self>;
    /// `op(a, b)` with both broadcast to `shape` (one dtype).
    fn binary(op: BinaryOp, a: View<'_, Self>, b: View<'_, Self>, shape: &[usize]) -> Result<Self>;
    /// `cond ? a : b` broadcast to `shape` (`cond` is bool).
    fn where_(
        cond: View<'_, Self>,
        a: View<'_, Self>,
        b: View<'_, Self>,
        shape: &[usize],
    ) -> Result<Self>;
}

/// Reductions and the row-wise normalisations built on them.
pub trait ReduceKernels: DeviceStorage {
    /// Reduces the sorted `dims` (the result keeps the other dims).
    fn reduce(op: ReduceOp, x: View<'_, Self>, dims: &[usize]) -> Result<Self>;
    /// Cumulative sum along `dim` (from the end when `reverse`).
    fn cumsum(x: View<'_, Self>, dim: usize, reverse: bool) -> Result<Self>;
    /// Max or min along `dim` and its int64 indices (the dim removed).
    fn extreme_along(x: View<'_, Self>, dim: usize, want_max: bool) -> Result<(Self, Self)>;
    /// softmax or log_softmax along `dim`.
    fn softmax(x: View<'_, Self>, dim: usize, log: bool) -> Result<Self>;
    /// Their backward from the output `y` and its gradient `g`.
    fn softmax_backward(
        g: View<'_, Self>,
        y: View<'_, Self>,
        dim: usize,
        log: bool,
    ) -> Result<Self>;
}

/// Matrix products.
pub trait MatmulKernels: DeviceStorage {
    /// Batched `a @ b` over layouts already broadcast in their batch dims.
    fn matmul(a: View<'_, Self>, b: View<'_, Self>) -> Result<Self>;
    /// `bias + a @ b` for 2-D `a` and `b`; `bias` is a contiguous row of `b`'s column count.
    fn addmm(bias: Option<View<'_, Self>>, a: View<'_, Self>, b: View<'_, Self>) -> Result<Self>;
}

/// 2-D convolution (contiguous NCHW operands).
pub trait ConvKernels: DeviceStorage {
    /// `conv2d(x, w) + bias`.
    fn conv2d_forward(
        x: View<'_, Self>,
        w: View<'_, Self>,
        bias: Option<View<'_, Self>>,
        geom: &ConvGeom,
    ) -> Result<Self> {
        let _ = (x, w, bias, geom);
        Err(no_kernel::<Self>("conv2d"))
    }
    /// The gradients `needs` asks for (input, weight, bias) from the output gradient `gy`; `x`
    /// is there when the weight gradient is needed, `w` when the input gradient is.
    fn conv2d_backward(
        gy: View<'_, Self>,
        x: Option<View<'_, Self>>,
        w: Option<View<'_, Self>>,
        geom: &ConvGeom,
        needs: ConvNeeds,
    ) -> Result<(Option<Self>, Option<Self>, Option<Self>)> {
        let _ = (gy, x, w, geom, needs);
        Err(no_kernel::<Self>("conv2d_backward"))
    }
}

/// Pooling and resampling over contiguous planes.
pub trait PoolKernels: DeviceStorage {
    /// The maxima and the int64 flat index of each within its plane.
    fn max_pool2d_forward(x: View<'_, Self>, geom: &MaxPoolGeom) -> Result<(Self, Self)> {
        let _ = (x, geom);
        Err(no_kernel::<Self>("max_pool2d"))
    }
    /// Each output gradient added at its argmax.
    fn max_pool2d_backward(
        gy: View<'_, Self>,
        indices: View<'_, Self>,
        geom: &MaxPoolGeom,
    ) -> Result<Self> {
        let _ = (gy, indices, geom);
        Err(no_kernel::<Self>("max_pool2d_backward"))
    }
    /// Average pooling (`forward`) or its adjoint.
    fn avg_pool2d(x: View<'_, Self>, geom: &AvgGeom, forward: bool) -> Result<Self> {
        let _ = (x, geom, forward);
        Err(no_kernel::<Self>("avg_pool2d"))
    }
    /// Nearest or bilinear resampling (`forward`) or its adjoint.
    fn resample(x: View<'_, Self>, geom: &ResampleGeom, forward: bool) -> Result<Self> {
        let _ = (x, geom, forward);
        Err(no_kernel::<Self>("upsample"))
    }
}

/// Gradients of a normalisation: input (when asked for), weight and bias.
pub type NormGrads<S> = (Option<S>, Option<S>, Option<S>);

/// Batch statistics (mean, `1 / sqrt(var + eps)`) and the updated running mean and variance.
pub type BatchStats<S> = ((S, S), (Option<S>, Option<S>));

/// Batch and layer normalisation over contiguous operands; statistics are float64.
pub trait NormKernels: DeviceStorage {
    /// Whether layer norm has fused kernels here; without them the op composes it from tensor
    /// ops (the same values, more kernels).
    const FUSED_LAYER_NORM: bool = false;

    /// Per-channel batch statistics: the mean and `1 / sqrt(var + eps)`, and the running mean
    /// and variance (given in `x`'s dtype) updated with `momentum`, the variance unbiased.
    fn batch_norm_stats(
        x: View<'_, Self>,
        geom: &NormGeom,
        running_mean: Option<View<'_, Self>>,
        running_var: Option<View<'_, Self>>,
        momentum: f64,
        eps: f64,
    ) -> Result<BatchStats<Self>> {
        let _ = (x, geom, running_mean, running_var, momentum, eps);
        Err(no_kernel::<Self>("batch_norm"))
    }
    /// The mean and `1 / sqrt(var + eps)` of running statistics (evaluation).
    fn batch_norm_running_stats(
        running_mean: View<'_, Self>,
        running_var: View<'_, Self>,
        eps: f64,
    ) -> Result<(Self, Self)> {
        let _ = (running_mean, running_var, eps);
        Err(no_kernel::<Self>("batch_norm"))
    }
    /// `(x - mean) * invstd * weight + bias`, per channel.
    fn batch_norm(
        x: View<'_, Self>,
        geom: &NormGeom,
        (mean, invstd): (View<'_, Self>, View<'_, Self>),
        weight: Option<View<'_, Self>>,
        bias: Option<View<'_, Self>>,
    ) -> Result<Self> {
        let _ = (x, geom, mean, invstd, weight, bias);
        Err(no_kernel::<Self>("batch_norm"))
    }
    /// The fused backward; with `training` the statistics were the batch's own.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_backward(
        gy: View<'_, Self>,
        x: View<'_, Self>,
        geom: &NormGeom,
        (mean, invstd): (View<'_, Self>, View<'_, Self>),
        weight: Option<View<'_, Self>>,
        training: bool,
        need_input: bool,
    ) -> Result<NormGrads<Self>> {
        let _ = (gy, x, geom, mean, invstd, weight, training, need_input);
        Err(no_kernel::<Self>("batch_norm_backward"))
    }
    /// Layer norm over rows of `d`: the output and each row's mean and `1 / sqrt(var + eps)`.
    fn layer_norm(
        x: View<'_, Self>,
        d: usize,
        eps: f64,
        weight: Option<View<'_, Self>>,
        bias: Option<View<'_, Self>>,
    ) -> Result<(Self, Self, Self)> {
        let _ = (x, d, eps, weight, bias);
        Err(no_kernel::<Self>("layer_norm"))
    }
    /// Its fused backward.
    fn layer_norm_backward(
        gy: View<'_, Self>,
        x: View<'_, Self>,
        d: usize,
        (mean, invstd): (View<'_, Self>, View<'_, Self>),
        weight: Option<View<'_, Self>>,
        need_input: bool,
    ) -> Result<NormGrads<Self>> {
        let _ = (gy, x, d, mean, invstd, weight, need_input);
        Err(no_kernel::<Self>("layer_norm_backward"))
    }
}

/// The gradient reaching each row of a class-target loss.
#[derive(Copy, Clone, Debug)]
pub enum Upstream<V> {
    /// One value for every row, known on the host.
    Scalar(f64),
    /// One value per row.
    Rows(V),
    /// One value for every row, in a one-element operand.
    Broadcast(V),
}

/// What the mean of a class-target loss divides by: the summed class weights of the rows not
/// ignored, totalled by the kernel, or per row (for the op to sum where the rows live).
#[derive(Clone, Debug)]
pub enum WeightSum<S> {
    Total(f64),
    // Only backends whose memory the host does not see leave the sums per row.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    Rows(S),
}

/// Losses over rows of class scores `(N, C, S)` and the pointwise losses; contiguous operands.
/// Class targets are int64; one out of range (and not `ignore_index`) is PyTorch's
/// `IndexError` ("Target 7 is out of bounds.").
pub trait LossKernels: DeviceStorage {
    /// Fused log-softmax + NLL: each row's loss and log-sum-exp, and what a mean divides by
    /// (class targets only). `target` is class indices, or probabilities of `x`'s shape when
    /// `prob`.
    fn cross_entropy(
        x: View<'_, Self>,
        target: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        geom: &RowGeom,
        prob: bool,
        opt: CeOptions,
    ) -> Result<(Self, Self, WeightSum<Self>)> {
        let _ = (x, target, weight, geom, prob, opt);
        Err(no_kernel::<Self>("cross_entropy"))
    }
    /// Its fused backward: the input gradient and, when `need_target`, the gradient of
    /// probability targets.
    #[allow(clippy::too_many_arguments)]
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
        let _ = (
            x,
            target,
            weight,
            lse,
            upstream,
            geom,
            prob,
            opt,
            need_target,
        );
        Err(no_kernel::<Self>("cross_entropy_backward"))
    }
    /// The constant coefficients of class targets (one-hot, smoothed, times the class weight),
    /// in `dtype` and the input's shape, for the differentiable backward.
    fn class_coefficients(
        target: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        dtype: DType,
        geom: &RowGeom,
        opt: CeOptions,
    ) -> Result<Self> {
        let _ = (target, weight, dtype, geom, opt);
        Err(no_kernel::<Self>("cross_entropy"))
    }
    /// NLL of log-probabilities: each row's loss, and what a mean divides by.
    fn nll_loss(
        x: View<'_, Self>,
        target: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        geom: &RowGeom,
        ignore_index: i64,
    ) -> Result<(Self, WeightSum<Self>)> {
        let _ = (x, target, weight, geom, ignore_index);
        Err(no_kernel::<Self>("nll_loss"))
    }
    /// Its backward, in `dtype`: `-weight[t] * upstream` at each row's target.
    fn nll_loss_backward(
        target: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        upstream: Upstream<View<'_, Self>>,
        dtype: DType,
        geom: &RowGeom,
        ignore_index: i64,
    ) -> Result<Self> {
        let _ = (target, weight, upstream, dtype, geom, ignore_index);
        Err(no_kernel::<Self>("nll_loss_backward"))
    }
    /// A pointwise loss of same-shape operands (optional weight and positive-class weight):
    /// per element, or their sum (one element) when `sum`.
    fn pointwise_loss(
        kind: PointLoss,
        x: View<'_, Self>,
        target: View<'_, Self>,
        weight: Option<View<'_, Self>>,
        pos_weight: Option<View<'_, Self>>,
        sum: bool,
    ) -> Result<Self> {
        let _ = (kind, x, target, weight, pos_weight, sum);
        Err(no_kernel::<Self>("loss"))
    }
}

/// The fused optimizer updates: one parameter and its state (distinct storages of one dtype)
/// written in place from its gradient, with PyTorch's formulas (crate::optim).
pub trait OptimKernels: DeviceStorage {
    fn sgd_update(
        param: ViewMut<'_, Self>,
        grad: View<'_, Self>,
        momentum_buffer: Option<ViewMut<'_, Self>>,
        first: bool,
        options: &SgdOptions,
    ) -> Result<()> {
        let _ = (param, grad, momentum_buffer, first, options);
        Err(no_kernel::<Self>("sgd"))
    }
    /// `state` is exp_avg, exp_avg_sq and (amsgrad) max_exp_avg_sq; `step` counts from 1.
    fn adam_update(
        param: ViewMut<'_, Self>,
        grad: View<'_, Self>,
        state: AdamState<'_, Self>,
        step: f64,
        options: &AdamOptions,
    ) -> Result<()> {
        let _ = (param, grad, state, step, options);
        Err(no_kernel::<Self>("adam"))
    }
}

/// What an Adam update writes besides the parameter.
pub type AdamState<'a, S> = (ViewMut<'a, S>, ViewMut<'a, S>, Option<ViewMut<'a, S>>);

/// Reading and writing at int64 positions. Positions come as the op got them (any layout,
/// negative ones counting from the end of their dim); each backend checks them against the dim
/// they index with PyTorch's `IndexError`: at once where the host sees them, else in the
/// kernels, which report the first bad one at the next synchronising call. Results are new
/// storages (a scatter writes into a copy of its base).
pub trait IndexKernels: DeviceStorage {
    /// Rows of `dim` of `src` picked by the 0-d or 1-D `index`.
    fn index_select(src: View<'_, Self>, dim: usize, index: View<'_, Self>) -> Result<Self> {
        let _ = (src, dim, index);
        Err(no_kernel::<Self>("index_select"))
    }
    /// `base` with `src` (`base`'s shape but `index.numel()` along `dim`) added at rows `index`.
    fn index_add(
        base: View<'_, Self>,
        dim: usize,
        index: View<'_, Self>,
        src: View<'_, Self>,
    ) -> Result<Self> {
        let _ = (base, dim, index, src);
        Err(no_kernel::<Self>("index_add"))
    }
    /// `out[i][j] = src[i][index[i][j]]` (for `dim` 1): the index's shape.
    fn gather(src: View<'_, Self>, dim: usize, index: View<'_, Self>) -> Result<Self> {
        let _ = (src, dim, index);
        Err(no_kernel::<Self>("gather"))
    }
    /// `base` with `src` (read at the index's coordinates) written, or added when `accumulate`,
    /// at `index` along `dim`.
    fn scatter(
        base: View<'_, Self>,
        dim: usize,
        index: View<'_, Self>,
        src: View<'_, Self>,
        accumulate: bool,
    ) -> Result<Self> {
        let _ = (base, dim, index, src, accumulate);
        Err(no_kernel::<Self>("scatter"))
    }
    /// Advanced indexing in leading form: `src` is `[I0, .., Ik-1, rest..]`, row `j` of the
    /// `[k, n]` int64 `positions` indexes its dim `j`; the result is `[n, rest..]`. `dims` are the
    /// user's dims that the leading ones were (for messages).
    fn index_leading(
        src: View<'_, Self>,
        positions: View<'_, Self>,
        dims: &[usize],
    ) -> Result<Self> {
        let _ = (src, positions, dims);
        Err(no_kernel::<Self>("index"))
    }
    /// Its inverse: `dst` (leading form) with `values` (`[b.., rest..]`, the `n` positions'
    /// broadcast shape `b` then the rest) written, or added when `accumulate`, at `positions`.
    fn index_put_leading(
        dst: View<'_, Self>,
        positions: View<'_, Self>,
        dims: &[usize],
        values: View<'_, Self>,
        accumulate: bool,
    ) -> Result<Self> {
        let _ = (dst, positions, dims, values, accumulate);
        Err(no_kernel::<Self>("index_put"))
    }
    /// The coordinates of the nonzero elements, `[count, ndim]` int64, and their count. The
    /// result's size depends on the data, so ops run this on a host copy (as PyTorch does).
    fn nonzero(x: View<'_, Self>) -> Result<(Self, Host<usize>)> {
        let _ = x;
        Err(no_kernel::<Self>("nonzero"))
    }
}
