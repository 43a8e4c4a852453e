//! Host side of kernels/nn.cu: cross-entropy and NLL (forward, fused backward, coefficients),
//! pointwise losses, and batch normalisation.

use std::sync::Arc;

use super::device::CudaDevice;
use super::launch::{float_kernel, grid_for, launch_1d, max_blocks, op_code, Args, Pod};
use super::nvrtc::NN;
use super::rt::LaunchDims;
use super::storage::{CudaStorage, Dv};
use crate::backend::geometry::{CeOptions, NormGeom, RowGeom};
use crate::backend::PointLoss;
use crate::error::Result;
use crate::storage::DType;

/// `RowGeo` in nn.cu.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
struct RowGeo {
    n: i64,
    c: i64,
    s: i64,
    ignore_index: i64,
    eps: f64,
    prob: i32,
    has_weight: i32,
}
// SAFETY: repr(C), numbers only.
unsafe impl Pod for RowGeo {}

/// The geometry of the NLL kernels: class targets, no label smoothing.
fn nll_geo(g: &RowGeom, ignore_index: i64, has_weight: bool) -> RowGeo {
    let opt = CeOptions {
        ignore_index,
        label_smoothing: 0.0,
    };
    row_geo(g, opt, false, has_weight)
}

fn row_geo(g: &RowGeom, opt: CeOptions, prob: bool, has_weight: bool) -> RowGeo {
    RowGeo {
        n: g.n as i64,
        c: g.c as i64,
        s: g.s as i64,
        ignore_index: opt.ignore_index,
        eps: opt.label_smoothing,
        prob: prob as i32,
        has_weight: has_weight as i32,
    }
}

/// One warp per row: blocks of 256 threads (8 rows each).
fn warp_rows(dev: &CudaDevice, name: &'static str, rows: usize, a: &mut Args) -> Result<()> {
    if rows == 0 {
        return Ok(());
    }
    let dims = LaunchDims {
        grid: [
            grid_for(rows * 32, 256, max_blocks(dev.props().sm_count)),
            1,
            1,
        ],
        block: [256, 1, 1],
        smem: 0,
    };
    dev.launch(&NN, name, dims, a)
}

fn opt_ptr(d: Option<Dv<'_>>) -> u64 {
    d.map_or(0, |d| d.ptr())
}

/// The leading arguments of the fused cross-entropy kernels: `(geo, x, class target, probability
/// target, weight)`, the unused target null.
fn ce_args(
    g: &RowGeom,
    opt: CeOptions,
    prob: bool,
    x: Dv<'_>,
    target: Dv<'_>,
    weight: Option<Dv<'_>>,
) -> Args {
    let mut a = Args::new();
    a.pod(&row_geo(g, opt, prob, weight.is_some()))
        .ptr(x.ptr())
        .ptr(if prob { 0 } else { target.ptr() })
        .ptr(if prob { target.ptr() } else { 0 })
        .ptr(opt_ptr(weight));
    a
}

/// Per-row loss, log-sum-exp and weight of a fused cross-entropy.
pub(crate) struct CeRows {
    pub loss: CudaStorage,
    pub lse: CudaStorage,
    pub weight: CudaStorage,
}

/// Cross-entropy forward; `target` is int64 class indices (rows) or probabilities (the input's shape).
pub(crate) fn ce_forward(
    x: Dv<'_>,
    target: Dv<'_>,
    weight: Option<Dv<'_>>,
    g: &RowGeom,
    prob: bool,
    opt: CeOptions,
) -> Result<CeRows> {
    let dev = x.s.device();
    let dtype = x.s.dtype();
    let name = float_kernel(["ce_fwd_f32", "ce_fwd_f64"], dtype, "cross_entropy")?;
    let rows = g.rows();
    let out = CeRows {
        loss: CudaStorage::alloc(dev, dtype, rows)?,
        lse: CudaStorage::alloc(dev, dtype, rows)?,
        weight: CudaStorage::alloc(dev, dtype, rows)?,
    };
    let mut a = ce_args(g, opt, prob, x, target, weight);
    a.ptr(out.loss.ptr())
        .ptr(out.lse.ptr())
        .ptr(out.weight.ptr())
        .ptr(dev.status_ptr());
    warp_rows(dev, name, rows, &mut a)?;
    Ok(out)
}

