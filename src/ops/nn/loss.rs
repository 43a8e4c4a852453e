//! Losses: cross_entropy (one fused log-softmax + NLL op), nll_loss, mse_loss, l1_loss,
//! binary_cross_entropy and binary_cross_entropy_with_logits, with PyTorch's checks and messages.

use crate::autograd::{grad0, is_grad_enabled, no_grad, record, Saved};
use crate::backend::cpu::nn::loss::{
    self as kernel, CeOptions, PointLoss, RowGeom, RowGrad, Target,
};
use crate::backend::cpu::nn::not_implemented_for;
use crate::error::{ensure, fmt_shape, Error, Result};
use crate::ops::common_device;
use crate::ops::nn::{cpu_tensor, kernel_operand, run_kernel, torch_size, Reduction};
use crate::storage::{CpuElement, DType};
use crate::tensor::{broadcast_shapes, Dims, Tensor};
use crate::with_float_dtype;

/// Rows of class scores of a `(C,)`, `(N, C)` or `(N, C, d1, ...)` input.
fn row_geom(shape: &[usize]) -> RowGeom {
    if shape.len() == 1 {
        RowGeom {
            n: 1,
            c: shape[0],
            s: 1,
        }
    } else {
        RowGeom {
            n: shape[0],
            c: shape[1],
            s: shape[2..].iter().product(),
        }
    }
}

/// The class dim of an input.
fn class_dim(ndim: usize) -> usize {
    usize::from(ndim > 1)
}

/// The input's shape without its class dim (the shape of per-row losses).
fn rows_shape(shape: &[usize]) -> Dims {
    let cd = class_dim(shape.len());
    shape
        .iter()
        .enumerate()
        .filter(|&(d, _)| d != cd)
        .map(|(_, &s)| s)
        .collect()
}

/// PyTorch's checks of class-index targets against the input (`nll_loss_nd` and friends).
fn check_class_target(input: &Tensor, target: &Tensor) -> Result<()> {
    let (is, ts) = (input.shape(), target.shape());
    ensure!(
        !is.is_empty(),
        Error::value(format!("Expected 1 or more dimensions (got {})", is.len()))
    );
    ensure!(
        target.dtype() == DType::I64,
        Error::runtime(format!(
            "expected scalar type Long but found {}",
            target.dtype().scalar_name()
        ))
    );
    if is.len() != 1 && !ts.is_empty() && is[0] != ts[0] {
        return Err(Error::value(format!(
            "Expected input batch_size ({}) to match target batch_size ({}).",
            is[0], ts[0]
        )));
    }
    match is.len() {
        1 | 2 => {
            ensure!(
                ts.len() <= 1,
                Error::runtime("0D or 1D target tensor expected, multi-target not supported")
            );
            let no_batch = is.len() == 1 && ts.is_empty();
            ensure!(
                no_batch || (ts.len() == 1 && is[0] == ts[0] && is.len() == 2),
                Error::runtime(format!(
                    "size mismatch (got input: {}, target: {})",
                    fmt_shape(&is),
                    fmt_shape(&ts)
                ))
            );
        }
        _ => {
            let expected = rows_shape(&is);
            ensure!(
                ts == expected,
                Error::runtime(format!(
                    "Expected target size {}, got {}",
                    fmt_shape(&expected),
                    fmt_shape(&ts)
                ))
            );
        }
    }
    Ok(())
}

/// The class weights as a contiguous tensor of the input's dtype, checked against `classes`.
fn class_weight(weight: Option<&Tensor>, classes: usize, dtype: DType) -> Result<Option<Tensor>> {
    let Some(w) = weight else { return Ok(None) };
    ensure!(
        w.ndim() == 1 && w.numel() == classes,
        Error::runtime(format!(
            "weight tensor should be defined either for all {classes} classes or no classes but got weight tensor of shape: {}",
            fmt_shape(&w.shape())
        ))
    );
    Ok(Some(kernel_operand(&w.to_dtype(dtype)?)?))
}

