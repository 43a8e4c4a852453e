//! Losses: cross_entropy (one fused log-softmax + NLL op), nll_loss, mse_loss, l1_loss,
//! binary_cross_entropy and binary_cross_entropy_with_logits, with PyTorch's checks and messages.
//!
//! Each op runs the kernels of its input's device (LossKernels). Where the host sees the values
//! (the CPU), reductions and denominators finish on the host in double; elsewhere they stay on
//! the device, so a training step never waits for the host, and class targets and BCE ranges
//! are checked by the kernels, which report the first bad value (PyTorch's error) at the next
//! synchronising call.

use crate::autograd::{grad0, is_grad_enabled, no_grad, record, Saved};
use crate::backend::geometry::{CeOptions, RowGeom};
use crate::backend::kernels::{Upstream, WeightSum};
use crate::backend::{self, run, tensor, PointLoss};
use crate::error::{ensure, fmt_shape, Error, Result};
use crate::ops::common_device;
use crate::ops::nn::{kernel_operand, torch_size, Reduction};
use crate::storage::{DType, StorageData};
use crate::tensor::{broadcast_shapes, Dims, Tensor};

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

/// What a mean divides by: a number the host knows (rows of probability targets, elements, or
/// the summed class weights a kernel totalled), or a scalar tensor (those summed weights where
/// the kernel left them per row, on a device whose values the host does not see).
#[derive(Clone)]
enum Denom {
    Host(f64),
    Tensor(Tensor),
}

impl Denom {
    /// The summed class weights of a class-target loss.
    fn of(weights: WeightSum<StorageData>, rows: usize) -> Result<Denom> {
        match weights {
            WeightSum::Total(v) => Ok(Denom::Host(v)),
            WeightSum::Rows(w) => Ok(Denom::Tensor(no_grad(|| tensor(w, &[rows]).sum())?)),
        }
    }

    /// `t` over the denominator (differentiable).
    fn divide(&self, t: &Tensor) -> Result<Tensor> {
        match self {
            Denom::Host(c) => t.mul_scalar(1.0 / c),
            Denom::Tensor(d) => t.div(d),
        }
    }
}

/// Reduces per-row (or per-element) losses: the rows tensor itself, their sum, or their sum
/// over `denom`; summed on the host in double where the host sees the values, else where the
/// rows live.
fn reduce_rows(rows: Tensor, reduction: Reduction, denom: &Denom) -> Result<Tensor> {
    if reduction == Reduction::None {
        return Ok(rows);
    }
    match denom {
        Denom::Host(c) if backend::host_visible(rows.device()) => {
            let total: f64 = rows.to_vec::<f64>()?.iter().sum();
            let v = if reduction == Reduction::Mean {
                total / c
            } else {
                total
            };
            Tensor::scalar(v, rows.dtype(), rows.device())
        }
        _ => no_grad(|| {
            let total = rows.sum()?;
            if reduction == Reduction::Mean {
                denom.divide(&total)
            } else {
                Ok(total)
            }
        }),
    }
}

/// The gradient reaching each row, as the fused backward kernels read it.
enum RowsGrad {
    /// One value per row (reduction none).
    Rows(Tensor),
    /// One value for every row, read on the host.
    Scalar(f64),
    /// One value for every row, a scalar tensor.
    Broadcast(Tensor),
}

impl RowsGrad {
    /// The tensor operand the kernels read, if any.
    fn operand(&self) -> Option<&Tensor> {
        match self {
            RowsGrad::Rows(t) | RowsGrad::Broadcast(t) => Some(t),
            RowsGrad::Scalar(_) => None,
        }
    }

    /// The kernels' upstream over the operand's view `v` (present when `operand()` is).
    fn with_view<V>(&self, v: Option<V>) -> Result<Upstream<V>> {
        let missing = || Error::internal("a loss backward without its upstream operand");
        Ok(match self {
            RowsGrad::Scalar(g) => Upstream::Scalar(*g),
            RowsGrad::Rows(_) => Upstream::Rows(v.ok_or_else(missing)?),
            RowsGrad::Broadcast(_) => Upstream::Broadcast(v.ok_or_else(missing)?),
        })
    }
}