/// The fused backward: (dx, dtarget when asked for probability targets). `up` holds the upstream
/// gradient per row (`up_stride` 1) or one value (`up_stride` 0), already scaled for the mean.
#[allow(clippy::too_many_arguments)]
pub(crate) fn ce_backward(
    x: Dv<'_>,
    target: Dv<'_>,
    weight: Option<Dv<'_>>,
    lse: Dv<'_>,
    up: Dv<'_>,
    up_stride: usize,
    g: &RowGeom,
    prob: bool,
    opt: CeOptions,
    need_target: bool,
) -> Result<(CudaStorage, Option<CudaStorage>)> {
    let dev = x.s.device();
    let dtype = x.s.dtype();
    let name = float_kernel(
        ["ce_bwd_f32", "ce_bwd_f64"],
        dtype,
        "cross_entropy_backward",
    )?;
    let numel = g.n * g.c * g.s;
    let dx = CudaStorage::alloc(dev, dtype, numel)?;
    let dt = if prob && need_target {
        Some(CudaStorage::alloc(dev, dtype, numel)?)
    } else {
        None
    };
    let mut a = ce_args(g, opt, prob, x, target, weight);
    a.ptr(lse.ptr())
        .ptr(up.ptr())
        .usize(up_stride)
        .ptr(dx.ptr())
        .ptr(dt.as_ref().map_or(0, |d| d.ptr()));
    warp_rows(dev, name, g.rows(), &mut a)?;
    Ok((dx, dt))
}

/// The coefficients `a` of class targets (the input's shape), for the differentiable backward.
pub(crate) fn ce_coefficients(
    dev: &Arc<CudaDevice>,
    dtype: DType,
    target: Dv<'_>,
    weight: Option<Dv<'_>>,
    g: &RowGeom,
    opt: CeOptions,
) -> Result<CudaStorage> {
    let name = float_kernel(["ce_coef_f32", "ce_coef_f64"], dtype, "cross_entropy")?;
    let numel = g.n * g.c * g.s;
    let out = CudaStorage::alloc(dev, dtype, numel)?;
    let rg = row_geo(g, opt, false, weight.is_some());
    let mut a = Args::new();
    a.pod(&rg)
        .ptr(target.ptr())
        .ptr(opt_ptr(weight))
        .ptr(out.ptr());
    launch_1d(dev, &NN, name, numel, &mut a)?;
    Ok(out)
}

/// NLL forward: (per-row loss, per-row weight).
pub(crate) fn nll_forward(
    x: Dv<'_>,
    target: Dv<'_>,
    weight: Option<Dv<'_>>,
    g: &RowGeom,
    ignore_index: i64,
) -> Result<(CudaStorage, CudaStorage)> {
    let dev = x.s.device();
    let dtype = x.s.dtype();
    let name = float_kernel(["nll_fwd_f32", "nll_fwd_f64"], dtype, "nll_loss_out_frame")?;
    let rows = g.rows();
    let loss = CudaStorage::alloc(dev, dtype, rows)?;
    let wrow = CudaStorage::alloc(dev, dtype, rows)?;
    let mut a = Args::new();
    a.pod(&nll_geo(g, ignore_index, weight.is_some()))
        .ptr(x.ptr())
        .ptr(target.ptr())
        .ptr(opt_ptr(weight))
        .ptr(loss.ptr())
        .ptr(wrow.ptr())
        .ptr(dev.status_ptr());
    launch_1d(dev, &NN, name, rows, &mut a)?;
    Ok((loss, wrow))
}

/// NLL backward: `-w_t * up_r` at each row's target.
#[allow(clippy::too_many_arguments)]
pub(crate) fn nll_backward(
    dev: &Arc<CudaDevice>,
    dtype: DType,
    target: Dv<'_>,
    weight: Option<Dv<'_>>,
    up: Dv<'_>,
    up_stride: usize,
    g: &RowGeom,
    ignore_index: i64,
) -> Result<CudaStorage> {
    let name = float_kernel(["nll_bwd_f32", "nll_bwd_f64"], dtype, "nll_loss_backward")?;
    let dx = CudaStorage::zeros(dev, dtype, g.n * g.c * g.s)?;
    let mut a = Args::new();
    a.pod(&nll_geo(g, ignore_index, weight.is_some()))
        .ptr(target.ptr())
        .ptr(opt_ptr(weight))
        .ptr(up.ptr())
        .usize(up_stride)
        .ptr(dx.ptr());
    launch_1d(dev, &NN, name, g.rows(), &mut a)?;
    Ok(dx)
}

/// The kernel's `kind` (`PointKind`, by name).
pub(super) fn point_code(kind: PointLoss) -> i32 {
    match kind {
        PointLoss::Mse => op_code!(POINT_LOSS, "P_MSE"),
        PointLoss::L1 => op_code!(POINT_LOSS, "P_L1"),
        PointLoss::Bce => op_code!(POINT_LOSS, "P_BCE"),
        PointLoss::BceWithLogits => op_code!(POINT_LOSS, "P_BCE_LOGITS"),
    }
}