/// Reduces per-row (or per-element) losses: the rows tensor itself, their sum, or their sum
/// over `denominator`.
fn reduce_rows(rows: Tensor, reduction: Reduction, denominator: f64) -> Result<Tensor> {
    if reduction == Reduction::None {
        return Ok(rows);
    }
    let total: f64 = rows.to_vec::<f64>()?.iter().sum();
    let v = if reduction == Reduction::Mean {
        total / denominator
    } else {
        total
    };
    Tensor::scalar(v, rows.dtype(), rows.device())
}

/// The gradient reaching each row: `g` itself (reduction none), or one value.
enum Upstream {
    Rows(Tensor),
    Scalar(f64),
}

fn upstream(g: &Tensor, reduction: Reduction, denominator: f64) -> Result<Upstream> {
    Ok(match reduction {
        Reduction::None => Upstream::Rows(kernel_operand(g)?),
        Reduction::Sum => Upstream::Scalar(g.item()?.to_f64()),
        Reduction::Mean => Upstream::Scalar(g.item()?.to_f64() / denominator),
    })
}

/// `g` scaled for the reduction and shaped to broadcast over the input's class dim.
fn upstream_tensor(
    g: &Tensor,
    reduction: Reduction,
    denominator: f64,
    ndim: usize,
) -> Result<Tensor> {
    match reduction {
        Reduction::None => g.unsqueeze(class_dim(ndim) as i64),
        Reduction::Sum => Ok(g.clone()),
        Reduction::Mean => g.mul_scalar(1.0 / denominator),
    }
}

