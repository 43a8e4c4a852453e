//! Reductions: sum, mean, prod, var, std, max, min, argmax, argmin, all, any, logsumexp, norm.

use crate::autograd::{grad0, record, Saved};
use crate::backend::{self, ReduceOp};
use crate::error::{ensure, Error, Result};
use crate::ops::float_dtype;
use crate::storage::DType;
use crate::tensor::{normalize_dim, Dims, Tensor};

/// Sorted unique dims from a user list (empty = all dims).
pub fn reduce_dims(dims: &[i64], ndim: usize) -> Result<Vec<usize>> {
    if dims.is_empty() {
        return Ok((0..ndim).collect());
    }
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        let d = normalize_dim(d, ndim)?;
        ensure!(
            !out.contains(&d),
            Error::runtime(format!(
                "dim {d} appears multiple times in the list of dims"
            ))
        );
        out.push(d);
    }
    out.retain(|&d| d < ndim); // a 0-d tensor reduces over nothing
    out.sort_unstable();
    Ok(out)
}

/// Shape after reducing `dims` with `keepdim`.
fn reduced_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Dims {
    let mut out = Dims::new();
    for (d, &s) in shape.iter().enumerate() {
        if dims.contains(&d) {
            if keepdim {
                out.push(1);
            }
        } else {
            out.push(s);
        }
    }
    out
}

/// A gradient of a reduction brought back to the input's rank (size-1 reduced dims), ready to expand.
fn unreduce(g: &Tensor, input_shape: &[usize], dims: &[usize], keepdim: bool) -> Result<Tensor> {
    if keepdim {
        return Ok(g.clone());
    }
    g.reshape_dims(&reduced_shape(input_shape, dims, true))
}

/// The gradient of a product over `dims`: `g * prod / x` at the nonzero elements (zero when
/// another element is zero, with the right derivative for gradients of gradients), and at a zero
/// element the product of the others (zero too when another element is zero).
fn prod_backward(x: &Tensor, g: &Tensor, prod: &Tensor, dims: &[usize]) -> Result<Tensor> {
    let di: Vec<i64> = dims.iter().map(|&k| k as i64).collect();
    let is_zero = x.eq_scalar(0.0)?;
    let safe_x = Tensor::where_(&is_zero, &x.ones_like()?, x)?;
    let at_nonzero = g.mul(prod)?.div(&safe_x)?;
    let single_zero = is_zero
        .to_dtype(DType::I64)?
        .sum_dims(&di, true)?
        .eq_scalar(1)?
        .to_dtype(x.dtype())?;
    let at_zero = g.mul(&safe_x.prod_dims(&di, true)?)?.mul(&single_zero)?;
    Tensor::where_(&is_zero, &at_zero, &at_nonzero)
}

impl Tensor {
    fn reduce_op(&self, op: ReduceOp, dims: &[usize], keepdim: bool) -> Result<Tensor> {
        let shape = self.shape();
        let out = backend::reduce(op, self, dims)?;
        let out_shape = reduced_shape(&shape, dims, keepdim);
        if out.shape() == out_shape {
            Ok(out)
        } else {
            out.reshape_dims(&out_shape)
        }
    }

    /// Sum of all elements (integers sum to int64).
    pub fn sum(&self) -> Result<Tensor> {
        self.sum_dims(&[], false)
    }

    /// Sum over `dims` (all when empty).
    pub fn sum_dims(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        let shape = self.shape();
        let d = reduce_dims(dims, shape.len())?;
        let out = self.reduce_op(ReduceOp::Sum, &d, keepdim)?;
        record(
            // PyTorch's names: a sum of everything is `sum()`'s node, over dims `sum(dim)`'s.
            if dims.is_empty() {
                "SumBackward0"
            } else {
                "SumBackward1"
            },
            &[self],
            &[&out],
            Vec::new,
            move |_, grads| {
                let g = unreduce(grad0(grads)?, &shape, &d, keepdim)?;
                Ok(vec![Some(g.broadcast_to(&shape)?)])
            },
        )?;
        Ok(out)
    }

    /// Mean of all elements (floats only, as in PyTorch).
    pub fn mean(&self) -> Result<Tensor> {
        self.mean_dims(&[], false)
    }

