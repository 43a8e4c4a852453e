//! batch_norm on a CUDA device: statistics, running-statistics update, normalisation and the
//! fused backward as kernels (kernels/nn.cu), the statistics kept on the device in double.

use std::sync::Arc;

use crate::autograd::{grad0, is_grad_enabled, no_grad, record, Saved};
use crate::backend::cpu::nn::norm::NormGeom;
use crate::backend::cuda::{self, CudaStorage};
use crate::error::Result;
use crate::ops::nn::{cuda_tensor, kernel_operand, run_cuda};
use crate::storage::DType;
use crate::tensor::Tensor;

/// Batch normalisation of `x` (checked by the caller; `xc` its contiguous form). `weight`, `bias`:
/// the live tensors and their contiguous casts to the input's dtype.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub(crate) fn batch_norm(
    x: &Tensor,
    xc: &Tensor,
    (weight, wc): (Option<&Tensor>, Option<Tensor>),
    (bias, bc): (Option<&Tensor>, Option<Tensor>),
    (running_mean, running_var): (Option<&Tensor>, Option<&Tensor>),
    training: bool,
    momentum: f64,
    eps: f64,
    geom: NormGeom,
) -> Result<Tensor> {
    let dtype = x.dtype();
    let as_operand = |t: Option<&Tensor>| -> Result<Option<Tensor>> {
        t.map(|t| kernel_operand(&t.to_dtype(dtype)?)).transpose()
    };
    let stats = if training {
        let (rm, rv) = (as_operand(running_mean)?, as_operand(running_var)?);
        let mut ops = vec![xc];
        ops.extend(rm.as_ref());
        ops.extend(rv.as_ref());
        let (has_rm, has_rv) = (rm.is_some(), rv.is_some());
        let (stats, nrm, nrv) = run_cuda("batch_norm", &ops, |s| {
            let rm = if has_rm { Some(s[1]) } else { None };
            let rv = if has_rv {
                Some(s[1 + has_rm as usize])
            } else {
                None
            };
            cuda::nn::bn_train_stats(s[0], &geom, (rm, rv), momentum, eps)
        })?;
        if let (Some(t), Some(new)) = (running_mean, nrm) {
            no_grad(|| t.copy_(&cuda_tensor(new, &t.shape())))?;
        }
        if let (Some(t), Some(new)) = (running_var, nrv) {
            no_grad(|| t.copy_(&cuda_tensor(new, &t.shape())))?;
        }
        stats
    } else {
        let (Some(rm), Some(rv)) = (running_mean, running_var) else {
            return Err(crate::Error::runtime(
                "running_mean and running_var must be defined in evaluation mode",
            ));
        };
        let (rm, rv) = (
            kernel_operand(&rm.to_dtype(dtype)?)?,
            kernel_operand(&rv.to_dtype(dtype)?)?,
        );
        run_cuda("batch_norm", &[&rm, &rv], |s| {
            cuda::nn::bn_eval_stats(s[0], s[1], geom.c, eps)
        })?
    };
    let mut ops = vec![xc];
    ops.extend(wc.as_ref());
    ops.extend(bc.as_ref());
    let (has_w, has_b) = (wc.is_some(), bc.is_some());
    let y = run_cuda("batch_norm", &ops, |s| {
        let w = if has_w { Some(s[1]) } else { None };
        let b = if has_b {
            Some(s[1 + has_w as usize])
        } else {
            None
        };
        cuda::nn::bn_normalize(s[0], &geom, &stats, w, b)
    })?;
    let shape = x.shape();
    let out = cuda_tensor(y, &shape);
    let mut inputs = vec![x];
    inputs.extend(weight);
    inputs.extend(bias);
    let stats = Arc::new(stats);
    let nd = shape.len();
    record(
        "NativeBatchNormBackward0",
        &inputs,
        &[&out],
        || {
            let mut saved = vec![Saved::Input(0)];
            if has_w {
                saved.push(Saved::Input(1));
            }
            saved
        },
        move |ctx, grads| {
            let x = ctx.saved(0);
            let w = if has_w { Some(ctx.saved(1)) } else { None };
            let g = grad0(grads)?.to_dtype(x.dtype())?;
            let (need_x, need_w) = (ctx.needs_input_grad(0), has_w && ctx.needs_input_grad(1));
            let need_b = has_b && ctx.needs_input_grad(1 + has_w as usize);
            let (gx, gw, gb) = if is_grad_enabled() {
                let eval_stats = if training {
                    None
                } else {
                    Some((
                        stat_tensor(&stats.mean, geom.c, x)?,
                        stat_tensor(&stats.invstd, geom.c, x)?,
                    ))
                };
                super::norm::composite_backward(&g, x, w, eval_stats, geom, training, eps, nd)?
            } else {
                let (gc, xc) = (kernel_operand(&g)?, kernel_operand(x)?);
                let wc = w
                    .map(|w| kernel_operand(&w.to_dtype(x.dtype())?))
                    .transpose()?;
                let mut ops = vec![&gc, &xc];
                ops.extend(wc.as_ref());
                let (dx, dw, db) = run_cuda("batch_norm_backward", &ops, |s| {
                    let w = s.get(2).copied();
                    cuda::nn::bn_backward(s[0], s[1], &geom, &stats, w, training, need_x)
                })?;
                let c = geom.c;
                (
                    dx.map(|d| cuda_tensor(d, &x.shape())),
                    Some(cuda_tensor(dw, &[c])),
                    Some(cuda_tensor(db, &[c])),
                )
            };
            let fit = |t: Option<Tensor>, like: Option<&Tensor>| -> Result<Option<Tensor>> {
                match (t, like) {
                    (Some(t), Some(l)) => Ok(Some(t.reshape_dims(&l.shape())?)),
                    (t, _) => Ok(t),
                }
            };
            let mut out = vec![if need_x { gx } else { None }];
            if has_w {
                out.push(if need_w { fit(gw, w)? } else { None });
            }
            if has_b {
                out.push(if need_b { gb } else { None });
            }
            Ok(out)
        },
    )?;
    Ok(out)
}

/// A double statistics vector as a `(C,)` tensor of `like`'s dtype (no autograd history).
fn stat_tensor(s: &CudaStorage, c: usize, like: &Tensor) -> Result<Tensor> {
    let copy = cuda::cast(s, &crate::tensor::Layout::contiguous(&[c]), DType::F64)?;
    no_grad(|| cuda_tensor(copy, &[c]).to_dtype(like.dtype()))
}
