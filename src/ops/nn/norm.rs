//! batch_norm: one op over `(N, C)`, `(N, C, L)` or `(N, C, H, W)` input, with batch statistics
//! (training, running statistics updated in place) or running statistics (evaluation).
//!
//! The statistics (float64, on the input's device), the running-statistics update, the
//! normalisation and the fused backward are each backend's kernels (NormKernels).

use std::sync::Arc;

use crate::autograd::{grad0, is_grad_enabled, no_grad, record, Saved};
use crate::backend::geometry::NormGeom;
use crate::backend::{run, tensor};
use crate::error::{ensure, fmt_shape, Error, Result};
use crate::ops::common_device;
use crate::ops::nn::{kernel_operand, torch_size};
use crate::storage::{DType, StorageData};
use crate::tensor::Tensor;

fn check_features(name: &str, t: Option<&Tensor>, c: usize) -> Result<()> {
    if let Some(t) = t {
        ensure!(
            t.numel() == c,
            Error::runtime(format!(
                "{name} should contain {c} elements not {}",
                t.numel()
            ))
        );
    }
    Ok(())
}

/// The gradients of (input, weight, bias).
type NormGrads = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

/// The per-channel mean and inverse standard deviation that normalise, as `(C,)` float64
/// tensors on the input's device.
struct Stats {
    mean: Tensor,
    invstd: Tensor,
}

impl Stats {
    /// The statistics of the batch `xc` (contiguous), updating `running_mean` and `running_var`
    /// (when given) in place with `momentum`, the variance unbiased.
    fn of_batch(
        xc: &Tensor,
        (running_mean, running_var): (Option<&Tensor>, Option<&Tensor>),
        momentum: f64,
        eps: f64,
        geom: NormGeom,
    ) -> Result<Stats> {
        let as_operand = |t: Option<&Tensor>| -> Result<Option<Tensor>> {
            t.map(|t| kernel_operand(&t.to_dtype(xc.dtype())?))
                .transpose()
        };
        let (rm, rv) = (as_operand(running_mean)?, as_operand(running_var)?);
        let ((mean, invstd), (new_mean, new_var)) = run!(B: x = xc, rm = rm.as_ref(), rv = rv.as_ref() =>
                B::batch_norm_stats(x, &geom, rm, rv, momentum, eps));
        for (t, new) in [(running_mean, new_mean), (running_var, new_var)] {
            if let (Some(t), Some(new)) = (t, new) {
                no_grad(|| t.copy_(&tensor(new, &t.shape())))?;
            }
        }
        Ok(Stats::new(mean, invstd, geom.c))
    }

    /// The statistics given by the running mean `rm` and variance `rv` (evaluation); `dtype` is
    /// the input's.
    fn of_running(rm: &Tensor, rv: &Tensor, eps: f64, dtype: DType) -> Result<Stats> {
        let (rm, rv) = (
            kernel_operand(&rm.to_dtype(dtype)?)?,
            kernel_operand(&rv.to_dtype(dtype)?)?,
        );
        let c = rm.numel();
        let (mean, invstd) =
            run!(B: rm = &rm, rv = &rv => B::batch_norm_running_stats(rm, rv, eps));
        Ok(Stats::new(mean, invstd, c))
    }

    fn new(mean: StorageData, invstd: StorageData, c: usize) -> Stats {
        Stats {
            mean: tensor(mean, &[c]),
            invstd: tensor(invstd, &[c]),
        }
    }

    /// `(xc - mean) * invstd * wc + bc`, per channel (`xc`, `wc`, `bc` contiguous).
    fn normalize(
        &self,
        xc: &Tensor,
        wc: Option<&Tensor>,
        bc: Option<&Tensor>,
        geom: NormGeom,
    ) -> Result<Tensor> {
        let y = run!(B: x = xc, mean = &self.mean, invstd = &self.invstd, w = wc, b = bc =>
            B::batch_norm(x, &geom, (mean, invstd), w, b));
        Ok(tensor(y, &xc.shape()))
    }

    /// The statistics as `(C,)` constants of `like`'s dtype (for the differentiable backward).
    fn constants(&self, like: &Tensor) -> Result<(Tensor, Tensor)> {
        no_grad(|| {
            Ok((
                self.mean.to_dtype(like.dtype())?,
                self.invstd.to_dtype(like.dtype())?,
            ))
        })
    }

    /// The fused backward kernels: (dx when `need_x`, dweight, dbias).
    fn backward(
        &self,
        g: &Tensor,
        x: &Tensor,
        w: Option<&Tensor>,
        geom: NormGeom,
        training: bool,
        need_x: bool,
    ) -> Result<NormGrads> {
        let (gc, xc) = (kernel_operand(g)?, kernel_operand(x)?);
        let wc = w
            .map(|w| kernel_operand(&w.to_dtype(x.dtype())?))
            .transpose()?;
        let (dx, dw, db) = run!(B: g = &gc, x = &xc, mean = &self.mean, invstd = &self.invstd,
            w = wc.as_ref() =>
            B::batch_norm_backward(g, x, &geom, (mean, invstd), w, training, need_x));
        let c = geom.c;
        Ok((
            dx.map(|d| tensor(d, &x.shape())),
            dw.map(|d| tensor(d, &[c])),
            db.map(|d| tensor(d, &[c])),
        ))
    }
}

