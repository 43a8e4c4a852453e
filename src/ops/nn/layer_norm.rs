//! layer_norm: normalises over the trailing `normalized_shape` dims, with per-element weight and
//! bias of that shape, as `torch.nn.functional.layer_norm`.
//!
//! Where the backend has fused kernels (the CPU: one sweep per row, rows in parallel) the
//! forward and the backward use them; elsewhere, and for gradients of gradients, the same
//! formulas run as differentiable tensor ops.

use std::sync::Arc;

use crate::autograd::{grad0, is_grad_enabled, record, Saved};
use crate::backend::{self, run, tensor};
use crate::error::{ensure, fmt_shape, Error, Result};
use crate::ops::common_device;
use crate::ops::nn::kernel_operand;
use crate::tensor::Tensor;

/// The input, weight and bias gradients.
type Grads = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

impl Tensor {
    /// Layer normalisation over the last `normalized_shape.len()` dims, which must equal
    /// `normalized_shape`; `weight` and `bias` (when given) have that shape.
    pub fn layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        let mut all = vec![self];
        all.extend(weight);
        all.extend(bias);
        common_device(&all)?;
        let shape = self.shape();
        let k = normalized_shape.len();
        ensure!(
            k >= 1,
            Error::runtime(
                "Expected normalized_shape to be at least 1-dimensional, i.e., containing at \
                 least one element, but got normalized_shape = []"
            )
        );
        ensure!(
            shape.len() >= k && shape[shape.len() - k..] == *normalized_shape,
            Error::runtime(format!(
                "Given normalized_shape={}, expected input with shape [*, {}], but got input of size{}",
                fmt_shape(normalized_shape),
                fmt_shape(normalized_shape).trim_matches(['[', ']']),
                fmt_shape(&shape)
            ))
        );
        for (name, t) in [("weight", weight), ("bias", bias)] {
            if let Some(t) = t {
                ensure!(
                    t.shape()[..] == *normalized_shape,
                    Error::runtime(format!(
                        "Expected {name} to be of same shape as normalized_shape, but got {name} \
                         of shape {} and normalized_shape = {}",
                        fmt_shape(&t.shape()),
                        fmt_shape(normalized_shape)
                    ))
                );
            }
        }
        ensure!(
            self.dtype().is_floating_point(),
            Error::not_implemented_for("LayerNormKernelImpl", self.dtype())
        );
        let dtype = self.dtype();
        let cast = |t: Option<&Tensor>| t.map(|t| t.to_dtype(dtype)).transpose();
        let (wd, bd) = (cast(weight)?, cast(bias)?);
        if !backend::fused_layer_norm(self.device()) {
            return composite_forward(self, k, wd.as_ref(), bd.as_ref(), eps);
        }
        let d: usize = normalized_shape.iter().product();
        let rows = shape.iter().product::<usize>().checked_div(d).unwrap_or(0);
        let xc = kernel_operand(self)?;
        let (wc, bc) = (
            wd.as_ref().map(kernel_operand).transpose()?,
            bd.as_ref().map(kernel_operand).transpose()?,
        );
        let (has_w, has_b) = (wc.is_some(), bc.is_some());
        let (y, mean, invstd) = run!(B: x = &xc, w = wc.as_ref(), b = bc.as_ref() =>
            B::layer_norm(x, d, eps, w, b));
        let out = tensor(y, &shape);
        let stats = Arc::new((tensor(mean, &[rows]), tensor(invstd, &[rows])));
        let ns = normalized_shape.to_vec();
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        record(
            "NativeLayerNormBackward0",
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
                let need_x = ctx.needs_input_grad(0);
                let need_w = has_w && ctx.needs_input_grad(1);
                let need_b = has_b && ctx.needs_input_grad(1 + has_w as usize);
                let (gx, gw, gb) = if is_grad_enabled() {
                    composite_backward(&g, x, w, k, eps)?
                } else {
                    fused_backward(&g, x, w, d, &stats, need_x)?
                };
                let fit = |t: Option<Tensor>, needed: bool| match t {
                    Some(t) if needed => t.reshape_dims(&ns).map(Some),
                    _ => Ok(None),
                };
                let mut out = vec![if need_x { gx } else { None }];
                if has_w {
                    out.push(fit(gw, need_w)?);
                }
                if has_b {
                    out.push(fit(gb, need_b)?);
                }
                Ok(out)
            },
        )?;
        Ok(out)
    }
}

/// The trailing `k` dims of an `nd`-dim tensor, and the leading ones.
fn split_dims(nd: usize, k: usize) -> (Vec<i64>, Vec<i64>) {
    (
        (nd - k..nd).map(|d| d as i64).collect(),
        (0..nd - k).map(|d| d as i64).collect(),
    )
}

/// `(x - mean) * invstd` over the trailing `k` dims, as differentiable ops.
fn normalized(x: &Tensor, k: usize, eps: f64) -> Result<(Tensor, Tensor)> {
    let (rows, _) = split_dims(x.ndim(), k);
    let centered = x.sub(&x.mean_dims(&rows, true)?)?;
    let invstd = centered
        .square()?
        .mean_dims(&rows, true)?
        .add_scalar(eps)?
        .rsqrt()?;
    Ok((centered.mul(&invstd)?, invstd))
}

fn composite_forward(
    x: &Tensor,
    k: usize,
    w: Option<&Tensor>,
    b: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let mut y = normalized(x, k, eps)?.0;
    if let Some(w) = w {
        y = y.mul(w)?;
    }
    if let Some(b) = b {
        y = y.add(b)?;
    }
    Ok(y)
}

/// The backward as differentiable tensor ops (backends without fused kernels, and gradients of
/// gradients).
fn composite_backward(
    g: &Tensor,
    x: &Tensor,
    w: Option<&Tensor>,
    k: usize,
    eps: f64,
) -> Result<Grads> {
    let (rows, leading) = split_dims(x.ndim(), k);
    let (xhat, invstd) = normalized(x, k, eps)?;
    let gw = match w {
        Some(w) => g.mul(&w.to_dtype(x.dtype())?)?,
        None => g.clone(),
    };
    let a = gw.mean_dims(&rows, true)?;
    let b = gw.mul(&xhat)?.mean_dims(&rows, true)?;
    let gx = gw.sub(&a)?.sub(&xhat.mul(&b)?)?.mul(&invstd)?;
    // Summed over the leading dims (an empty dim list would sum everything).
    let over_rows = |t: Tensor| {
        if leading.is_empty() {
            Ok(t)
        } else {
            t.sum_dims(&leading, false)
        }
    };
    let dw = over_rows(g.mul(&xhat)?)?;
    let db = over_rows(g.clone())?;
    Ok((Some(gx), Some(dw), Some(db)))
}

/// The fused backward (no autograd).
fn fused_backward(
    g: &Tensor,
    x: &Tensor,
    w: Option<&Tensor>,
    d: usize,
    (mean, invstd): &(Tensor, Tensor),
    need_x: bool,
) -> Result<Grads> {
    let (gc, xc) = (kernel_operand(g)?, kernel_operand(x)?);
    let wc = w
        .map(|w| kernel_operand(&w.to_dtype(x.dtype())?))
        .transpose()?;
    let (dx, dw, db) = run!(B: g = &gc, x = &xc, mean = mean, invstd = invstd, w = wc.as_ref() =>
        B::layer_norm_backward(g, x, d, (mean, invstd), w, need_x));
    Ok((
        dx.map(|t| tensor(t, &x.shape())),
        dw.map(|t| tensor(t, &[d])),
        db.map(|t| tensor(t, &[d])),
    ))
}
