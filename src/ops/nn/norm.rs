//! batch_norm: one op over `(N, C)`, `(N, C, L)` or `(N, C, H, W)` input, with batch statistics
//! (training, running statistics updated in place) or running statistics (evaluation).
//!
//! On a CUDA device the statistics, the running-statistics update, the normalisation and the
//! fused backward are kernels (kernels/nn.cu), the statistics kept on the device in double.

use std::sync::Arc;

use crate::autograd::{grad0, is_grad_enabled, no_grad, record, Saved};
use crate::backend::cpu::nn::norm as kernel;
#[cfg(feature = "cuda")]
use crate::backend::cuda;
use crate::backend::geometry::NormGeom;
use crate::error::{ensure, fmt_shape, Error, Result};
use crate::ops::common_device;
use crate::ops::nn::{cpu_tensor, kernel_operand, optional_pair, run_kernel, torch_size};
#[cfg(feature = "cuda")]
use crate::ops::nn::{cuda_tensor, run_cuda};
use crate::storage::{CpuElement, DType};
use crate::tensor::Tensor;
use crate::with_float_dtype;

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

/// A float vector as a `(C,)` tensor of `like`'s dtype (a constant: no autograd history).
fn constant(values: &[f64], like: &Tensor) -> Result<Tensor> {
    no_grad(|| Tensor::from_slice(values, &[values.len()])?.to_dtype(like.dtype()))
}

/// A double vector on a CUDA device as a `(C,)` tensor of `like`'s dtype (a constant).
#[cfg(feature = "cuda")]
fn device_constant(s: &cuda::CudaStorage, like: &Tensor) -> Result<Tensor> {
    let c = s.len();
    let copy = cuda::cast(s, &crate::tensor::Layout::contiguous(&[c]), DType::F64)?;
    no_grad(|| cuda_tensor(copy, &[c]).to_dtype(like.dtype()))
}

/// The gradients of (input, weight, bias).
type NormGrads = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

