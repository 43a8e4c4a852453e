//! Broadcast binary ops: arithmetic, pow, maximum/minimum, comparisons, logical ops, where.

use crate::autograd::{grad0, is_grad_enabled, record, Saved};
use crate::backend::{self, BinaryOp};
use crate::error::{Error, Result};
use crate::ops::{common_device, operand_tensor, result_type, Operand};
use crate::storage::DType;
use crate::tensor::{broadcast_shapes, Scalar, Tensor};

/// PyTorch's node name of a differentiable binary op (None: no gradient).
fn node_name(op: BinaryOp) -> Option<&'static str> {
    Some(match op {
        BinaryOp::Add => "AddBackward0",
        BinaryOp::Sub => "SubBackward0",
        BinaryOp::Mul => "MulBackward0",
        BinaryOp::Div => "DivBackward0",
        BinaryOp::Pow => "PowBackward1",
        BinaryOp::Maximum => "MaximumBackward0",
        BinaryOp::Minimum => "MinimumBackward0",
        BinaryOp::Remainder => "RemainderBackward0",
        BinaryOp::Fmod => "FmodBackward0",
        _ => return None,
    })
}

/// The dtype an op computes in, given the promoted dtype of its operands.
fn compute_dtype(op: BinaryOp, promoted: DType) -> Result<DType> {
    Ok(match op {
        // True division always gives floats.
        BinaryOp::Div if !promoted.is_floating_point() => DType::default_float(),
        BinaryOp::Sub if promoted == DType::Bool => {
            return Err(Error::runtime(
                "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead.",
            ))
        }
        _ => promoted,
    })
}

/// `op(lhs, rhs)` with NumPy broadcasting, PyTorch type promotion and autograd.
pub fn binary_op(op: BinaryOp, lhs: Operand<'_>, rhs: Operand<'_>) -> Result<Tensor> {
    let device = match (lhs, rhs) {
        (Operand::Tensor(x), Operand::Tensor(y)) => common_device(&[x, y])?,
        (Operand::Tensor(t), _) | (_, Operand::Tensor(t)) => t.device(),
        _ => crate::Device::Cpu,
    };
    let dtype = compute_dtype(op, result_type(&[lhs, rhs]))?;
    let a = operand_tensor(lhs, dtype, device)?;
    let b = operand_tensor(rhs, dtype, device)?;
    let shape = broadcast_shapes(&a.shape(), &b.shape())?;
    let out = backend::binary(op, &a, &b, &shape)?;
    let tracked = |o: Operand<'_>| matches!(o, Operand::Tensor(t) if t.requires_grad());
    let differentiable = !op.returns_bool() && dtype.is_floating_point();
    if differentiable && crate::autograd::is_grad_enabled() && (tracked(lhs) || tracked(rhs)) {
        // Gradients flow to the original operands (the engine casts them back to their dtypes).
        let inputs: Vec<Tensor> = vec![
            if let Operand::Tensor(t) = lhs {
                t.clone()
            } else {
                a.clone()
            },
            if let Operand::Tensor(t) = rhs {
                t.clone()
            } else {
                b.clone()
            },
        ];
        record_binary(op, &inputs[0], &inputs[1], &a, &b, &out)?;
    }
    Ok(out)
}