impl Tensor {
    /// Batch normalisation over dim 1, as `torch.nn.functional.batch_norm`. When `training`, the
    /// batch's statistics normalise and `running_mean` / `running_var` (when given) are updated
    /// in place with `momentum` (the variance unbiased); otherwise the running statistics are used.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        &self,
        running_mean: Option<&Tensor>,
        running_var: Option<&Tensor>,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        training: bool,
        momentum: f64,
        eps: f64,
    ) -> Result<Tensor> {
        let mut all = vec![self];
        all.extend(running_mean);
        all.extend(running_var);
        all.extend(weight);
        all.extend(bias);
        common_device(&all)?;
        let s = self.shape();
        ensure!(
            s.len() >= 2,
            Error::value(format!(
                "batch_norm: expected 2D or higher input (N, C, ...), but got input of size {}",
                fmt_shape(&s)
            ))
        );
        let c = s[1];
        let geom = NormGeom {
            n: s[0],
            c,
            s: s[2..].iter().product(),
        };
        check_features("running_mean", running_mean, c)?;
        check_features("running_var", running_var, c)?;
        check_features("weight", weight, c)?;
        check_features("bias", bias, c)?;
        ensure!(
            self.dtype().is_floating_point(),
            Error::not_implemented_for("batch_norm", self.dtype())
        );
        if training {
            ensure!(
                geom.m() > 1,
                Error::value(format!(
                    "Expected more than 1 value per channel when training, got input size {}",
                    torch_size(&s)
                ))
            );
        }
        let dtype = self.dtype();
        let cast = |t: Option<&Tensor>| -> Result<Option<Tensor>> {
            t.map(|t| kernel_operand(&t.to_dtype(dtype)?)).transpose()
        };
        let (wc, bc) = (cast(weight)?, cast(bias)?);
        let xc = kernel_operand(self)?;
        let stats = if training {
            Stats::of_batch(&xc, (running_mean, running_var), momentum, eps, geom)?
        } else {
            let (Some(rm), Some(rv)) = (running_mean, running_var) else {
                return Err(Error::runtime(
                    "running_mean and running_var must be defined in evaluation mode",
                ));
            };
            Stats::of_running(rm, rv, eps, dtype)?
        };
        let out = stats.normalize(&xc, wc.as_ref(), bc.as_ref(), geom)?;
        let (has_w, has_b) = (wc.is_some(), bc.is_some());
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        let stats = Arc::new(stats);
        let nd = s.len();
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
                        Some(stats.constants(x)?)
                    };
                    composite_backward(&g, x, w, eval_stats, geom, training, eps, nd)?
                } else {
                    stats.backward(&g, x, w, geom, training, need_x)?
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
}

/// The backward as differentiable tensor ops (for gradients of gradients).
#[allow(clippy::too_many_arguments)]
fn composite_backward(
    g: &Tensor,
    x: &Tensor,
    w: Option<&Tensor>,
    eval_stats: Option<(Tensor, Tensor)>,
    geom: NormGeom,
    training: bool,
    eps: f64,
    nd: usize,
) -> Result<NormGrads> {
    let c = geom.c;
    let dims: Vec<i64> = std::iter::once(0).chain(2..nd as i64).collect();
    let mut bshape = vec![1usize; nd];
    bshape[1] = c;
    let per_channel = |t: &Tensor| t.reshape_dims(&bshape);
    let m = geom.m() as f64;
    let (xhat, invstd) = if training {
        let mean = x.mean_dims(&dims, true)?;
        let centered = x.sub(&mean)?;
        let var = centered.square()?.mean_dims(&dims, true)?;
        let invstd = var.add_scalar(eps)?.rsqrt()?;
        (centered.mul(&invstd)?, invstd)
    } else {
        let (mean, invstd) = eval_stats
            .ok_or_else(|| Error::internal("batch_norm backward without running statistics"))?;
        let (mean, invstd) = (per_channel(&mean)?, per_channel(&invstd)?);
        (x.sub(&mean)?.mul(&invstd)?, invstd)
    };
    let scale = match w {
        Some(w) => invstd.mul(&per_channel(&w.to_dtype(x.dtype())?)?)?,
        None => invstd,
    };
    let gsum = g.sum_dims(&dims, true)?;
    let gxsum = g.mul(&xhat)?.sum_dims(&dims, true)?;
    let gx = if training {
        g.sub(&gsum.mul_scalar(1.0 / m)?)?
            .sub(&xhat.mul(&gxsum)?.mul_scalar(1.0 / m)?)?
            .mul(&scale)?
    } else {
        g.mul(&scale)?
    };
    Ok((
        Some(gx),
        Some(gxsum.reshape_dims(&[c])?),
        Some(gsum.reshape_dims(&[c])?),
    ))
}
