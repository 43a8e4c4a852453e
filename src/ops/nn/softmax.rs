//! softmax and log_softmax along a dim.

use crate::autograd::{grad0, is_grad_enabled, record, Saved};
use crate::backend::{run, tensor};
use crate::error::Result;
use crate::ops::float_dtype;
use crate::tensor::{normalize_dim, Tensor};

fn forward(x: &Tensor, dim: usize, log: bool) -> Result<Tensor> {
    let out = run!(B: x = x => B::softmax(x, dim, log));
    Ok(tensor(out, &x.shape()))
}

/// The fused backward kernel (used when no higher-order graph is recorded).
fn backward_kernel(g: &Tensor, y: &Tensor, dim: usize, log: bool) -> Result<Tensor> {
    let out = run!(B: g = g, y = y => B::softmax_backward(g, y, dim, log));
    Ok(tensor(out, &g.shape()))
}

impl Tensor {
    /// `exp(x) / sum(exp(x))` along `dim`.
    pub fn softmax(&self, dim: i64) -> Result<Tensor> {
        self.softmax_impl(dim, false)
    }

    /// `x - log(sum(exp(x)))` along `dim`, computed stably in one pass.
    pub fn log_softmax(&self, dim: i64) -> Result<Tensor> {
        self.softmax_impl(dim, true)
    }

    fn softmax_impl(&self, dim: i64, log: bool) -> Result<Tensor> {
        let x = self.to_dtype(float_dtype(self.dtype()))?;
        let scalar = x.ndim() == 0;
        let x = if scalar { x.reshape_dims(&[1])? } else { x };
        let d = normalize_dim(dim, x.ndim())?;
        let out = forward(&x, d, log)?;
        let out = if scalar { out.reshape_dims(&[])? } else { out };
        let name = if log {
            "LogSoftmaxBackward0"
        } else {
            "SoftmaxBackward0"
        };
        record(
            name,
            &[self],
            &[&out],
            || vec![Saved::Output(0)],
            move |ctx, grads| {
                let g = grad0(grads)?;
                let y = ctx.saved(0);
                let (g1, y1) = if scalar {
                    (g.reshape_dims(&[1])?, y.reshape_dims(&[1])?)
                } else {
                    (g.clone(), y.clone())
                };
                let gx = if is_grad_enabled() || g1.dtype() != y1.dtype() {
                    let dd = d as i64;
                    if log {
                        g1.sub(&y1.exp()?.mul(&g1.sum_dims(&[dd], true)?)?)?
                    } else {
                        y1.mul(&g1.sub(&g1.mul(&y1)?.sum_dims(&[dd], true)?)?)?
                    }
                } else {
                    backward_kernel(&g1, &y1, d, log)?
                };
                Ok(vec![Some(if scalar { gx.reshape_dims(&[])? } else { gx })])
            },
        )?;
        Ok(out)
    }
}