/// Records the backward of a differentiable binary op. `a` and `b` are the operands as computed
/// (promoted dtype); `x` and `y` the tensors gradients go to.
fn record_binary(
    op: BinaryOp,
    x: &Tensor,
    y: &Tensor,
    a: &Tensor,
    b: &Tensor,
    out: &Tensor,
) -> Result<()> {
    let (sa, sb) = (x.shape(), y.shape());
    let Some(name) = node_name(op) else {
        return Ok(());
    };
    let (a, b) = (a.clone(), b.clone());
    record(
        name,
        &[x, y],
        &[out],
        || match op {
            BinaryOp::Add | BinaryOp::Sub => vec![],
            BinaryOp::Pow => vec![
                Saved::Aux(a.clone()),
                Saved::Aux(b.clone()),
                Saved::Output(0),
            ],
            _ => vec![Saved::Aux(a.clone()), Saved::Aux(b.clone())],
        },
        move |ctx, grads| {
            let g = grad0(grads)?;
            let (ga, gb) = match op {
                BinaryOp::Add => (Some(g.clone()), Some(g.clone())),
                BinaryOp::Sub => (
                    Some(g.clone()),
                    ctx.needs_input_grad(1).then(|| g.neg()).transpose()?,
                ),
                BinaryOp::Mul => {
                    let (a, b) = (ctx.saved(0), ctx.saved(1));
                    (
                        ctx.needs_input_grad(0).then(|| g.mul(b)).transpose()?,
                        ctx.needs_input_grad(1).then(|| g.mul(a)).transpose()?,
                    )
                }
                BinaryOp::Div => {
                    let (a, b) = (ctx.saved(0), ctx.saved(1));
                    (
                        ctx.needs_input_grad(0).then(|| g.div(b)).transpose()?,
                        ctx.needs_input_grad(1)
                            .then(|| g.neg()?.mul(a)?.div(&b.mul(b)?))
                            .transpose()?,
                    )
                }
                BinaryOp::Pow => {
                    let (a, b, y) = (ctx.saved(0), ctx.saved(1), ctx.saved(2));
                    let ga = ctx
                        .needs_input_grad(0)
                        .then(|| -> Result<Tensor> {
                            // d/da a^b = b * a^(b-1), taken as 0 where b == 0.
                            let d = b.mul(&a.pow(&b.sub_scalar(1.0)?)?)?;
                            let d = d.masked_fill(&b.eq_scalar(0.0)?, 0.0)?;
                            g.mul(&d)
                        })
                        .transpose()?;
                    let gb = ctx
                        .needs_input_grad(1)
                        .then(|| -> Result<Tensor> {
                            // d/db a^b = a^b * ln(a), taken as 0 where a == 0 and b >= 0.
                            let d = y.mul(&a.log()?)?;
                            let zero_base = a.eq_scalar(0.0)?.logical_and(&b.ge_scalar(0.0)?)?;
                            g.mul(&d.masked_fill(&zero_base, 0.0)?)
                        })
                        .transpose()?;
                    (ga, gb)
                }
                BinaryOp::Maximum | BinaryOp::Minimum => {
                    let (a, b) = (ctx.saved(0), ctx.saved(1));
                    // The larger (smaller) operand gets the gradient; ties split it evenly.
                    let (wins_a, wins_b) = if op == BinaryOp::Maximum {
                        (a.gt(b)?, b.gt(a)?)
                    } else {
                        (a.lt(b)?, b.lt(a)?)
                    };
                    let tie = a.eq(b)?;
                    let half = g.mul_scalar(0.5)?;
                    let share = |wins: &Tensor| -> Result<Tensor> {
                        let zero = g.zeros_like()?;
                        Tensor::where_(wins, g, &Tensor::where_(&tie, &half, &zero)?)
                    };
                    (
                        ctx.needs_input_grad(0)
                            .then(|| share(&wins_a))
                            .transpose()?,
                        ctx.needs_input_grad(1)
                            .then(|| share(&wins_b))
                            .transpose()?,
                    )
                }
                BinaryOp::Remainder | BinaryOp::Fmod => {
                    // a - q(a / b) * b with q floor (remainder) or trunc (fmod), piecewise
                    // constant: d/da = 1, d/db = -q(a / b).
                    let (a, b) = (ctx.saved(0), ctx.saved(1));
                    let gb = ctx
                        .needs_input_grad(1)
                        .then(|| -> Result<Tensor> {
                            let ratio = a.div(b)?;
                            let q = if op == BinaryOp::Remainder {
                                ratio.floor()?
                            } else {
                                ratio.trunc()?
                            };
                            g.mul(&q)?.neg()
                        })
                        .transpose()?;
                    (Some(g.clone()), gb)
                }
                _ => (None, None),
            };
            Ok(vec![
                ga.map(|t| t.sum_to_shape(&sa)).transpose()?,
                gb.map(|t| t.sum_to_shape(&sb)).transpose()?,
            ])
        },
    )
}