/// `g` scaled for the reduction, as the fused backward kernels read it: on the host where it
/// sees the value (in double), else a scalar tensor scaled where it lives.
fn upstream(g: &Tensor, reduction: Reduction, denom: &Denom) -> Result<RowsGrad> {
    if reduction == Reduction::None {
        return Ok(RowsGrad::Rows(kernel_operand(g)?));
    }
    let mean = reduction == Reduction::Mean;
    match denom {
        Denom::Host(c) if backend::host_visible(g.device()) => {
            let v = g.item()?.to_f64();
            Ok(RowsGrad::Scalar(if mean { v / c } else { v }))
        }
        _ => {
            let g = if mean {
                no_grad(|| denom.divide(g))?
            } else {
                g.clone()
            };
            Ok(RowsGrad::Broadcast(kernel_operand(&g)?))
        }
    }
}

/// `g` scaled for the reduction and shaped to broadcast over the input's class dim.
fn upstream_tensor(g: &Tensor, reduction: Reduction, denom: &Denom, ndim: usize) -> Result<Tensor> {
    match reduction {
        Reduction::None => g.unsqueeze(class_dim(ndim) as i64),
        Reduction::Sum => Ok(g.clone()),
        Reduction::Mean => denom.divide(g),
    }
}

/// What the class-target kernels take besides their operands.
#[derive(Copy, Clone)]
struct ClassLoss {
    geom: RowGeom,
    opt: CeOptions,
    /// Probability targets (cross_entropy only) rather than class indices.
    prob: bool,
}

/// The fused log-softmax + NLL forward: per-row losses (of shape `rows_shape`), per-row
/// log-sum-exp, and what the mean divides by.
fn ce_forward(
    xc: &Tensor,
    tc: &Tensor,
    wc: Option<&Tensor>,
    spec: ClassLoss,
    rows_shape: &[usize],
) -> Result<(Tensor, Tensor, Denom)> {
    let ClassLoss { geom, opt, prob } = spec;
    let n_rows = geom.rows();
    let (loss, lse, weights) = run!(B: x = xc, t = tc, w = wc =>
        B::cross_entropy(x, t, w, &geom, prob, opt));
    let denom = if prob {
        Denom::Host(n_rows as f64)
    } else {
        Denom::of(weights, n_rows)?
    };
    Ok((tensor(loss, rows_shape), tensor(lse, &[n_rows]), denom))
}

/// The fused cross-entropy backward: (dx, dtarget when asked for probability targets), each of
/// the input's shape.
fn ce_backward(
    x: &Tensor,
    t: &Tensor,
    lse: &Tensor,
    w: Option<&Tensor>,
    up: &RowsGrad,
    spec: ClassLoss,
    need_t: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let ClassLoss { geom, opt, prob } = spec;
    let (xc, tc, lc) = (kernel_operand(x)?, kernel_operand(t)?, kernel_operand(lse)?);
    let (dx, dt) = run!(B: x = &xc, t = &tc, lse = &lc, up_t = up.operand(), w = w =>
        B::cross_entropy_backward(x, t, w, lse, up.with_view(up_t)?, &geom, (prob, opt), need_t));
    let shape = x.shape();
    Ok((tensor(dx, &shape), dt.map(|d| tensor(d, &shape))))
}

/// The constant coefficients `a` of class targets (one-hot, smoothed, times the class weight;
/// `shape`, the input's), for the differentiable backward. `kernel_name` names the op in dtype
/// errors.
fn class_coefficients(
    kernel_name: &str,
    t: &Tensor,
    w: Option<&Tensor>,
    dtype: DType,
    shape: &[usize],
    spec: ClassLoss,
) -> Result<Tensor> {
    let ClassLoss { geom, opt, .. } = spec;
    ensure!(
        dtype.is_floating_point(),
        Error::not_implemented_for(kernel_name, dtype)
    );
    let tc = kernel_operand(t)?;
    let data = run!(B: t = &tc, w = w => B::class_coefficients(t, w, dtype, &geom, opt));
    Ok(tensor(data, shape))
}

/// The NLL forward: per-row losses (of shape `rows_shape`) and what the mean divides by (the
/// summed class weights of the rows not ignored).
fn nll_forward(
    xc: &Tensor,
    tc: &Tensor,
    wc: Option<&Tensor>,
    geom: RowGeom,
    ignore_index: i64,
    rows_shape: &[usize],
) -> Result<(Tensor, Denom)> {
    let (rows, weights) = run!(B: x = xc, t = tc, w = wc =>
        B::nll_loss(x, t, w, &geom, ignore_index));
    Ok((tensor(rows, rows_shape), Denom::of(weights, geom.rows())?))
}