/// Per-element pointwise loss of same-shape contiguous operands.
pub(crate) fn point_loss(
    kind: PointLoss,
    x: Dv<'_>,
    t: Dv<'_>,
    w: Option<Dv<'_>>,
    pw: Option<Dv<'_>>,
    n: usize,
) -> Result<CudaStorage> {
    let dev = x.s.device();
    let dtype = x.s.dtype();
    let name = float_kernel(["point_loss_f32", "point_loss_f64"], dtype, "loss")?;
    let out = CudaStorage::alloc(dev, dtype, n)?;
    let mut a = Args::new();
    a.i32(point_code(kind))
        .usize(n)
        .ptr(x.ptr())
        .ptr(t.ptr())
        .ptr(opt_ptr(w))
        .ptr(opt_ptr(pw))
        .ptr(out.ptr())
        .ptr(dev.status_ptr());
    launch_1d(dev, &NN, name, n, &mut a)?;
    Ok(out)
}

// ----- batch normalisation -------------------------------------------------------------------

/// `NormGeo` in nn.cu.
#[repr(C)]
#[derive(Copy, Clone)]
struct NormGeo {
    n: i64,
    c: i64,
    s: i64,
}
// SAFETY: repr(C), integers only.
unsafe impl Pod for NormGeo {}

fn norm_geo(g: &NormGeom) -> NormGeo {
    NormGeo {
        n: g.n as i64,
        c: g.c as i64,
        s: g.s as i64,
    }
}

/// Per-channel statistics in double: mean and invstd.
pub(crate) struct BnStats {
    pub mean: CudaStorage,
    pub invstd: CudaStorage,
}

fn per_channel(
    dev: &CudaDevice,
    name: &'static str,
    c: usize,
    block: u32,
    a: &mut Args,
) -> Result<()> {
    if c == 0 {
        return Ok(());
    }
    let dims = LaunchDims {
        grid: [c.min(65_535) as u32, 1, 1],
        block: [block, 1, 1],
        smem: 0,
    };
    dev.launch(&NN, name, dims, a)
}

/// Batch statistics, and new running statistics (`rm`, `rv`: contiguous; the returned storages
/// hold their updated values for the caller to copy in).
#[allow(clippy::type_complexity)]
pub(crate) fn bn_train_stats(
    x: Dv<'_>,
    g: &NormGeom,
    running: (Option<Dv<'_>>, Option<Dv<'_>>),
    momentum: f64,
    eps: f64,
) -> Result<(BnStats, Option<CudaStorage>, Option<CudaStorage>)> {
    let dev = x.s.device();
    let dtype = x.s.dtype();
    let stats_name = float_kernel(["bn_stats_f32", "bn_stats_f64"], dtype, "batch_norm")?;
    let update_name = float_kernel(["bn_update_f32", "bn_update_f64"], dtype, "batch_norm")?;
    let mean = CudaStorage::alloc(dev, DType::F64, g.c)?;
    let var = CudaStorage::alloc(dev, DType::F64, g.c)?;
    let mut a = Args::new();
    a.pod(&norm_geo(g))
        .ptr(x.ptr())
        .ptr(mean.ptr())
        .ptr(var.ptr());
    per_channel(dev, stats_name, g.c, 256, &mut a)?;
    let (rm, rv) = running;
    let nrm = rm
        .map(|_| CudaStorage::alloc(dev, dtype, g.c))
        .transpose()?;
    let nrv = rv
        .map(|_| CudaStorage::alloc(dev, dtype, g.c))
        .transpose()?;
    let invstd = CudaStorage::alloc(dev, DType::F64, g.c)?;
    let mut a = Args::new();
    a.usize(g.c)
        .ptr(mean.ptr())
        .ptr(var.ptr())
        .ptr(opt_ptr(rm))
        .ptr(opt_ptr(rv))
        .ptr(nrm.as_ref().map_or(0, |s| s.ptr()))
        .ptr(nrv.as_ref().map_or(0, |s| s.ptr()))
        .f64(momentum)
        .f64(g.m() as f64)
        .f64(eps)
        .ptr(invstd.ptr());
    launch_1d(dev, &NN, update_name, g.c, &mut a)?;
    Ok((BnStats { mean, invstd }, nrm, nrv))
}