macro_rules! binary_methods {
    ($($(#[$doc:meta])* $name:ident, $scalar:ident, $op:expr;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self, other: &Tensor) -> Result<Tensor> {
                    binary_op($op, Operand::Tensor(self), Operand::Tensor(other))
                }
                $(#[$doc])*
                pub fn $scalar(&self, other: impl Into<Scalar>) -> Result<Tensor> {
                    binary_op($op, Operand::Tensor(self), Operand::Scalar(other.into()))
                }
            )*
        }
    };
}

binary_methods! {
    /// Elementwise sum with broadcasting.
    add, add_scalar, BinaryOp::Add;
    /// Elementwise difference with broadcasting.
    sub, sub_scalar, BinaryOp::Sub;
    /// Elementwise product with broadcasting.
    mul, mul_scalar, BinaryOp::Mul;
    /// True division with broadcasting (integers divide to floats).
    div, div_scalar, BinaryOp::Div;
    /// Elementwise maximum (NaN propagates).
    maximum, maximum_scalar, BinaryOp::Maximum;
    /// Elementwise minimum (NaN propagates).
    minimum, minimum_scalar, BinaryOp::Minimum;
    /// Division rounded toward negative infinity.
    floor_divide, floor_divide_scalar, BinaryOp::FloorDivide;
    /// Python-style remainder (the sign of the divisor).
    remainder, remainder_scalar, BinaryOp::Remainder;
    /// C-style remainder (the sign of the dividend).
    fmod, fmod_scalar, BinaryOp::Fmod;
    /// `==`, elementwise, as a bool tensor.
    eq, eq_scalar, BinaryOp::Eq;
    /// `!=`, elementwise.
    ne, ne_scalar, BinaryOp::Ne;
    /// `<`, elementwise.
    lt, lt_scalar, BinaryOp::Lt;
    /// `<=`, elementwise.
    le, le_scalar, BinaryOp::Le;
    /// `>`, elementwise.
    gt, gt_scalar, BinaryOp::Gt;
    /// `>=`, elementwise.
    ge, ge_scalar, BinaryOp::Ge;
    /// Logical and of truthiness.
    logical_and, logical_and_scalar, BinaryOp::LogicalAnd;
    /// Logical or of truthiness.
    logical_or, logical_or_scalar, BinaryOp::LogicalOr;
    /// Logical xor of truthiness.
    logical_xor, logical_xor_scalar, BinaryOp::LogicalXor;
}

impl Tensor {
    /// Elementwise power with a tensor exponent (`pow_scalar` takes a number).
    pub fn pow(&self, exponent: &Tensor) -> Result<Tensor> {
        binary_op(
            BinaryOp::Pow,
            Operand::Tensor(self),
            Operand::Tensor(exponent),
        )
    }
    /// `scalar ** self`.
    pub fn rpow_scalar(&self, base: impl Into<Scalar>) -> Result<Tensor> {
        binary_op(
            BinaryOp::Pow,
            Operand::Scalar(base.into()),
            Operand::Tensor(self),
        )
    }
    /// `scalar - self`.
    pub fn rsub_scalar(&self, other: impl Into<Scalar>) -> Result<Tensor> {
        binary_op(
            BinaryOp::Sub,
            Operand::Scalar(other.into()),
            Operand::Tensor(self),
        )
    }
    /// `scalar / self`.
    pub fn rdiv_scalar(&self, other: impl Into<Scalar>) -> Result<Tensor> {
        binary_op(
            BinaryOp::Div,
            Operand::Scalar(other.into()),
            Operand::Tensor(self),
        )
    }