impl Tensor {
    /// Cross-entropy of scores `self` (`(C,)`, `(N, C)` or `(N, C, d1, ...)`) against class
    /// indices (int64, the input's shape without the class dim) or class probabilities (the
    /// input's shape), as `torch.nn.functional.cross_entropy`: one fused log-softmax + NLL op.
    pub fn cross_entropy(
        &self,
        target: &Tensor,
        weight: Option<&Tensor>,
        ignore_index: i64,
        reduction: Reduction,
        label_smoothing: f64,
    ) -> Result<Tensor> {
        let mut all = vec![self, target];
        all.extend(weight);
        common_device(&all)?;
        let is = self.shape();
        ensure!(
            !is.is_empty(),
            Error::value(format!("Expected 1 or more dimensions (got {})", is.len()))
        );
        ensure!(
            (0.0..=1.0).contains(&label_smoothing),
            Error::runtime(format!(
                "label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}"
            ))
        );
        let prob = target.shape() == is;
        if prob {
            ensure!(
                target.dtype().is_floating_point(),
                Error::runtime(format!(
                    "Expected floating point type for target with class probabilities, got {}",
                    target.dtype().scalar_name()
                ))
            );
            ensure!(
                ignore_index < 0,
                Error::runtime("ignore_index is not supported for floating point target")
            );
        } else {
            check_class_target(self, target)?;
        }
        ensure!(
            self.dtype().is_floating_point(),
            not_implemented_for("log_softmax_lastdim_kernel_impl", self.dtype())
        );
        let dtype = self.dtype();
        let geom = row_geom(&is);
        let wc = class_weight(weight, geom.c, dtype)?;
        let opt = CeOptions {
            ignore_index,
            label_smoothing,
        };
        let xc = kernel_operand(self)?;
        let target_f = if prob {
            target.to_dtype(dtype)?
        } else {
            target.clone()
        };
        let tc = kernel_operand(&target_f)?;
        #[cfg(feature = "cuda")]
        if xc.device().is_cuda() {
            return super::loss_cuda::cross_entropy(
                self,
                &target_f,
                &xc,
                &tc,
                wc,
                super::loss_cuda::CeArgs {
                    geom,
                    opt,
                    prob,
                    reduction,
                    rows_shape: rows_shape(&is).to_vec(),
                    class_dim: class_dim(is.len()) as i64,
                },
            );
        }
        if !prob {
            tc.with_cpu(|s, l| {
                let t = s.slice::<i64>()?;
                let r = l.contiguous_range().unwrap_or(0..0);
                kernel::check_targets(&t[r], geom.c, ignore_index)
            })?;
        }
        let mut operands = vec![&xc, &tc];
        operands.extend(wc.as_ref());
        let (loss_rows, lse, total_weight) = run_kernel("cross_entropy", &operands, |s| {
            with_float_dtype!(s[0].dtype(), T => {
                let t = if prob { Target::Prob(s[1].get::<T>()?) } else { Target::Class(s[1].get::<i64>()?) };
                let w = match s.get(2) { Some(w) => Some(w.get::<T>()?), None => None };
                let f = kernel::cross_entropy_forward(s[0].get::<T>()?, t, w, &geom, opt)?;
                Ok((T::wrap(f.loss), T::wrap(f.lse), f.total_weight))
            }, else Err(not_implemented_for("cross_entropy", s[0].dtype())))
        })?;
        let rshape = rows_shape(&is);
        let denominator = if prob {
            geom.rows() as f64
        } else {
            total_weight
        };
        let out = reduce_rows(cpu_tensor(loss_rows, &rshape), reduction, denominator)?;
        let lse = cpu_tensor(lse, &[geom.rows()]);
        let inputs: Vec<&Tensor> = if prob {
            vec![self, &target_f]
        } else {
            vec![self]
        };
        let name = if prob {
            "CrossEntropyLossBackward0"
        } else {
            "NllLossBackward0"
        };
        let nd = is.len();
        let has_w = wc.is_some();
        record(
            name,
            &inputs,
            &[&out],
            || {
                // Probability targets are saved live, so that gradients can reach them.
                let t = if prob {
                    Saved::Input(1)
                } else {
                    Saved::Aux(tc.clone())
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
                if is_grad_enabled() {
                    let gb = upstream_tensor(&g, reduction, denominator, nd)?;
                    let cd = class_dim(nd) as i64;
                    let mut bshape = vec![1usize; nd];
                    bshape[cd as usize] = geom.c;
                    let wb = w.map(|w| w.reshape_dims(&bshape)).transpose()?;
                    let eps = label_smoothing;
                    let a = if prob {
                        let smoothed = t.mul_scalar(1.0 - eps)?.add_scalar(eps / geom.c as f64)?;
                        match &wb {
                            Some(wb) => smoothed.mul(wb)?,
                            None => smoothed,
                        }
                    } else {
                        let tc = kernel_operand(t)?;
                        let mut operands = vec![&tc];
                        operands.extend(w);
                        let data = run_kernel("cross_entropy_backward", &operands, |s| {
                            with_float_dtype!(x.dtype(), T => {
                                let w = match s.get(1) { Some(w) => Some(w.get::<T>()?), None => None };
                                Ok(T::wrap(kernel::class_coefficients(s[0].get::<i64>()?, w, &geom, opt)?))
                            }, else Err(not_implemented_for("cross_entropy", x.dtype())))
                        })?;
                        cpu_tensor(data, &x.shape())
                    };
                    let p = x.softmax(cd)?;
                    let gx = gb.mul(&p.mul(&a.sum_dims(&[cd], true)?)?.sub(&a)?)?;
                    let mut out = vec![Some(gx)];
                    if prob {
                        out.push(if need_t {
                            let lp = x.log_softmax(cd)?.mul_scalar(-(1.0 - eps))?;
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
                let up = upstream(&g, reduction, denominator)?;
                let xc = kernel_operand(x)?;
                let tc = kernel_operand(t)?;
                let lc = kernel_operand(lse)?;
                let mut operands = vec![&xc, &tc, &lc];
                if let Upstream::Rows(r) = &up {
                    operands.push(r);
                }
                operands.extend(w);
                let per_row = matches!(up, Upstream::Rows(_));
                let scalar = match up {
                    Upstream::Scalar(v) => v,
                    Upstream::Rows(_) => 0.0,
                };
                let (dx, dt) = run_kernel("cross_entropy_backward", &operands, |s| {
                    with_float_dtype!(s[0].dtype(), T => {
                        let t = if prob { Target::Prob(s[1].get::<T>()?) } else { Target::Class(s[1].get::<i64>()?) };
                        let gr = if per_row { RowGrad::PerRow(s[3].get::<T>()?) } else { RowGrad::Scalar(scalar) };
                        let wi = 3 + per_row as usize;
                        let w = match s.get(wi) { Some(w) => Some(w.get::<T>()?), None => None };
                        let (dx, dt) = kernel::cross_entropy_backward(
                            s[0].get::<T>()?, t, w, s[2].get::<T>()?, gr, &geom, opt, need_t)?;
                        Ok((T::wrap(dx), dt.map(T::wrap)))
                    }, else Err(not_implemented_for("cross_entropy", s[0].dtype())))
                })?;
                let shape = x.shape();
                let mut out = vec![Some(cpu_tensor(dx, &shape))];
                if prob {
                    out.push(dt.map(|d| cpu_tensor(d, &shape)));
                }
                Ok(out)
            },
        )?;
        Ok(out)
    }

    /// Negative log-likelihood of log-probabilities `self` against class indices, as
    /// `torch.nn.functional.nll_loss`.
    pub fn nll_loss(
        &self,
        target: &Tensor,
        weight: Option<&Tensor>,
        ignore_index: i64,
        reduction: Reduction,
    ) -> Result<Tensor> {
        let mut all = vec![self, target];
        all.extend(weight);
        common_device(&all)?;
        check_class_target(self, target)?;
        ensure!(
            self.dtype().is_floating_point(),
            not_implemented_for("nll_loss_out_frame", self.dtype())
        );
        let is = self.shape();
        let geom = row_geom(&is);
        let wc = class_weight(weight, geom.c, self.dtype())?;
        let (xc, tc) = (kernel_operand(self)?, kernel_operand(target)?);
        #[cfg(feature = "cuda")]
        if xc.device().is_cuda() {
            return super::loss_cuda::nll_loss(
                self,
                &xc,
                &tc,
                wc,
                super::loss_cuda::CeArgs {
                    geom,
                    opt: CeOptions {
                        ignore_index,
                        label_smoothing: 0.0,
                    },
                    prob: false,
                    reduction,
                    rows_shape: rows_shape(&is).to_vec(),
                    class_dim: class_dim(is.len()) as i64,
                },
            );
        }
        let mut operands = vec![&xc, &tc];
        operands.extend(wc.as_ref());
        let (rows, total) = run_kernel("nll_loss", &operands, |s| {
            let t = s[1].get::<i64>()?;
            kernel::check_targets(t, geom.c, ignore_index)?;
            with_float_dtype!(s[0].dtype(), T => {
                let w = match s.get(2) { Some(w) => Some(w.get::<T>()?), None => None };
                let (l, total) = kernel::nll_forward(s[0].get::<T>()?, t, w, &geom, ignore_index)?;
                Ok((T::wrap(l), total))
            }, else Err(not_implemented_for("nll_loss_out_frame", s[0].dtype())))
        })?;
        let out = reduce_rows(cpu_tensor(rows, &rows_shape(&is)), reduction, total)?;
        let has_w = wc.is_some();
        let opt = CeOptions {
            ignore_index,
            label_smoothing: 0.0,
        };
        let nd = is.len();
        let dtype = self.dtype();
        record(
            "NllLossBackward0",
            &[self],
            &[&out],
            || {
                let mut saved = vec![Saved::Aux(tc.clone())];
                if let Some(w) = &wc {
                    saved.push(Saved::Aux(w.clone()));
                }
                saved
            },
            move |ctx, grads| {
                let t = ctx.saved(0);
                let w = if has_w { Some(ctx.saved(1)) } else { None };
                let g = grad0(grads)?.to_dtype(dtype)?;
                let shape = is.clone();
                let mut operands = vec![t];
                operands.extend(w);
                if is_grad_enabled() {
                    // dx = -a * g with the constant coefficients a (one-hot times class weight).
                    let data = run_kernel("nll_loss_backward", &operands, |s| {
                        with_float_dtype!(g.dtype(), T => {
                            let w = match s.get(1) { Some(w) => Some(w.get::<T>()?), None => None };
                            Ok(T::wrap(kernel::class_coefficients(s[0].get::<i64>()?, w, &geom, opt)?))
                        }, else Err(not_implemented_for("nll_loss_backward", g.dtype())))
                    })?;
                    let a = cpu_tensor(data, &shape);
                    let gb = upstream_tensor(&g, reduction, total, nd)?;
                    return Ok(vec![Some(a.mul(&gb)?.neg()?)]);
                }
                let up = upstream(&g, reduction, total)?;
                if let Upstream::Rows(r) = &up {
                    operands.push(r);
                }
                let data = run_kernel("nll_loss_backward", &operands, |s| {
                    with_float_dtype!(g.dtype(), T => {
                        let w = if has_w { Some(s[1].get::<T>()?) } else { None };
                        let gr = match &up {
                            Upstream::Rows(_) => RowGrad::PerRow(s[1 + has_w as usize].get::<T>()?),
                            Upstream::Scalar(v) => RowGrad::Scalar(*v),
                        };
                        Ok(T::wrap(kernel::nll_backward(s[0].get::<i64>()?, w, gr, &geom, ignore_index)?))
                    }, else Err(not_implemented_for("nll_loss_backward", g.dtype())))
                })?;
                Ok(vec![Some(cpu_tensor(data, &shape))])
            },
        )?;
        Ok(out)
    }
}

/// The operands of a pointwise loss broadcast to one shape, contiguous, in the input's dtype.
struct PointOperands {
    shape: Dims,
    x: Tensor,
    t: Tensor,
    w: Option<Tensor>,
    pw: Option<Tensor>,
}

fn point_operands(
    x: &Tensor,
    t: &Tensor,
    w: Option<&Tensor>,
    pw: Option<&Tensor>,
    kernel_name: &str,
) -> Result<PointOperands> {
    let mut all = vec![x, t];
    all.extend(w);
    all.extend(pw);
    common_device(&all)?;
    ensure!(
        x.dtype().is_floating_point(),
        not_implemented_for(kernel_name, x.dtype())
    );
    let dtype = x.dtype();
    let shape = broadcast_shapes(&x.shape(), &t.shape())?;
    let prep = |a: &Tensor| -> Result<Tensor> {
        let a = a.detach().to_dtype(dtype)?;
        let a = if a.shape() == shape {
            a
        } else {
            a.broadcast_to(&shape)?
        };
        a.contiguous()
    };
    let opt = |a: Option<&Tensor>| -> Result<Option<Tensor>> {
        a.map(|a| {
            broadcast_shapes(&a.shape(), &shape)?;
            prep(a)
        })
        .transpose()
    };
    Ok(PointOperands {
        x: prep(x)?,
        t: prep(t)?,
        w: opt(w)?,
        pw: opt(pw)?,
        shape,
    })
}

/// Runs a pointwise loss kernel: the per-element tensor, or the reduced scalar.
fn point_forward(kind: PointLoss, ops: &PointOperands, reduction: Reduction) -> Result<Tensor> {
    let mut operands = vec![&ops.x, &ops.t];
    operands.extend(ops.w.as_ref());
    operands.extend(ops.pw.as_ref());
    let (has_w, has_pw) = (ops.w.is_some(), ops.pw.is_some());
    #[cfg(feature = "cuda")]
    if ops.x.device().is_cuda() {
        return super::loss_cuda::point_forward(
            kind, &operands, has_w, has_pw, &ops.shape, reduction,
        );
    }
    let reduce = reduction != Reduction::None;
    let data = run_kernel("loss", &operands, |s| {
        with_float_dtype!(s[0].dtype(), T => {
            let w = if has_w { Some(s[2].get::<T>()?) } else { None };
            let pw = if has_pw { Some(s[2 + has_w as usize].get::<T>()?) } else { None };
            Ok(T::wrap(kernel::pointwise_loss(kind, s[0].get::<T>()?, s[1].get::<T>()?, w, pw, reduce)?))
        }, else Err(not_implemented_for("loss", s[0].dtype())))
    })?;
    if !reduce {
        return Ok(cpu_tensor(data, &ops.shape));
    }
    let out = cpu_tensor(data, &[]);
    if reduction == Reduction::Mean {
        let n = ops.shape.iter().product::<usize>() as f64;
        no_grad(|| out.mul_scalar(1.0 / n))
    } else {
        Ok(out)
    }
}

/// The local derivatives `(d/dx, d/dt)` of a pointwise loss from `(x, t, weight, pos_weight)`.
type PointGrads =
    fn(&Tensor, &Tensor, Option<&Tensor>, Option<&Tensor>) -> Result<(Tensor, Tensor)>;

/// Records a pointwise loss whose gradient with respect to (input, target) is
/// `grads(x, t, w, pw) * upstream`, each summed back to its operand's shape.
#[allow(clippy::too_many_arguments)]
fn point_record(
    name: &'static str,
    x: &Tensor,
    t: &Tensor,
    ops: &PointOperands,
    out: &Tensor,
    reduction: Reduction,
    grads_fn: PointGrads,
) -> Result<()> {
    let (xs, ts) = (x.shape(), t.shape());
    let n = ops.shape.iter().product::<usize>() as f64;
    let (has_w, has_pw) = (ops.w.is_some(), ops.pw.is_some());
    let dtype = x.dtype();
    let t_live = t.to_dtype(dtype)?;
    record(
        name,
        &[x, &t_live],
        &[out],
        || {
            let mut saved = vec![Saved::Input(0), Saved::Input(1)];
            saved.extend(ops.w.clone().map(Saved::Aux));
            saved.extend(ops.pw.clone().map(Saved::Aux));
            saved
        },
        move |ctx, grads| {
            let (x, t) = (ctx.saved(0), ctx.saved(1));
            let w = if has_w { Some(ctx.saved(2)) } else { None };
            let pw = if has_pw {
                Some(ctx.saved(2 + has_w as usize))
            } else {
                None
            };
            let g = grad0(grads)?.to_dtype(dtype)?;
            let g = if reduction == Reduction::Mean {
                g.mul_scalar(1.0 / n)?
            } else {
                g
            };
            let (dx, dt) = grads_fn(x, t, w, pw)?;
            let gx = ctx
                .needs_input_grad(0)
                .then(|| dx.mul(&g)?.sum_to_shape(&xs))
                .transpose()?;
            let gt = ctx
                .needs_input_grad(1)
                .then(|| dt.mul(&g)?.sum_to_shape(&ts))
                .transpose()?;
            Ok(vec![gx, gt])
        },
    )
}

fn weighted(t: Tensor, w: Option<&Tensor>) -> Result<Tensor> {
    match w {
        Some(w) => t.mul(w),
        None => Ok(t),
    }
}

impl Tensor {
    /// Mean squared error, as `torch.nn.functional.mse_loss` (operands broadcast).
    pub fn mse_loss(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
        let ops = point_operands(self, target, None, None, "mse_cpu")?;
        let out = point_forward(PointLoss::Mse, &ops, reduction)?;
        point_record(
            "MseLossBackward0",
            self,
            target,
            &ops,
            &out,
            reduction,
            |x, t, _, _| {
                let dx = x.sub(t)?.mul_scalar(2.0)?;
                let dt = dx.neg()?;
                Ok((dx, dt))
            },
        )?;
        Ok(out)
    }

    /// Mean absolute error, as `torch.nn.functional.l1_loss` (operands broadcast).
    pub fn l1_loss(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
        let ops = point_operands(self, target, None, None, "abs_cpu")?;
        let out = point_forward(PointLoss::L1, &ops, reduction)?;
        point_record(
            "L1LossBackward0",
            self,
            target,
            &ops,
            &out,
            reduction,
            |x, t, _, _| {
                let dx = x.sub(t)?.sign()?;
                let dt = dx.neg()?;
                Ok((dx, dt))
            },
        )?;
        Ok(out)
    }

    /// Binary cross-entropy of probabilities, as `torch.nn.functional.binary_cross_entropy`.
    pub fn binary_cross_entropy(
        &self,
        target: &Tensor,
        weight: Option<&Tensor>,
        reduction: Reduction,
    ) -> Result<Tensor> {
        ensure!(
            target.shape() == self.shape(),
            Error::value(format!(
                "Using a target size ({}) that is different to the input size ({}) is deprecated. Please ensure they have the same size.",
                torch_size(&target.shape()),
                torch_size(&self.shape())
            ))
        );
        let ops = point_operands(self, target, weight, None, "binary_cross_entropy")?;
        // On a GPU the kernel checks the ranges (reported at the next synchronisation).
        let in_range = |t: &Tensor| -> Result<bool> {
            Ok(t.device().is_cuda() || t.to_vec::<f64>()?.iter().all(|v| (0.0..=1.0).contains(v)))
        };
        ensure!(
            in_range(&ops.x)?,
            Error::runtime("all elements of input should be between 0 and 1")
        );
        ensure!(
            in_range(&ops.t)?,
            Error::runtime("all elements of target should be between 0 and 1")
        );
        let out = point_forward(PointLoss::Bce, &ops, reduction)?;
        point_record(
            "BinaryCrossEntropyBackward0",
            self,
            target,
            &ops,
            &out,
            reduction,
            |x, t, w, _| {
                // d/dx = w (x - t) / max(x (1 - x), 1e-12); d/dt = w (log(1 - x) - log(x)).
                let denom = x.mul(&x.rsub_scalar(1.0)?)?.clamp(Some(1e-12), None)?;
                let dx = weighted(x.sub(t)?.div(&denom)?, w)?;
                let dt = weighted(x.rsub_scalar(1.0)?.log()?.sub(&x.log()?)?, w)?;
                Ok((dx, dt))
            },
        )?;
        Ok(out)
    }

    /// Binary cross-entropy of logits, as `torch.nn.functional.binary_cross_entropy_with_logits`
    /// (`weight` and `pos_weight` broadcast; they receive no gradient).
    pub fn binary_cross_entropy_with_logits(
        &self,
        target: &Tensor,
        weight: Option<&Tensor>,
        pos_weight: Option<&Tensor>,
        reduction: Reduction,
    ) -> Result<Tensor> {
        ensure!(
            target.shape() == self.shape(),
            Error::value(format!(
                "Target size ({}) must be the same as input size ({})",
                torch_size(&target.shape()),
                torch_size(&self.shape())
            ))
        );
        let ops = point_operands(
            self,
            target,
            weight,
            pos_weight,
            "binary_cross_entropy_with_logits",
        )?;
        let out = point_forward(PointLoss::BceWithLogits, &ops, reduction)?;
        point_record(
            "BinaryCrossEntropyWithLogitsBackward0",
            self,
            target,
            &ops,
            &out,
            reduction,
            |x, t, w, pw| {
                // d/dx = (1 + (pw - 1) t) sigmoid(x) - pw t; d/dt = -x - (pw - 1) log_sigmoid(x).
                let s = x.sigmoid()?;
                let (dx, dt) = match pw {
                    Some(pw) => {
                        let pw1 = pw.add_scalar(-1.0)?;
                        let lw = pw1.mul(t)?.add_scalar(1.0)?;
                        let log_sig = x.neg()?.softplus(1.0, 20.0)?.neg()?;
                        (
                            lw.mul(&s)?.sub(&pw.mul(t)?)?,
                            x.neg()?.sub(&pw1.mul(&log_sig)?)?,
                        )
                    }
                    None => (s.sub(t)?, x.neg()?),
                };
                Ok((weighted(dx, w)?, weighted(dt, w)?))
            },
        )?;
        Ok(out)
    }
}
