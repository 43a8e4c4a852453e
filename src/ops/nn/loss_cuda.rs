//! The losses on a CUDA device: the same ops as loss.rs (same checks, done there; same node names
//! and formulas), with every reduction and denominator kept on the device, so a training step never
//! waits for the host. Class targets are checked by the kernels, which report the first bad one
//! (PyTorch's IndexError) at the next synchronising call.

use crate::autograd::{grad0, is_grad_enabled, no_grad, record, Saved};
use crate::backend::cpu::nn::loss::{CeOptions, PointLoss, RowGeom};
use crate::backend::cuda;
use crate::error::Result;
use crate::ops::nn::{cuda_tensor, kernel_operand, run_cuda, Reduction};
use crate::tensor::Tensor;

/// What a mean divides by: a constant (rows of probability targets, elements) or a device scalar
/// (the summed class weights of class targets, which depend on the data).
#[derive(Clone)]
pub(crate) enum Denom {
    Const(f64),
    Device(Tensor),
}

impl Denom {
    fn divide(&self, t: &Tensor) -> Result<Tensor> {
        match self {
            Denom::Const(c) => t.mul_scalar(1.0 / c),
            Denom::Device(d) => t.div(d),
        }
    }
}

/// Per-row losses reduced on the device.
fn reduce_rows(rows: Tensor, reduction: Reduction, denom: &Denom) -> Result<Tensor> {
    no_grad(|| match reduction {
        Reduction::None => Ok(rows),
        Reduction::Sum => rows.sum(),
        Reduction::Mean => denom.divide(&rows.sum()?),
    })
}

/// The upstream gradient as the fused kernels read it: per row (stride 1) or one value (stride 0).
fn upstream(g: &Tensor, reduction: Reduction, denom: &Denom) -> Result<(Tensor, usize)> {
    match reduction {
        Reduction::None => Ok((kernel_operand(g)?, 1)),
        Reduction::Sum => Ok((kernel_operand(g)?, 0)),
        Reduction::Mean => Ok((kernel_operand(&no_grad(|| denom.divide(g))?)?, 0)),
    }
}

/// `g` scaled for the reduction and shaped to broadcast over the class dim (differentiable).
fn upstream_tensor(
    g: &Tensor,
    reduction: Reduction,
    denom: &Denom,
    class_dim: i64,
) -> Result<Tensor> {
    match reduction {
        Reduction::None => g.unsqueeze(class_dim),
        Reduction::Sum => Ok(g.clone()),
        Reduction::Mean => denom.divide(g),
    }
}

/// Arguments of the fused cross-entropy shared by forward and backward.
pub(crate) struct CeArgs {
    pub geom: RowGeom,
    pub opt: CeOptions,
    pub prob: bool,
    pub reduction: Reduction,
    pub rows_shape: Vec<usize>,
    pub class_dim: i64,
}

/// Fused log-softmax + NLL on the device. `xc` is the contiguous input, `tc` the contiguous target
/// (int64 classes, or probabilities in the input's dtype), `wc` the contiguous class weights.
pub(crate) fn cross_entropy(
    input: &Tensor,
    target_live: &Tensor,
    xc: &Tensor,
    tc: &Tensor,
    wc: Option<Tensor>,
    a: CeArgs,
) -> Result<Tensor> {
    let mut operands = vec![xc, tc];
    operands.extend(wc.as_ref());
    let (geom, opt, prob) = (a.geom, a.opt, a.prob);
    let rows = run_cuda("cross_entropy", &operands, |s| {
        cuda::nn::ce_forward(s[0], s[1], s.get(2).copied(), &geom, prob, opt)
    })?;
    let n_rows = geom.rows();
    let loss_rows = cuda_tensor(rows.loss, &a.rows_shape);
    let lse = cuda_tensor(rows.lse, &[n_rows]);
    let denom = if prob {
        Denom::Const(n_rows as f64)
    } else {
        Denom::Device(no_grad(|| cuda_tensor(rows.weight, &[n_rows]).sum())?)
    };
    let out = reduce_rows(loss_rows, a.reduction, &denom)?;
    let inputs: Vec<&Tensor> = if prob {
        vec![input, target_live]
    } else {
        vec![input]
    };
    let name = if prob {
        "CrossEntropyLossBackward0"
    } else {
        "NllLossBackward0"
    };
    let has_w = wc.is_some();
    let (reduction, class_dim) = (a.reduction, a.class_dim);
    let tsaved = tc.clone();
    record(
        name,
        &inputs,
        &[&out],
        || {
            let t = if prob {
                Saved::Input(1)
            } else {
                Saved::Aux(tsaved.clone())
            };
            let mut saved = vec![Saved::Input(0), t, Saved::Aux(lse)];
            if let Some(w) = &wc {
                saved.push(Saved::Aux(w.clone()));
            }
            saved
        },
        move |ctx, grads| {
            let (x, t, lse) = (ctx.saved(0), ctx.saved(1), ctx.saved(2));
            let w = if has_w { Some(ctx.saved(3)) } else { None };
            let g = grad0(grads)?.to_dtype(x.dtype())?;
            let need_t = prob && ctx.needs_input_grad(1);
            let eps = opt.label_smoothing;
            if is_grad_enabled() {
                let gb = upstream_tensor(&g, reduction, &denom, class_dim)?;
                let nd = x.ndim();
                let mut bshape = vec![1usize; nd];
                bshape[class_dim as usize] = geom.c;
                let wb = w.map(|w| w.reshape_dims(&bshape)).transpose()?;
                let coef = if prob {
                    let smoothed = t.mul_scalar(1.0 - eps)?.add_scalar(eps / geom.c as f64)?;
                    match &wb {
                        Some(wb) => smoothed.mul(wb)?,
                        None => smoothed,
                    }
                } else {
                    let tc = kernel_operand(t)?;
                    let mut ops = vec![&tc];
                    ops.extend(w);
                    let dev = x.device();
                    let data = run_cuda("cross_entropy_backward", &ops, |s| {
                        let d = cuda::elementwise::device_of(dev)?;
                        cuda::nn::ce_coefficients(
                            &d,
                            x.dtype(),
                            s[0],
                            s.get(1).copied(),
                            &geom,
                            opt,
                        )
                    })?;
                    cuda_tensor(data, &x.shape())
                };
                let p = x.softmax(class_dim)?;
                let gx = gb.mul(&p.mul(&coef.sum_dims(&[class_dim], true)?)?.sub(&coef)?)?;
                let mut out = vec![Some(gx)];
                if prob {
                    out.push(if need_t {
                        let lp = x.log_softmax(class_dim)?.mul_scalar(-(1.0 - eps))?;
                        let lp = match &wb {
                            Some(wb) => lp.mul(wb)?,
                            None => lp,
                        };
                        Some(gb.mul(&lp)?)
                    } else {
                        None
                    });
                }
                return Ok(out);
            }
            let (up, stride) = upstream(&g, reduction, &denom)?;
            let (xc, tc, lc) = (kernel_operand(x)?, kernel_operand(t)?, kernel_operand(lse)?);
            let mut ops = vec![&xc, &tc, &lc, &up];
            ops.extend(w);
            let (dx, dt) = run_cuda("cross_entropy_backward", &ops, |s| {
                cuda::nn::ce_backward(
                    s[0],
                    s[1],
                    s.get(4).copied(),
                    s[2],
                    s[3],
                    stride,
                    &geom,
                    prob,
                    opt,
                    need_t,
                )
            })?;
            let shape = x.shape();
            let mut out = vec![Some(cuda_tensor(dx, &shape))];
            if prob {
                out.push(dt.map(|d| cuda_tensor(d, &shape)));
            }
            Ok(out)
        },
    )?;
    Ok(out)
}