/// The fused NLL backward: dx (of `shape`, in `dtype`).
fn nll_backward(
    t: &Tensor,
    w: Option<&Tensor>,
    up: &RowsGrad,
    dtype: DType,
    shape: &[usize],
    geom: RowGeom,
    ignore_index: i64,
) -> Result<Tensor> {
    let dx = run!(B: t = t, up_t = up.operand(), w = w =>
        B::nll_loss_backward(t, w, up.with_view(up_t)?, dtype, &geom, ignore_index));
    Ok(tensor(dx, shape))
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
            Error::not_implemented_for("log_softmax_lastdim_kernel_impl", self.dtype())
        );
        let dtype = self.dtype();
        let geom = row_geom(&is);
        let wc = class_weight(weight, geom.c, dtype)?;
        let opt = CeOptions {
            ignore_index,
            label_smoothing,
        };
        let spec = ClassLoss { geom, opt, prob };
        let xc = kernel_operand(self)?;
        let target_f = if prob {
            target.to_dtype(dtype)?
        } else {
            target.clone()
        };
        let tc = kernel_operand(&target_f)?;
        let (loss_rows, lse, denom) = ce_forward(&xc, &tc, wc.as_ref(), spec, &rows_shape(&is))?;
        let out = reduce_rows(loss_rows, reduction, &denom)?;
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
                    let gb = upstream_tensor(&g, reduction, &denom, nd)?;
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
                        class_coefficients("cross_entropy", t, w, x.dtype(), &x.shape(), spec)?
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
                let up = upstream(&g, reduction, &denom)?;
                let (dx, dt) = ce_backward(x, t, lse, w, &up, spec, need_t)?;
                let mut out = vec![Some(dx)];
                if prob {
                    out.push(dt);
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
            Error::not_implemented_for("nll_loss_out_frame", self.dtype())
        );
        let is = self.shape();
        let geom = row_geom(&is);
        let wc = class_weight(weight, geom.c, self.dtype())?;
        let (xc, tc) = (kernel_operand(self)?, kernel_operand(target)?);
        let (rows, denom) =
            nll_forward(&xc, &tc, wc.as_ref(), geom, ignore_index, &rows_shape(&is))?;
        let out = reduce_rows(rows, reduction, &denom)?;
        let has_w = wc.is_some();
        let spec = ClassLoss {
            geom,
            opt: CeOptions {
                ignore_index,
                label_smoothing: 0.0,
            },
            prob: false,
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
                if is_grad_enabled() {
                    // dx = -a * g with the constant coefficients a (one-hot times class weight).
                    let a = class_coefficients("nll_loss_backward", t, w, dtype, &is, spec)?;
                    let gb = upstream_tensor(&g, reduction, &denom, nd)?;
                    return Ok(vec![Some(a.mul(&gb)?.neg()?)]);
                }
                let up = upstream(&g, reduction, &denom)?;
                let dx = nll_backward(t, w, &up, dtype, &is, geom, ignore_index)?;
                Ok(vec![Some(dx)])
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
        Error::not_implemented_for(kernel_name, x.dtype())
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

/// Runs a pointwise loss kernel: the per-element tensor, or the reduced scalar (summed by the
/// kernel's backend).
fn point_forward(kind: PointLoss, ops: &PointOperands, reduction: Reduction) -> Result<Tensor> {
    let sum = reduction != Reduction::None;
    let data = run!(B: x = &ops.x, t = &ops.t, w = ops.w.as_ref(), pw = ops.pw.as_ref() =>
        B::pointwise_loss(kind, x, t, w, pw, sum));
    if !sum {
        return Ok(tensor(data, &ops.shape));
    }
    let out = tensor(data, &[]);
    if reduction == Reduction::Mean {
        let n = ops.shape.iter().product::<usize>();
        no_grad(|| out.mul_scalar(1.0 / n as f64))
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
        // Where the host does not see the values the kernel checks the ranges (reported at the
        // next synchronisation).
        let in_range = |t: &Tensor| -> Result<bool> {
            Ok(!backend::host_visible(t.device())
                || t.to_vec::<f64>()?.iter().all(|v| (0.0..=1.0).contains(v)))
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