    /// Mean over `dims` (all when empty).
    pub fn mean_dims(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        ensure!(
            self.dtype().is_floating_point(),
            Error::runtime(format!(
                "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {}",
                self.dtype().scalar_name()
            ))
        );
        let shape = self.shape();
        let d = reduce_dims(dims, shape.len())?;
        let count: usize = d.iter().map(|&k| shape[k]).product();
        let out = self.reduce_op(ReduceOp::Mean, &d, keepdim)?;
        record(
            "MeanBackward1",
            &[self],
            &[&out],
            Vec::new,
            move |_, grads| {
                let g = unreduce(grad0(grads)?, &shape, &d, keepdim)?;
                Ok(vec![Some(
                    g.div_scalar(count as f64)?.broadcast_to(&shape)?,
                )])
            },
        )?;
        Ok(out)
    }

    /// Product over `dims` (all when empty).
    pub fn prod_dims(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        let shape = self.shape();
        let d = reduce_dims(dims, shape.len())?;
        let out = self.reduce_op(ReduceOp::Prod, &d, keepdim)?;
        record(
            "ProdBackward1",
            &[self],
            &[&out],
            || vec![Saved::Input(0), Saved::Output(0)],
            move |ctx, grads| {
                let x = ctx.saved(0);
                let g = unreduce(grad0(grads)?, &shape, &d, keepdim)?;
                let p = unreduce(ctx.saved(1), &shape, &d, keepdim)?;
                Ok(vec![Some(prod_backward(x, &g, &p, &d)?)])
            },
        )?;
        Ok(out)
    }

    /// Cumulative sum along `dim`, as `torch.cumsum`: integers and bools sum in int64 (unless
    /// `dtype` says otherwise), floats in their own dtype. The gradient is the reversed
    /// cumulative sum of the output's.
    pub fn cumsum(&self, dim: i64, dtype: Option<DType>) -> Result<Tensor> {
        let dtype = dtype.unwrap_or(if self.dtype().is_floating_point() {
            self.dtype()
        } else {
            DType::I64
        });
        let x = self.to_dtype(dtype)?;
        let scalar = x.ndim() == 0;
        let d = if scalar {
            normalize_dim(dim, 1)?
        } else {
            normalize_dim(dim, x.ndim())?
        };
        if scalar {
            return Ok(x.clone());
        }
        x.scan_sum(d, false)
    }

    /// The differentiable scan behind cumsum: its backward is the same scan the other way.
    fn scan_sum(&self, dim: usize, reverse: bool) -> Result<Tensor> {
        let out = backend::cumsum(self, dim, reverse)?;
        record(
            "CumsumBackward0",
            &[self],
            &[&out],
            Vec::new,
            move |_, grads| Ok(vec![Some(grad0(grads)?.scan_sum(dim, !reverse)?)]),
        )?;
        Ok(out)
    }

    /// Variance over `dims` with `correction` (1 = unbiased, PyTorch's default).
    pub fn var_dims(&self, dims: &[i64], correction: f64, keepdim: bool) -> Result<Tensor> {
        let x = if self.dtype().is_floating_point() {
            self.clone()
        } else {
            return Err(Error::runtime(format!(
                "std and var only support floating point and complex dtypes, got: {}",
                self.dtype().scalar_name()
            )));
        };
        let shape = x.shape();
        let d = reduce_dims(dims, shape.len())?;
        let count: usize = d.iter().map(|&k| shape[k]).product();
        let di: Vec<i64> = d.iter().map(|&k| k as i64).collect();
        let centered = x.sub(&x.mean_dims(&di, true)?)?;
        let ss = centered.square()?.sum_dims(&di, keepdim)?;
        ss.div_scalar((count as f64 - correction).max(0.0))
    }

    /// Standard deviation over `dims` with `correction`.
    pub fn std_dims(&self, dims: &[i64], correction: f64, keepdim: bool) -> Result<Tensor> {
        self.var_dims(dims, correction, keepdim)?.sqrt()
    }

    /// The largest element (NaN if any element is NaN).
    pub fn max(&self) -> Result<Tensor> {
        self.extreme_all(true)
    }

    /// The smallest element.
    pub fn min(&self) -> Result<Tensor> {
        self.extreme_all(false)
    }