/// NLL of log-probabilities on the device.
pub(crate) fn nll_loss(
    input: &Tensor,
    xc: &Tensor,
    tc: &Tensor,
    wc: Option<Tensor>,
    a: CeArgs,
) -> Result<Tensor> {
    let mut operands = vec![xc, tc];
    operands.extend(wc.as_ref());
    let (geom, opt) = (a.geom, a.opt);
    let (rows, wrow) = run_cuda("nll_loss", &operands, |s| {
        cuda::nn::nll_forward(s[0], s[1], s.get(2).copied(), &geom, opt.ignore_index)
    })?;
    let n_rows = geom.rows();
    let denom = Denom::Device(no_grad(|| cuda_tensor(wrow, &[n_rows]).sum())?);
    let out = reduce_rows(cuda_tensor(rows, &a.rows_shape), a.reduction, &denom)?;
    let has_w = wc.is_some();
    let (reduction, class_dim) = (a.reduction, a.class_dim);
    let dtype = input.dtype();
    let shape = input.shape();
    let tsaved = tc.clone();
    record(
        "NllLossBackward0",
        &[input],
        &[&out],
        || {
            let mut saved = vec![Saved::Aux(tsaved.clone())];
            if let Some(w) = &wc {
                saved.push(Saved::Aux(w.clone()));
            }
            saved
        },
        move |ctx, grads| {
            let t = ctx.saved(0);
            let w = if has_w { Some(ctx.saved(1)) } else { None };
            let g = grad0(grads)?.to_dtype(dtype)?;
            let dev = g.device();
            if is_grad_enabled() {
                let mut ops = vec![t];
                ops.extend(w);
                let coef = run_cuda("nll_loss_backward", &ops, |s| {
                    let d = cuda::elementwise::device_of(dev)?;
                    cuda::nn::ce_coefficients(&d, dtype, s[0], s.get(1).copied(), &geom, opt)
                })?;
                let coef = cuda_tensor(coef, &shape);
                let gb = upstream_tensor(&g, reduction, &denom, class_dim)?;
                return Ok(vec![Some(coef.mul(&gb)?.neg()?)]);
            }
            let (up, stride) = upstream(&g, reduction, &denom)?;
            let mut ops = vec![t, &up];
            ops.extend(w);
            let dx = run_cuda("nll_loss_backward", &ops, |s| {
                let d = cuda::elementwise::device_of(dev)?;
                cuda::nn::nll_backward(
                    &d,
                    dtype,
                    s[0],
                    s.get(2).copied(),
                    s[1],
                    stride,
                    &geom,
                    opt.ignore_index,
                )
            })?;
            Ok(vec![Some(cuda_tensor(dx, &shape))])
        },
    )?;
    Ok(out)
}

/// A pointwise loss on the device: per element, or reduced by a device sum.
pub(crate) fn point_forward(
    kind: PointLoss,
    operands: &[&Tensor],
    has_w: bool,
    has_pw: bool,
    shape: &[usize],
    reduction: Reduction,
) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let data = run_cuda("loss", operands, |s| {
        let w = if has_w { Some(s[2]) } else { None };
        let pw = if has_pw {
            Some(s[2 + has_w as usize])
        } else {
            None
        };
        cuda::nn::point_loss(kind, s[0], s[1], w, pw, n)
    })?;
    let per = cuda_tensor(data, shape);
    no_grad(|| match reduction {
        Reduction::None => Ok(per),
        Reduction::Sum => per.sum(),
        Reduction::Mean => per.sum()?.mul_scalar(1.0 / n as f64),
    })
}
