//! Losses: cross_entropy (one fused log-softmax + NLL op), nll_loss, mse_loss, l1_loss,
//! binary_cross_entropy and binary_cross_entropy_with_logits, with PyTorch's checks and messages.
//!
//! Each op runs the kernels of its input's device. On a CUDA device every reduction and
//! denominator stays on the device, so a training step never waits for the host, and class
//! targets are checked by the kernels, which report the first bad one (PyTorch's IndexError) at
//! the next synchronising call.

use crate::autograd::{grad0, is_grad_enabled, no_grad, record, Saved};
use crate::backend::cpu::nn::loss::{self as kernel, RowGrad, Target};
#[cfg(feature = "cuda")]
use crate::backend::cuda;
use crate::backend::geometry::{CeOptions, RowGeom};
use crate::backend::PointLoss;
use crate::error::{ensure, fmt_shape, Error, Result};
use crate::ops::common_device;
use crate::ops::nn::{
    cpu_tensor, kernel_operand, optional_pair, run_kernel, torch_size, Reduction,
};
#[cfg(feature = "cuda")]
use crate::ops::nn::{cuda_tensor, run_cuda};
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

/// What a mean divides by: a number the host knows (rows of probability targets, elements, or
/// on the CPU the summed class weights of class targets), or a device scalar (those summed class
/// weights on a CUDA device, which depend on the data).
#[derive(Clone)]
enum Denom {
    Host(f64),
    #[cfg(feature = "cuda")]
    Device(Tensor),
}

impl Denom {
    /// `t` over the denominator (differentiable).
    fn divide(&self, t: &Tensor) -> Result<Tensor> {
        match self {
            Denom::Host(c) => t.mul_scalar(1.0 / c),
            #[cfg(feature = "cuda")]
            Denom::Device(d) => t.div(d),
        }
    }

    /// The denominator as a number (CPU kernels, whose denominators the host always knows).
    fn on_host(&self) -> Result<f64> {
        match self {
            Denom::Host(c) => Ok(*c),
            #[cfg(feature = "cuda")]
            Denom::Device(_) => Err(Error::runtime(
                "internal error: a loss denominator on a CUDA device read on the host",
            )),
        }
    }
}

/// Reduces per-row (or per-element) losses: the rows tensor itself, their sum, or their sum
/// over `denom`; on the CPU summed on the host in double, on a CUDA device summed there.
fn reduce_rows(rows: Tensor, reduction: Reduction, denom: &Denom) -> Result<Tensor> {
    if reduction == Reduction::None {
        return Ok(rows);
    }
    #[cfg(feature = "cuda")]
    if rows.device().is_cuda() {
        return no_grad(|| {
            let total = rows.sum()?;
            if reduction == Reduction::Mean {
                denom.divide(&total)
            } else {
                Ok(total)
            }
        });
    }
    let total: f64 = rows.to_vec::<f64>()?.iter().sum();
    let v = if reduction == Reduction::Mean {
        total / denom.on_host()?
    } else {
        total
    };
    Tensor::scalar(v, rows.dtype(), rows.device())
}

/// The gradient reaching each row, as the fused backward kernels read it.
enum Upstream {
    /// One value per row (reduction none).
    Rows(Tensor),
    /// One value for every row, read on the host (CPU kernels).
    Scalar(f64),
    /// One value for every row, a device scalar (CUDA kernels read it with stride 0).
    #[cfg(feature = "cuda")]
    Device(Tensor),
}

impl Upstream {
    /// The tensor operand the kernels read, if any.
    fn operand(&self) -> Option<&Tensor> {
        match self {
            Upstream::Rows(t) => Some(t),
            Upstream::Scalar(_) => None,
            #[cfg(feature = "cuda")]
            Upstream::Device(t) => Some(t),
        }
    }

    /// The stride at which a CUDA kernel reads the operand: 1 per row, 0 for one value.
    #[cfg(feature = "cuda")]
    fn stride(&self) -> usize {
        usize::from(matches!(self, Upstream::Rows(_)))
    }
}