    fn extreme_all(&self, want_max: bool) -> Result<Tensor> {
        let op = if want_max {
            ReduceOp::Max
        } else {
            ReduceOp::Min
        };
        let all: Vec<usize> = (0..self.ndim()).collect();
        let out = self.reduce_op(op, &all, false)?;
        let name = if want_max {
            "MaxBackward1"
        } else {
            "MinBackward1"
        };
        record(
            name,
            &[self],
            &[&out],
            || vec![Saved::Input(0), Saved::Output(0)],
            |ctx, grads| {
                // The gradient is shared evenly by all elements equal to the extreme.
                let g = grad0(grads)?;
                let mask = ctx.saved(0).eq(ctx.saved(1))?.to_dtype(g.dtype())?;
                let count = mask.sum()?;
                Ok(vec![Some(mask.mul(&g.div(&count)?)?)])
            },
        )?;
        Ok(out)
    }

    /// Max along `dim`: (values, int64 indices).
    pub fn max_dim(&self, dim: i64, keepdim: bool) -> Result<(Tensor, Tensor)> {
        self.extreme_dim(dim, keepdim, true)
    }

    /// Min along `dim`: (values, int64 indices).
    pub fn min_dim(&self, dim: i64, keepdim: bool) -> Result<(Tensor, Tensor)> {
        self.extreme_dim(dim, keepdim, false)
    }

    fn extreme_dim(&self, dim: i64, keepdim: bool, want_max: bool) -> Result<(Tensor, Tensor)> {
        let shape = self.shape();
        if shape.is_empty() {
            normalize_dim(dim, 0)?;
            return Ok((self.clone(), Tensor::zeros(&[], DType::I64, self.device())?));
        }
        let d = normalize_dim(dim, shape.len())?;
        let (values, indices) = backend::extreme_along(self, d, want_max)?;
        let (values, indices) = if keepdim {
            (values.unsqueeze(d as i64)?, indices.unsqueeze(d as i64)?)
        } else {
            (values, indices)
        };
        let name = if want_max {
            "MaxBackward0"
        } else {
            "MinBackward0"
        };
        let idx = indices.clone();
        record(
            name,
            &[self],
            &[&values],
            || vec![Saved::Aux(idx)],
            move |ctx, grads| {
                let g = grad0(grads)?;
                let (g, i) = if keepdim {
                    (g.clone(), ctx.saved(0).clone())
                } else {
                    (g.unsqueeze(d as i64)?, ctx.saved(0).unsqueeze(d as i64)?)
                };
                let z = Tensor::zeros(&shape, g.dtype(), g.device())?;
                Ok(vec![Some(z.scatter(d as i64, &i, &g)?)])
            },
        )?;
        Ok((values, indices))
    }

    /// Index of the max (over the flattened tensor when `dim` is None).
    pub fn argmax(&self, dim: Option<i64>, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme(dim, keepdim, true)
    }

    /// Index of the min.
    pub fn argmin(&self, dim: Option<i64>, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme(dim, keepdim, false)
    }

    fn arg_extreme(&self, dim: Option<i64>, keepdim: bool, want_max: bool) -> Result<Tensor> {
        let x = self.detach();
        match dim {
            None => {
                let flat = x.reshape_dims(&[x.numel()])?;
                let op = if want_max {
                    ReduceOp::ArgMax
                } else {
                    ReduceOp::ArgMin
                };
                let out = flat.reduce_op(op, &[0], false)?;
                if keepdim {
                    out.reshape_dims(&vec![1; x.ndim()])
                } else {
                    Ok(out)
                }
            }
            Some(d) => Ok(x.extreme_dim(d, keepdim, want_max)?.1),
        }
    }

    /// True when every element is nonzero (over `dims`, all when empty).
    pub fn all_dims(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        let d = reduce_dims(dims, self.ndim())?;
        let out = self.detach().reduce_op(ReduceOp::All, &d, keepdim)?;
        self.truth_dtype(out)
    }

    /// True when some element is nonzero.
    pub fn any_dims(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        let d = reduce_dims(dims, self.ndim())?;
        let out = self.detach().reduce_op(ReduceOp::Any, &d, keepdim)?;
        self.truth_dtype(out)
    }

    /// all/any of a uint8 tensor are uint8 in PyTorch (bool for every other dtype).
    fn truth_dtype(&self, out: Tensor) -> Result<Tensor> {
        if self.dtype() == DType::U8 {
            out.to_dtype(DType::U8)
        } else {
            Ok(out)
        }
    }

