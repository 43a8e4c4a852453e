//! Host side of kernels/optim.cu: the fused SGD and Adam updates of one contiguous parameter.

use super::conv::Dv;
use super::elementwise::launch_1d;
use super::launch::{Args, Pod};
use super::nvrtc::OPTIM;
use crate::backend::cpu::nn::not_implemented_for;
use crate::error::Result;
use crate::storage::DType;

/// `SgdParams` in optim.cu.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub(crate) struct SgdParams {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub maximize: i32,
    pub nesterov: i32,
    pub first: i32,
    pub has_buf: i32,
}
// SAFETY: repr(C), numbers only.
unsafe impl Pod for SgdParams {}

/// `AdamParams` in optim.cu.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub(crate) struct AdamParams {
    pub weight_decay: f64,
    pub decay: f64,
    pub lerp_weight: f64,
    pub beta2: f64,
    pub one_minus_beta2: f64,
    pub bias_correction2_sqrt: f64,
    pub eps: f64,
    pub neg_step_size: f64,
    pub maximize: i32,
    pub wd_mode: i32,
    pub lerp_small: i32,
    pub amsgrad: i32,
}
// SAFETY: repr(C), numbers only.
unsafe impl Pod for AdamParams {}

fn name(dtype: DType, f32n: &'static str, f64n: &'static str) -> Result<&'static str> {
    match dtype {
        DType::F32 => Ok(f32n),
        DType::F64 => Ok(f64n),
        other => Err(not_implemented_for("_fused_sgd", other)),
    }
}

/// One SGD update of `n` contiguous elements.
pub(crate) fn sgd(
    q: &SgdParams,
    n: usize,
    p: Dv<'_>,
    g: Dv<'_>,
    buf: Option<Dv<'_>>,
) -> Result<()> {
    let dev = p.s.device();
    let mut a = Args::new();
    a.pod(q)
        .usize(n)
        .ptr(p.ptr())
        .ptr(g.ptr())
        .ptr(buf.map_or(0, |b| b.ptr()));
    launch_1d(
        dev,
        &OPTIM,
        name(p.s.dtype(), "sgd_f32", "sgd_f64")?,
        n,
        &mut a,
    )
}

/// One Adam update of `n` contiguous elements.
pub(crate) fn adam(
    q: &AdamParams,
    n: usize,
    p: Dv<'_>,
    g: Dv<'_>,
    m: Dv<'_>,
    v: Dv<'_>,
    vmax: Option<Dv<'_>>,
) -> Result<()> {
    let dev = p.s.device();
    let mut a = Args::new();
    a.pod(q)
        .usize(n)
        .ptr(p.ptr())
        .ptr(g.ptr())
        .ptr(m.ptr())
        .ptr(v.ptr())
        .ptr(vmax.map_or(0, |b| b.ptr()));
    launch_1d(
        dev,
        &OPTIM,
        name(p.s.dtype(), "adam_f32", "adam_f64")?,
        n,
        &mut a,
    )
}