/// `g` scaled for the reduction, as the fused backward kernels read it.
fn upstream(g: &Tensor, reduction: Reduction, denom: &Denom) -> Result<Upstream> {
    if reduction == Reduction::None {
        return Ok(Upstream::Rows(kernel_operand(g)?));
    }
    #[cfg(feature = "cuda")]
    if g.device().is_cuda() {
        let g = if reduction == Reduction::Mean {
            no_grad(|| denom.divide(g))?
        } else {
            g.clone()
        };
        return Ok(Upstream::Device(kernel_operand(&g)?));
    }
    let v = g.item()?.to_f64();
    Ok(Upstream::Scalar(if reduction == Reduction::Mean {
        v / denom.on_host()?
    } else {
        v
    }))
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
    let mut operands = vec![xc, tc];
    operands.extend(wc);
    #[cfg(feature = "cuda")]
    if xc.device().is_cuda() {
        let rows = run_cuda("cross_entropy", &operands, |s| {
            cuda::nn::ce_forward(s[0], s[1], s.get(2).copied(), &geom, prob, opt)
        })?;
        let denom = if prob {
            Denom::Host(n_rows as f64)
        } else {
            Denom::Device(no_grad(|| cuda_tensor(rows.weight, &[n_rows]).sum())?)
        };
        let lse = cuda_tensor(rows.lse, &[n_rows]);
        return Ok((cuda_tensor(rows.loss, rows_shape), lse, denom));
    }
    if !prob {
        tc.with_cpu(|s, l| {
            let t = s.slice::<i64>()?;
            let r = l.contiguous_range().unwrap_or(0..0);
            kernel::check_targets(&t[r], geom.c, opt.ignore_index)
        })?;
    }
    let (loss_rows, lse, total_weight) = run_kernel("cross_entropy", &operands, |s| {
        with_float_dtype!(s[0].dtype(), T => {
            let t = if prob { Target::Prob(s[1].get::<T>()?) } else { Target::Class(s[1].get::<i64>()?) };
            let w = match s.get(2) { Some(w) => Some(w.get::<T>()?), None => None };
            let f = kernel::cross_entropy_forward(s[0].get::<T>()?, t, w, &geom, opt)?;
            Ok((T::wrap(f.loss), T::wrap(f.lse), f.total_weight))
        }, else Err(Error::not_implemented_for("cross_entropy", s[0].dtype())))
    })?;
    let denom = Denom::Host(if prob { n_rows as f64 } else { total_weight });
    let lse = cpu_tensor(lse, &[n_rows]);
    Ok((cpu_tensor(loss_rows, rows_shape), lse, denom))
}

/// The fused cross-entropy backward: (dx, dtarget when asked for probability targets), each of
/// the input's shape.
fn ce_backward(
    x: &Tensor,
    t: &Tensor,
    lse: &Tensor,
    w: Option<&Tensor>,
    up: &Upstream,
    spec: ClassLoss,
    need_t: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let ClassLoss { geom, opt, prob } = spec;
    let (xc, tc, lc) = (kernel_operand(x)?, kernel_operand(t)?, kernel_operand(lse)?);
    let mut operands = vec![&xc, &tc, &lc];
    operands.extend(up.operand());
    operands.extend(w);
    let wi = 3 + usize::from(up.operand().is_some());
    let shape = x.shape();
    #[cfg(feature = "cuda")]
    if xc.device().is_cuda() {
        let stride = up.stride();
        let (dx, dt) = run_cuda("cross_entropy_backward", &operands, |s| {
            let w = s.get(wi).copied();
            cuda::nn::ce_backward(s[0], s[1], w, s[2], s[3], stride, &geom, prob, opt, need_t)
        })?;
        return Ok((cuda_tensor(dx, &shape), dt.map(|d| cuda_tensor(d, &shape))));
    }
    let (dx, dt) = run_kernel("cross_entropy_backward", &operands, |s| {
        with_float_dtype!(s[0].dtype(), T => {
            let t = if prob { Target::Prob(s[1].get::<T>()?) } else { Target::Class(s[1].get::<i64>()?) };
            let gr = match up { Upstream::Scalar(v) => RowGrad::Scalar(*v), _ => RowGrad::PerRow(s[3].get::<T>()?) };
            let w = match s.get(wi) { Some(w) => Some(w.get::<T>()?), None => None };
            let (dx, dt) = kernel::cross_entropy_backward(
                s[0].get::<T>()?, t, w, s[2].get::<T>()?, gr, &geom, opt, need_t)?;
            Ok((T::wrap(dx), dt.map(T::wrap)))
        }, else Err(Error::not_implemented_for("cross_entropy", s[0].dtype())))
    })?;
    Ok((cpu_tensor(dx, &shape), dt.map(|d| cpu_tensor(d, &shape))))
}

/// The constant coefficients `a` of class targets (one-hot, smoothed, times the class weight;
/// `shape`, the input's), for the differentiable backward. `op` and `kernel_name` name the op in
/// errors.
fn class_coefficients(
    (op, kernel_name): (&str, &str),
    t: &Tensor,
    w: Option<&Tensor>,
    dtype: DType,
    shape: &[usize],
    spec: ClassLoss,
) -> Result<Tensor> {
    let ClassLoss { geom, opt, .. } = spec;
    let tc = kernel_operand(t)?;
    let mut operands = vec![&tc];
    operands.extend(w);
    #[cfg(feature = "cuda")]
    if tc.device().is_cuda() {
        let dev = tc.device();
        let data = run_cuda(op, &operands, |s| {
            let d = cuda::elementwise::device_of(dev)?;
            cuda::nn::ce_coefficients(&d, dtype, s[0], s.get(1).copied(), &geom, opt)
        })?;
        return Ok(cuda_tensor(data, shape));
    }
    let data = run_kernel(op, &operands, |s| {
        with_float_dtype!(dtype, T => {
            let w = match s.get(1) { Some(w) => Some(w.get::<T>()?), None => None };
            Ok(T::wrap(kernel::class_coefficients(s[0].get::<i64>()?, w, &geom, opt)?))
        }, else Err(Error::not_implemented_for(kernel_name, dtype)))
    })?;
    Ok(cpu_tensor(data, shape))
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
    let mut operands = vec![xc, tc];
    operands.extend(wc);
    #[cfg(feature = "cuda")]
    if xc.device().is_cuda() {
        let (rows, wrow) = run_cuda("nll_loss", &operands, |s| {
            cuda::nn::nll_forward(s[0], s[1], s.get(2).copied(), &geom, ignore_index)
        })?;
        let denom = Denom::Device(no_grad(|| cuda_tensor(wrow, &[geom.rows()]).sum())?);
        return Ok((cuda_tensor(rows, rows_shape), denom));
    }
    let (rows, total) = run_kernel("nll_loss", &operands, |s| {
        let t = s[1].get::<i64>()?;
        kernel::check_targets(t, geom.c, ignore_index)?;
        with_float_dtype!(s[0].dtype(), T => {
            let w = match s.get(2) { Some(w) => Some(w.get::<T>()?), None => None };
            let (l, total) = kernel::nll_forward(s[0].get::<T>()?, t, w, &geom, ignore_index)?;
            Ok((T::wrap(l), total))
        }, else Err(Error::not_implemented_for("nll_loss_out_frame", s[0].dtype())))
    })?;
    Ok((cpu_tensor(rows, rows_shape), Denom::Host(total)))
}

