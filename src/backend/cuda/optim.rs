//! Host side of kernels/optim.cu: the fused SGD and Adam updates of one contiguous parameter.

use super::launch::{float_kernel, launch_1d, Args, Pod};
use super::nvrtc::OPTIM;
use super::storage::Dv;
use crate::error::Result;

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

/// Launches an update kernel over `n` contiguous elements of the parameter `p`, with the
/// arguments `(params, n, p, ...)`: `ptrs` start with `p`.
fn launch_update<Q: Pod>(
    q: &Q,
    n: usize,
    p: Dv<'_>,
    name: &'static str,
    ptrs: &[u64],
) -> Result<()> {
    let mut a = Args::new();
    a.pod(q).usize(n);
    for &ptr in ptrs {
        a.ptr(ptr);
    }
    launch_1d(p.s.device(), &OPTIM, name, n, &mut a)
}

/// One SGD update of `n` contiguous elements.
pub(crate) fn sgd(
    q: &SgdParams,
    n: usize,
    p: Dv<'_>,
    g: Dv<'_>,
    buf: Option<Dv<'_>>,
) -> Result<()> {
    let ptrs = [p.ptr(), g.ptr(), buf.map_or(0, |b| b.ptr())];
    let name = float_kernel(["sgd_f32", "sgd_f64"], p.s.dtype(), "_fused_sgd")?;
    launch_update(q, n, p, name, &ptrs)
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
    let vmax = vmax.map_or(0, |b| b.ptr());
    let ptrs = [p.ptr(), g.ptr(), m.ptr(), v.ptr(), vmax];
    let name = float_kernel(["adam_f32", "adam_f64"], p.s.dtype(), "_fused_sgd")?;
    launch_update(q, n, p, name, &ptrs)
}
