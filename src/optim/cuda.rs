//! The fused updates on a CUDA device: one kernel per parameter (kernels/optim.cu), under the
//! step's locks. Strided parameters or states are updated through contiguous copies that are
//! written back.

use super::adam::AdamOptions;
use super::sgd::SgdOptions;
use super::{Locks, Operand};
use crate::backend::cuda::{self, optim as k, CudaStorage, Dv};
use crate::error::Result;
use crate::tensor::Layout;

/// A contiguous view of an operand: itself, or a copy written back by `finish`.
struct DevWork<'a> {
    target: &'a CudaStorage,
    layout: Layout,
    copy: Option<CudaStorage>,
    off: usize,
}

impl<'a> DevWork<'a> {
    fn new(target: &'a CudaStorage, layout: &Layout) -> Result<Self> {
        Ok(match layout.contiguous_range() {
            Some(r) => DevWork {
                target,
                layout: layout.clone(),
                copy: None,
                off: r.start,
            },
            None => DevWork {
                target,
                layout: layout.clone(),
                copy: Some(cuda::cast(target, layout, target.dtype())?),
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
            cuda::elementwise::copy_strided(
                self.target,
                &self.layout,
                c,
                &Layout::contiguous(self.layout.shape()),
            )?;
        }
        Ok(())
    }
}

pub(crate) fn sgd(
    locks: &Locks<'_>,
    p: &Operand,
    g: &Operand,
    buf: Option<&Operand>,
    first: bool,
    o: &SgdOptions,
) -> Result<()> {
    let pw = DevWork::new(locks.cuda_write(p)?, &p.layout)?;
    let gw = DevWork::new(locks.cuda_read(g)?, &g.layout)?;
    let bw = match buf {
        Some(b) => Some(DevWork::new(locks.cuda_write(b)?, &b.layout)?),
        None => None,
    };
    let q = k::SgdParams {
        lr: o.lr,
        momentum: o.momentum,
        dampening: o.dampening,
        weight_decay: o.weight_decay,
        maximize: o.maximize as i32,
        nesterov: o.nesterov as i32,
        first: first as i32,
        has_buf: bw.is_some() as i32,
    };
    k::sgd(
        &q,
        p.layout.numel(),
        pw.dv(),
        gw.dv(),
        bw.as_ref().map(|b| b.dv()),
    )?;
    pw.finish()?;
    if let Some(b) = bw {
        b.finish()?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn adam(
    locks: &Locks<'_>,
    p: &Operand,
    g: &Operand,
    m: &Operand,
    v: &Operand,
    vmax: Option<&Operand>,
    step: f64,
    o: &AdamOptions,
) -> Result<()> {
    let pw = DevWork::new(locks.cuda_write(p)?, &p.layout)?;
    let gw = DevWork::new(locks.cuda_read(g)?, &g.layout)?;
    let mw = DevWork::new(locks.cuda_write(m)?, &m.layout)?;
    let vw = DevWork::new(locks.cuda_write(v)?, &v.layout)?;
    let vmw = match vmax {
        Some(x) => Some(DevWork::new(locks.cuda_write(x)?, &x.layout)?),
        None => None,
    };
    // The scalars as the CPU computes them (in double; the kernel casts to the element type).
    let (beta1, beta2) = o.betas;
    let bias_correction1 = 1.0 - beta1.powf(step);
    let bias_correction2 = 1.0 - beta2.powf(step);
    let weight = 1.0 - beta1;
    let has_wd = o.weight_decay != 0.0;
    let q = k::AdamParams {
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
    k::adam(
        &q,
        p.layout.numel(),
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
