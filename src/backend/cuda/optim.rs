//! Host side of kernels/optim.cu: the fused SGD and Adam updates of one contiguous parameter.

use super::elementwise::{cast, copy_strided};
use super::launch::{float_kernel, launch_1d, Args, Pod};
use super::nvrtc::OPTIM;
use super::storage::{CudaStorage, Dv};
use crate::backend::dispatch::{View, ViewMut};
use crate::backend::kernels::AdamState;
use crate::error::Result;
use crate::optim::{AdamOptions, SgdOptions};
use crate::tensor::Layout;

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

/// A contiguous view of an operand: itself, or a copy written back by `finish`.
struct DevWork<'a> {
    target: &'a CudaStorage,
    layout: &'a Layout,
    copy: Option<CudaStorage>,
    off: usize,
}

impl<'a> DevWork<'a> {
    fn new(target: &'a CudaStorage, layout: &'a Layout) -> Result<Self> {
        Ok(match layout.contiguous_range() {
            Some(r) => DevWork {
                target,
                layout,
                copy: None,
                off: r.start,
            },
            None => DevWork {
                target,
                layout,
                copy: Some(cast(target, layout, target.dtype())?),
                off: 0,
            },
        })
    }

    fn dv(&self) -> Dv<'_> {
        match &self.copy {
            Some(c) => Dv { s: c, off: 0 },
            None => Dv {
                s: self.target,
                off: self.off,
            },
        }
    }

    fn finish(self) -> Result<()> {
        if let Some(c) = &self.copy {
            copy_strided(
                self.target,
                self.layout,
                c,
                &Layout::contiguous(self.layout.shape()),
            )?;
        }
        Ok(())
    }
}

/// One SGD update of a parameter (and its momentum buffer) from its gradient.
pub(crate) fn sgd_update(
    p: ViewMut<'_, CudaStorage>,
    g: View<'_, CudaStorage>,
    buf: Option<ViewMut<'_, CudaStorage>>,
    first: bool,
    o: &SgdOptions,
) -> Result<()> {
    let n = p.layout.numel();
    let pw = DevWork::new(p.storage, p.layout)?;
    let gw = DevWork::new(g.storage, g.layout)?;
    let bw = match &buf {
        Some(b) => Some(DevWork::new(b.storage, b.layout)?),
        None => None,
    };
    let q = SgdParams {
        lr: o.lr,
        momentum: o.momentum,
        dampening: o.dampening,
        weight_decay: o.weight_decay,
        maximize: o.maximize as i32,
        nesterov: o.nesterov as i32,
        first: first as i32,
        has_buf: bw.is_some() as i32,
    };
    sgd(&q, n, pw.dv(), gw.dv(), bw.as_ref().map(|b| b.dv()))?;
    pw.finish()?;
    if let Some(b) = bw {
        b.finish()?;
    }
    Ok(())
}

/// One Adam / AdamW update of a parameter and its state from its gradient.
pub(crate) fn adam_update(
    p: ViewMut<'_, CudaStorage>,
    g: View<'_, CudaStorage>,
    (m, v, vmax): AdamState<'_, CudaStorage>,
    step: f64,
    o: &AdamOptions,
) -> Result<()> {
    let n = p.layout.numel();
    let pw = DevWork::new(p.storage, p.layout)?;
    let gw = DevWork::new(g.storage, g.layout)?;
    let mw = DevWork::new(m.storage, m.layout)?;
    let vw = DevWork::new(v.storage, v.layout)?;
    let vmw = match &vmax {
        Some(x) => Some(DevWork::new(x.storage, x.layout)?),
        None => None,
    };
    // The scalars as the CPU computes them (in double; the kernel casts to the element type).
    let (beta1, beta2) = o.betas;
    let bias_correction1 = 1.0 - beta1.powf(step);
    let bias_correction2 = 1.0 - beta2.powf(step);
    let weight = 1.0 - beta1;
    let has_wd = o.weight_decay != 0.0;
    let q = AdamParams {
        weight_decay: o.weight_decay,
        decay: 1.0 - o.lr * o.weight_decay,
        lerp_weight: weight,
        beta2,
        one_minus_beta2: 1.0 - beta2,
        bias_correction2_sqrt: bias_correction2.powf(0.5),
        eps: o.eps,
        neg_step_size: -(o.lr / bias_correction1),
        maximize: o.maximize as i32,
        wd_mode: if has_wd && o.decoupled_weight_decay {
            2
        } else if has_wd {
            1
        } else {
            0
        },
        lerp_small: (weight.abs() < 0.5) as i32,
        amsgrad: vmw.is_some() as i32,
    };
    adam(
        &q,
        n,
        pw.dv(),
        gw.dv(),
        mw.dv(),
        vw.dv(),
        vmw.as_ref().map(|x| x.dv()),
    )?;
    pw.finish()?;
    mw.finish()?;
    vw.finish()?;
    if let Some(x) = vmw {
        x.finish()?;
    }
    Ok(())
}