    /// `log(sum(exp(x)))` over `dims`, computed stably.
    pub fn logsumexp(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        let x = self.to_dtype(float_dtype(self.dtype()))?;
        let d = reduce_dims(dims, x.ndim())?;
        let di: Vec<i64> = d.iter().map(|&k| k as i64).collect();
        let m = crate::autograd::no_grad(|| -> Result<Tensor> {
            let mut m = x.detach();
            for &k in d.iter().rev() {
                m = m.max_dim(k as i64, true)?.0;
            }
            // Infinite maxima would give inf - inf; shift by zero there instead.
            let finite = m.abs()?.lt_scalar(f64::INFINITY)?;
            m.masked_fill(&finite.logical_not()?, 0.0)
        })?;
        let s = x.sub(&m)?.exp()?.sum_dims(&di, true)?.log()?.add(&m)?;
        if keepdim {
            Ok(s)
        } else {
            s.reshape_dims(&reduced_shape(&x.shape(), &d, false))
        }
    }

    /// The vector p-norm over `dims` (all when empty), as `torch.linalg.vector_norm`: `p` 0
    /// counts the nonzeros (no gradient), +-inf takes the largest or smallest magnitude. The
    /// gradient is PyTorch's: zero where the norm is zero (and, for p < 2, where an element is),
    /// shared evenly by ties for +-inf.
    pub fn norm(&self, p: f64, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        ensure!(
            self.dtype().is_floating_point(),
            Error::not_implemented(format!(
                "linalg.vector_norm: Expected a floating point or complex tensor as input. Got {}",
                self.dtype().scalar_name()
            ))
        );
        let shape = self.shape();
        let d = reduce_dims(dims, shape.len())?;
        let di: Vec<i64> = d.iter().map(|&k| k as i64).collect();
        let out = crate::autograd::no_grad(|| -> Result<Tensor> {
            let a = self.abs()?;
            if p == 0.0 {
                a.ne_scalar(0.0)?
                    .to_dtype(self.dtype())?
                    .sum_dims(&di, keepdim)
            } else if p == 1.0 {
                a.sum_dims(&di, keepdim)
            } else if p == 2.0 {
                a.square()?.sum_dims(&di, keepdim)?.sqrt()
            } else if p == f64::INFINITY {
                a.reduce_op(ReduceOp::Max, &d, keepdim)
            } else if p == f64::NEG_INFINITY {
                a.reduce_op(ReduceOp::Min, &d, keepdim)
            } else {
                a.pow_scalar(p)?.sum_dims(&di, keepdim)?.pow_scalar(1.0 / p)
            }
        })?;
        if p == 0.0 {
            return Ok(out);
        }
        record(
            "LinalgVectorNormBackward0",
            &[self],
            &[&out],
            || vec![Saved::Input(0), Saved::Output(0)],
            move |ctx, grads| {
                let x = ctx.saved(0);
                let g = unreduce(grad0(grads)?, &shape, &d, keepdim)?;
                let n = unreduce(ctx.saved(1), &shape, &d, keepdim)?;
                // Zeros replaced by ones where they would divide (those terms are zero anyway),
                // so that no inf or NaN enters this backward or its own.
                let nonzero = |t: &Tensor| Tensor::where_(&t.eq_scalar(0.0)?, &t.ones_like()?, t);
                let gx = if p == 1.0 {
                    x.sign()?.mul(&g)?
                } else if p == 2.0 {
                    x.mul(&g.div(&nonzero(&n)?)?)?
                } else if p.is_infinite() {
                    let at = x.abs()?.eq(&n)?.to_dtype(x.dtype())?;
                    let ties = at.sum_dims(&di, true)?;
                    x.sign()?.mul(&at)?.mul(&g.div(&ties)?)?
                } else {
                    // x |x|^(p-2) / n^(p-1)
                    let scale = g.div(&nonzero(&n)?.pow_scalar(p - 1.0)?)?;
                    let zero_n = n.eq_scalar(0.0)?;
                    let term = x
                        .mul(&nonzero(&x.abs()?)?.pow_scalar(p - 2.0)?)?
                        .mul(&scale)?;
                    Tensor::where_(&zero_n, &term.zeros_like()?, &term)?
                };
                Ok(vec![Some(gx)])
            },
        )?;
        Ok(out)
    }
}