    /// `cond ? a : b` elementwise with broadcasting (`torch.where`).
    pub fn where_(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        where_operands(cond, Operand::Tensor(a), Operand::Tensor(b))
    }

    /// Replaces elements where `mask` is true by `value`.
    pub fn masked_fill(&self, mask: &Tensor, value: impl Into<Scalar>) -> Result<Tensor> {
        if mask.dtype() != DType::Bool {
            return Err(Error::runtime(format!(
                "masked_fill_ only supports boolean masks, but got mask with dtype {}",
                mask.dtype().name()
            )));
        }
        let value = value.into();
        let v = Tensor::scalar(value, self.dtype(), self.device())?;
        common_device(&[self, mask])?;
        let shape = broadcast_shapes(&self.shape(), &mask.shape())?;
        let out = backend::where_(mask, &v, self, &shape)?;
        let (mask, own_shape) = (mask.clone(), self.shape());
        record(
            "MaskedFillBackward0",
            &[self],
            &[&out],
            || vec![Saved::Aux(mask)],
            move |ctx, grads| {
                let g = grad0(grads)?;
                Ok(vec![Some(
                    g.masked_fill(ctx.saved(0), 0.0)?.sum_to_shape(&own_shape)?,
                )])
            },
        )?;
        Ok(out)
    }
}

/// `where(cond, a, b)` where either branch may be a number.
pub fn where_operands(cond: &Tensor, a: Operand<'_>, b: Operand<'_>) -> Result<Tensor> {
    if cond.dtype() != DType::Bool {
        return Err(Error::runtime(format!(
            "where expected condition to be a boolean tensor, but got a tensor with dtype {}",
            cond.dtype().scalar_name()
        )));
    }
    let mut tensors = vec![cond];
    for o in [a, b] {
        if let Operand::Tensor(t) = o {
            tensors.push(t);
        }
    }
    let device = common_device(&tensors)?;
    let dtype = result_type(&[a, b]);
    let (ta, tb) = (
        operand_tensor(a, dtype, device)?,
        operand_tensor(b, dtype, device)?,
    );
    let shape = broadcast_shapes(&broadcast_shapes(&cond.shape(), &ta.shape())?, &tb.shape())?;
    let out = backend::where_(cond, &ta, &tb, &shape)?;
    if dtype.is_floating_point() {
        let (sa, sb) = (ta.shape(), tb.shape());
        let x = if let Operand::Tensor(t) = a {
            t.clone()
        } else {
            ta.clone()
        };
        let y = if let Operand::Tensor(t) = b {
            t.clone()
        } else {
            tb.clone()
        };
        let cond = cond.clone();
        record(
            "WhereBackward0",
            &[&x, &y],
            &[&out],
            || vec![Saved::Aux(cond)],
            move |ctx, grads| {
                let g = grad0(grads)?;
                let c = ctx.saved(0);
                let zero = Tensor::scalar(0.0, g.dtype(), g.device())?;
                let ga = ctx
                    .needs_input_grad(0)
                    .then(|| {
                        where_operands(c, Operand::Tensor(g), Operand::Tensor(&zero))?
                            .sum_to_shape(&sa)
                    })
                    .transpose()?;
                let gb = ctx
                    .needs_input_grad(1)
                    .then(|| {
                        where_operands(c, Operand::Tensor(&zero), Operand::Tensor(g))?
                            .sum_to_shape(&sb)
                    })
                    .transpose()?;
                Ok(vec![ga, gb])
            },
        )?;
    }
    Ok(out)
}

/// A fused gradient kernel `op(grad, saved)` when no graph is recorded, else `composite()`.
pub(crate) fn fused_grad(
    op: BinaryOp,
    g: &Tensor,
    saved: &Tensor,
    composite: impl FnOnce() -> Result<Tensor>,
) -> Result<Tensor> {
    if is_grad_enabled() || g.dtype() != saved.dtype() {
        return composite();
    }
    let shape = broadcast_shapes(&g.shape(), &saved.shape())?;
    backend::binary(op, g, saved, &shape)
}