/// The per-channel mean and inverse standard deviation that normalise: on the host (CPU), or on
/// the CUDA device in double. The variant is the device the kernels run on.
enum Stats {
    Host {
        mean: Vec<f64>,
        invstd: Vec<f64>,
    },
    #[cfg(feature = "cuda")]
    Device(cuda::nn::BnStats),
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
        #[cfg(feature = "cuda")]
        if xc.device().is_cuda() {
            let as_operand = |t: Option<&Tensor>| -> Result<Option<Tensor>> {
                t.map(|t| kernel_operand(&t.to_dtype(xc.dtype())?))
                    .transpose()
            };
            let (rm, rv) = (as_operand(running_mean)?, as_operand(running_var)?);
            let mut operands = vec![xc];
            operands.extend(rm.as_ref());
            operands.extend(rv.as_ref());
            let (has_rm, has_rv) = (rm.is_some(), rv.is_some());
            let (stats, nrm, nrv) = run_cuda("batch_norm", &operands, |s| {
                let (rm, rv) = optional_pair(s, 1, (has_rm, has_rv));
                cuda::nn::bn_train_stats(s[0], &geom, (rm.copied(), rv.copied()), momentum, eps)
            })?;
            for (t, new) in [(running_mean, nrm), (running_var, nrv)] {
                if let (Some(t), Some(new)) = (t, new) {
                    no_grad(|| t.copy_(&cuda_tensor(new, &t.shape())))?;
                }
            }
            return Ok(Stats::Device(stats));
        }
        let (mean, var) = run_kernel("batch_norm", &[xc], |s| {
            with_float_dtype!(s[0].dtype(), T => Ok(kernel::channel_stats(s[0].get::<T>()?, &geom)),
                else Err(Error::not_implemented_for("batch_norm", s[0].dtype())))
        })?;
        let m = geom.m() as f64;
        if let Some(rm) = running_mean {
            let old = rm.to_vec::<f64>()?;
            let new: Vec<f64> = old
                .iter()
                .zip(&mean)
                .map(|(r, v)| momentum * v + (1.0 - momentum) * r)
                .collect();
            no_grad(|| rm.copy_(&Tensor::from_slice(&new, &rm.shape())?))?;
        }
        if let Some(rv) = running_var {
            let old = rv.to_vec::<f64>()?;
            let new: Vec<f64> = old
                .iter()
                .zip(&var)
                .map(|(r, v)| momentum * (v * m / (m - 1.0)) + (1.0 - momentum) * r)
                .collect();
            no_grad(|| rv.copy_(&Tensor::from_slice(&new, &rv.shape())?))?;
        }
        let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
        Ok(Stats::Host { mean, invstd })
    }

    /// The statistics given by the running mean `rm` and variance `rv` (evaluation); `dtype` is
    /// the input's, `c` the number of channels.
    // Only the CUDA kernels read `c` and `dtype`.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    fn of_running(rm: &Tensor, rv: &Tensor, eps: f64, c: usize, dtype: DType) -> Result<Stats> {
        #[cfg(feature = "cuda")]
        if rm.device().is_cuda() {
            let (rm, rv) = (
                kernel_operand(&rm.to_dtype(dtype)?)?,
                kernel_operand(&rv.to_dtype(dtype)?)?,
            );
            let stats = run_cuda("batch_norm", &[&rm, &rv], |s| {
                cuda::nn::bn_eval_stats(s[0], s[1], c, eps)
            })?;
            return Ok(Stats::Device(stats));
        }
        let mean = rm.to_vec::<f64>()?;
        let invstd: Vec<f64> = rv
            .to_vec::<f64>()?
            .iter()
            .map(|v| 1.0 / (v + eps).sqrt())
            .collect();
        Ok(Stats::Host { mean, invstd })
    }

    /// `(xc - mean) * invstd * wc + bc`, per channel (`xc`, `wc`, `bc` contiguous).
    fn normalize(
        &self,
        xc: &Tensor,
        wc: Option<&Tensor>,
        bc: Option<&Tensor>,
        geom: NormGeom,
    ) -> Result<Tensor> {
        let mut operands = vec![xc];
        operands.extend(wc);
        operands.extend(bc);
        let (has_w, has_b) = (wc.is_some(), bc.is_some());
        let shape = xc.shape();
        match self {
            Stats::Host { mean, invstd } => {
                let data = run_kernel("batch_norm", &operands, |s| {
                    with_float_dtype!(s[0].dtype(), T => {
                        let (w, b) = optional_pair(s, 1, (has_w, has_b));
                        let (w, b) = (w.map(|w| w.get::<T>()).transpose()?, b.map(|b| b.get::<T>()).transpose()?);
                        Ok(T::wrap(kernel::normalize(s[0].get::<T>()?, &geom, mean, invstd, w, b)?))
                    }, else Err(Error::not_implemented_for("batch_norm", s[0].dtype())))
                })?;
                Ok(cpu_tensor(data, &shape))
            }
            #[cfg(feature = "cuda")]
            Stats::Device(stats) => {
                let y = run_cuda("batch_norm", &operands, |s| {
                    let (w, b) = optional_pair(s, 1, (has_w, has_b));
                    cuda::nn::bn_normalize(s[0], &geom, stats, w.copied(), b.copied())
                })?;
                Ok(cuda_tensor(y, &shape))
            }
        }
    }

    /// The statistics as `(C,)` constants of `like`'s dtype (for the differentiable backward).
    fn constants(&self, like: &Tensor) -> Result<(Tensor, Tensor)> {
        match self {
            Stats::Host { mean, invstd } => Ok((constant(mean, like)?, constant(invstd, like)?)),
            #[cfg(feature = "cuda")]
            Stats::Device(s) => Ok((
                device_constant(&s.mean, like)?,
                device_constant(&s.invstd, like)?,
            )),
        }
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
        let mut operands = vec![&gc, &xc];
        operands.extend(wc.as_ref());
        match self {
            Stats::Host { mean, invstd } => {
                let r = run_kernel("batch_norm_backward", &operands, |s| {
                    with_float_dtype!(s[0].dtype(), T => {
                        let w = if s.len() > 2 { Some(s[2].get::<T>()?) } else { None };
                        kernel::normalize_backward(s[0].get::<T>()?, s[1].get::<T>()?, &geom,
                            mean, invstd, w, training, need_x)
                            .map(|r| (r.input.map(T::wrap), r.weight, r.bias))
                    }, else Err(Error::not_implemented_for("batch_norm_backward", s[0].dtype())))
                })?;
                let gx = r.0.map(|d| cpu_tensor(d, &x.shape()));
                let gw = r.1.map(|v| constant(&v, x)).transpose()?;
                let gb = r.2.map(|v| constant(&v, x)).transpose()?;
                Ok((gx, gw, gb))
            }
            #[cfg(feature = "cuda")]
            Stats::Device(stats) => {
                let (dx, dw, db) = run_cuda("batch_norm_backward", &operands, |s| {
                    let w = s.get(2).copied();
                    cuda::nn::bn_backward(s[0], s[1], &geom, stats, w, training, need_x)
                })?;
                let c = geom.c;
                Ok((
                    dx.map(|d| cuda_tensor(d, &x.shape())),
                    Some(cuda_tensor(dw, &[c])),
                    Some(cuda_tensor(db, &[c])),
                ))
            }
        }
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
            Stats::of_running(rm, rv, eps, c, dtype)?
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
        let (mean, invstd) = eval_stats.ok_or_else(|| {
            Error::runtime("internal error: batch_norm backward without running statistics")
        })?;
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