/// The fused NLL backward: dx (of `shape`, in `dtype`).
fn nll_backward(
    t: &Tensor,
    w: Option<&Tensor>,
    up: &Upstream,
    dtype: DType,
    shape: &[usize],
    geom: RowGeom,
    ignore_index: i64,
) -> Result<Tensor> {
    let mut operands = vec![t];
    operands.extend(up.operand());
    operands.extend(w);
    let wi = 1 + usize::from(up.operand().is_some());
    #[cfg(feature = "cuda")]
    if t.device().is_cuda() {
        let (dev, stride) = (t.device(), up.stride());
        let dx = run_cuda("nll_loss_backward", &operands, |s| {
            let d = cuda::elementwise::device_of(dev)?;
            let w = s.get(wi).copied();
            cuda::nn::nll_backward(&d, dtype, s[0], w, s[1], stride, &geom, ignore_index)
        })?;
        return Ok(cuda_tensor(dx, shape));
    }
    let data = run_kernel("nll_loss_backward", &operands, |s| {
        with_float_dtype!(dtype, T => {
            let w = match s.get(wi) { Some(w) => Some(w.get::<T>()?), None => None };
            let gr = match up { Upstream::Scalar(v) => RowGrad::Scalar(*v), _ => RowGrad::PerRow(s[1].get::<T>()?) };
            Ok(T::wrap(kernel::nll_backward(s[0].get::<i64>()?, w, gr, &geom, ignore_index)?))
        }, else Err(Error::not_implemented_for("nll_loss_backward", dtype)))
    })?;
    Ok(cpu_tensor(data, shape))
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
                        let names = ("cross_entropy_backward", "cross_entropy");
                        class_coefficients(names, t, w, x.dtype(), &x.shape(), spec)?
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
                    let names = ("nll_loss_backward", "nll_loss_backward");
                    let a = class_coefficients(names, t, w, dtype, &is, spec)?;
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

/// Runs a pointwise loss kernel: the per-element tensor, or the reduced scalar (on the CPU
/// summed by the kernel, on a CUDA device by a device sum).
fn point_forward(kind: PointLoss, ops: &PointOperands, reduction: Reduction) -> Result<Tensor> {
    let mut operands = vec![&ops.x, &ops.t];
    operands.extend(ops.w.as_ref());
    operands.extend(ops.pw.as_ref());
    let (has_w, has_pw) = (ops.w.is_some(), ops.pw.is_some());
    let n = ops.shape.iter().product::<usize>();
    #[cfg(feature = "cuda")]
    if ops.x.device().is_cuda() {
        let data = run_cuda("loss", &operands, |s| {
            let (w, pw) = optional_pair(s, 2, (has_w, has_pw));
            cuda::nn::point_loss(kind, s[0], s[1], w.copied(), pw.copied(), n)
        })?;
        let per = cuda_tensor(data, &ops.shape);
        return reduce_rows(per, reduction, &Denom::Host(n as f64));
    }
    let reduce = reduction != Reduction::None;
    let data = run_kernel("loss", &operands, |s| {
        with_float_dtype!(s[0].dtype(), T => {
            let (w, pw) = optional_pair(s, 2, (has_w, has_pw));
            let (w, pw) = (w.map(|w| w.get::<T>()).transpose()?, pw.map(|p| p.get::<T>()).transpose()?);
            Ok(T::wrap(kernel::pointwise_loss(kind, s[0].get::<T>()?, s[1].get::<T>()?, w, pw, reduce)?))
        }, else Err(Error::not_implemented_for("loss", s[0].dtype())))
    })?;
    if !reduce {
        return Ok(cpu_tensor(data, &ops.shape));
    }
    let out = cpu_tensor(data, &[]);
    if reduction == Reduction::Mean {
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