/// Statistics from the running mean and variance (evaluation).
pub(crate) fn bn_eval_stats(rm: Dv<'_>, rv: Dv<'_>, c: usize, eps: f64) -> Result<BnStats> {
    let dev = rm.s.device();
    let name = float_kernel(
        ["bn_eval_stats_f32", "bn_eval_stats_f64"],
        rm.s.dtype(),
        "batch_norm",
    )?;
    let mean = CudaStorage::alloc(dev, DType::F64, c)?;
    let invstd = CudaStorage::alloc(dev, DType::F64, c)?;
    let mut a = Args::new();
    a.usize(c)
        .ptr(rm.ptr())
        .ptr(rv.ptr())
        .f64(eps)
        .ptr(mean.ptr())
        .ptr(invstd.ptr());
    launch_1d(dev, &NN, name, c, &mut a)?;
    Ok(BnStats { mean, invstd })
}

/// `y = (x - mean) * invstd * w + b`.
pub(crate) fn bn_normalize(
    x: Dv<'_>,
    g: &NormGeom,
    stats: (Dv<'_>, Dv<'_>),
    w: Option<Dv<'_>>,
    b: Option<Dv<'_>>,
) -> Result<CudaStorage> {
    let dev = x.s.device();
    let name = float_kernel(["bn_norm_f32", "bn_norm_f64"], x.s.dtype(), "batch_norm")?;
    let n = g.n * g.c * g.s;
    let y = CudaStorage::alloc(dev, x.s.dtype(), n)?;
    let mut a = Args::new();
    a.pod(&norm_geo(g))
        .ptr(x.ptr())
        .ptr(stats.0.ptr())
        .ptr(stats.1.ptr())
        .ptr(opt_ptr(w))
        .ptr(opt_ptr(b))
        .ptr(y.ptr());
    launch_1d(dev, &NN, name, n, &mut a)?;
    Ok(y)
}

/// The fused backward: (dx when asked, dweight, dbias) — dweight and dbias as the input's dtype.
#[allow(clippy::type_complexity)]
pub(crate) fn bn_backward(
    gy: Dv<'_>,
    x: Dv<'_>,
    g: &NormGeom,
    stats: (Dv<'_>, Dv<'_>),
    w: Option<Dv<'_>>,
    training: bool,
    need_input: bool,
) -> Result<(Option<CudaStorage>, CudaStorage, CudaStorage)> {
    let dev = x.s.device();
    let dtype = x.s.dtype();
    let sums_name = float_kernel(
        ["bn_bwd_sums_f32", "bn_bwd_sums_f64"],
        dtype,
        "batch_norm_backward",
    )?;
    let input_name = float_kernel(
        ["bn_bwd_input_f32", "bn_bwd_input_f64"],
        dtype,
        "batch_norm_backward",
    )?;
    let params_name = float_kernel(
        ["bn_bwd_params_f32", "bn_bwd_params_f64"],
        dtype,
        "batch_norm_backward",
    )?;
    let sum_g = CudaStorage::alloc(dev, DType::F64, g.c)?;
    let dot = CudaStorage::alloc(dev, DType::F64, g.c)?;
    let mut a = Args::new();
    a.pod(&norm_geo(g))
        .ptr(gy.ptr())
        .ptr(x.ptr())
        .ptr(stats.0.ptr())
        .ptr(sum_g.ptr())
        .ptr(dot.ptr());
    per_channel(dev, sums_name, g.c, 256, &mut a)?;
    let n = g.n * g.c * g.s;
    let dx = if need_input {
        let dx = CudaStorage::alloc(dev, dtype, n)?;
        let mut a = Args::new();
        a.pod(&norm_geo(g))
            .ptr(gy.ptr())
            .ptr(x.ptr())
            .ptr(stats.0.ptr())
            .ptr(stats.1.ptr())
            .ptr(sum_g.ptr())
            .ptr(dot.ptr())
            .ptr(opt_ptr(w))
            .i32(training as i32)
            .ptr(dx.ptr());
        launch_1d(dev, &NN, input_name, n, &mut a)?;
        Some(dx)
    } else {
        None
    };
    let gw = CudaStorage::alloc(dev, dtype, g.c)?;
    let gb = CudaStorage::alloc(dev, dtype, g.c)?;
    let mut a = Args::new();
    a.usize(g.c)
        .ptr(sum_g.ptr())
        .ptr(dot.ptr())
        .ptr(stats.1.ptr())
        .ptr(gw.ptr())
        .ptr(gb.ptr());
    launch_1d(dev, &NN, params_name, g.c, &mut a)?;
    Ok((dx, gw, gb))
}
