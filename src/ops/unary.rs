//! Elementwise functions of one tensor and their gradients.

use crate::autograd::{grad0, record, Saved};
use crate::backend::{self, BinaryOp, UnaryOp};
use crate::error::{Error, Result};
use crate::ops::binary::fused_grad;
use crate::storage::DType;
use crate::tensor::Tensor;

/// Which tensor a unary op's gradient needs.
enum Needs {
    Nothing,
    Input,
    Output,
}

/// The PyTorch node name of a unary op, and what its backward needs.
fn meta(op: UnaryOp) -> (&'static str, Needs) {
    use Needs::*;
    match op {
        UnaryOp::Neg => ("NegBackward0", Nothing),
        UnaryOp::Abs => ("AbsBackward0", Input),
        UnaryOp::Sign => ("SignBackward0", Nothing),
        UnaryOp::Square => ("PowBackward0", Input),
        UnaryOp::Relu => ("ReluBackward0", Output),
        UnaryOp::Exp => ("ExpBackward0", Output),
        UnaryOp::Log => ("LogBackward0", Input),
        UnaryOp::Sqrt => ("SqrtBackward0", Output),
        UnaryOp::Rsqrt => ("RsqrtBackward0", Output),
        UnaryOp::Sin => ("SinBackward0", Input),
        UnaryOp::Cos => ("CosBackward0", Input),
        UnaryOp::Tanh => ("TanhBackward0", Output),
        UnaryOp::Sigmoid => ("SigmoidBackward0", Output),
        UnaryOp::Log1p => ("Log1PBackward0", Input),
        UnaryOp::Expm1 => ("Expm1Backward0", Output),
        UnaryOp::Reciprocal => ("ReciprocalBackward0", Output),
        UnaryOp::Floor => ("FloorBackward0", Nothing),
        UnaryOp::Ceil => ("CeilBackward0", Nothing),
        UnaryOp::Round => ("RoundBackward0", Nothing),
        UnaryOp::Trunc => ("TruncBackward0", Nothing),
        UnaryOp::Gelu | UnaryOp::GeluTanh => ("GeluBackward0", Input),
        UnaryOp::Silu => ("SiluBackward0", Input),
        UnaryOp::LeakyRelu(_) => ("LeakyReluBackward0", Input),
        UnaryOp::Elu(_) => ("EluBackward0", Input),
        UnaryOp::Softplus { .. } => ("SoftplusBackward0", Input),
        UnaryOp::PowScalar(_) => ("PowBackward0", Input),
        UnaryOp::RPowScalar(_) => ("PowBackward1", Output),
        UnaryOp::Clamp { .. } => ("ClampBackward1", Input),
        UnaryOp::Erf => ("ErfBackward0", Input),
        UnaryOp::LogicalNot | UnaryOp::IsNan => ("NotDifferentiable", Nothing),
    }
}

/// `op(x)` with its gradient.
pub fn unary_op(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    let input = if dtype.is_floating_point() || op.integer_ok() {
        x.clone()
    } else {
        // Integer inputs of float functions compute in the default float dtype, as PyTorch does.
        x.to_dtype(DType::F32)?
    };
    let out = backend::unary(op, &input)?;
    let (name, needs) = meta(op);
    if name == "NotDifferentiable" || !out.dtype().is_floating_point() {
        return Ok(out);
    }
    record(
        name,
        &[x],
        &[&out],
        || match needs {
            Needs::Nothing => vec![],
            Needs::Input => vec![Saved::Input(0)],
            Needs::Output => vec![Saved::Output(0)],
        },
        move |ctx, grads| {
            let g = grad0(grads)?;
            let s = || ctx.saved(0);
            let gx = match op {
                UnaryOp::Neg => g.neg()?,
                UnaryOp::Abs => g.mul(&s().sign()?)?,
                UnaryOp::Sign
                | UnaryOp::Floor
                | UnaryOp::Ceil
                | UnaryOp::Round
                | UnaryOp::Trunc => g.zeros_like()?,
                UnaryOp::Square => g.mul(&s().mul_scalar(2.0)?)?,
                UnaryOp::Relu => fused_grad(BinaryOp::ReluBackward, g, s(), || {
                    g.mul(&s().gt_scalar(0.0)?.to_dtype(g.dtype())?)
                })?,
                UnaryOp::Exp => g.mul(s())?,
                UnaryOp::Log => g.div(s())?,
                UnaryOp::Sqrt => g.div(&s().mul_scalar(2.0)?)?,
                UnaryOp::Rsqrt => g.mul(&s().pow_scalar(3.0)?.mul_scalar(-0.5)?)?,
                UnaryOp::Sin => g.mul(&s().cos()?)?,
                UnaryOp::Cos => g.mul(&s().sin()?.neg()?)?,
                UnaryOp::Tanh => fused_grad(BinaryOp::TanhBackward, g, s(), || {
                    g.mul(&s().mul(s())?.rsub_scalar(1.0)?)
                })?,
                UnaryOp::Sigmoid => fused_grad(BinaryOp::SigmoidBackward, g, s(), || {
                    g.mul(&s().mul(&s().rsub_scalar(1.0)?)?)
                })?,
                UnaryOp::Log1p => g.div(&s().add_scalar(1.0)?)?,
                UnaryOp::Expm1 => g.mul(&s().add_scalar(1.0)?)?,
                UnaryOp::Reciprocal => g.mul(&s().mul(s())?.neg()?)?,
                UnaryOp::Gelu => fused_grad(BinaryOp::GeluBackward, g, s(), || {
                    let x = s();
                    let cdf = x
                        .mul_scalar(std::f64::consts::FRAC_1_SQRT_2)?
                        .erf()?
                        .add_scalar(1.0)?
                        .mul_scalar(0.5)?;
                    let pdf = x
                        .mul(x)?
                        .mul_scalar(-0.5)?
                        .exp()?
                        .mul_scalar(1.0 / (2.0 * std::f64::consts::PI).sqrt())?;
                    g.mul(&cdf.add(&x.mul(&pdf)?)?)
                })?,
                UnaryOp::GeluTanh => fused_grad(BinaryOp::GeluTanhBackward, g, s(), || {
                    let x = s();
                    let k = (2.0 / std::f64::consts::PI).sqrt();
                    let x2 = x.mul(x)?;
                    let t = x
                        .mul(&x2.mul_scalar(0.044715)?.add_scalar(1.0)?)?
                        .mul_scalar(k)?
                        .tanh()?;
                    let left = t.add_scalar(1.0)?.mul_scalar(0.5)?;
                    let dt = t
                        .mul(&t)?
                        .rsub_scalar(1.0)?
                        .mul(&x2.mul_scalar(3.0 * 0.044715)?.add_scalar(1.0)?)?
                        .mul_scalar(k)?;
                    g.mul(&left.add(&x.mul(&dt)?.mul_scalar(0.5)?)?)
                })?,
                UnaryOp::Silu => fused_grad(BinaryOp::SiluBackward, g, s(), || {
                    let sg = s().sigmoid()?;
                    g.mul(&sg.mul(&s().mul(&sg.rsub_scalar(1.0)?)?.add_scalar(1.0)?)?)
                })?,
                UnaryOp::LeakyRelu(slope) => {
                    fused_grad(BinaryOp::LeakyReluBackward(slope), g, s(), || {
                        let pos = s().gt_scalar(0.0)?;
                        Tensor::where_(&pos, g, &g.mul_scalar(slope)?)
                    })?
                }
                UnaryOp::Elu(alpha) => {
                    let x = s();
                    let neg = x.exp()?.mul_scalar(alpha)?;
                    g.mul(&Tensor::where_(&x.gt_scalar(0.0)?, &x.ones_like()?, &neg)?)?
                }
                UnaryOp::Softplus { beta, threshold } => {
                    let x = s();
                    let z = x.mul_scalar(beta)?;
                    let d =
                        Tensor::where_(&z.gt_scalar(threshold)?, &x.ones_like()?, &z.sigmoid()?)?;
                    g.mul(&d)?
                }
                UnaryOp::PowScalar(e) => {
                    if e == 0.0 {
                        g.zeros_like()?
                    } else {
                        g.mul(&s().pow_scalar(e - 1.0)?.mul_scalar(e)?)?
                    }
                }
                UnaryOp::RPowScalar(base) => g.mul(&s().mul_scalar(base.ln())?)?,
                UnaryOp::Clamp { min, max } => {
                    // Zero at the bounds themselves, as PyTorch's clamp and hardtanh.
                    fused_grad(BinaryOp::ClampBackward { min, max }, g, s(), || {
                        let x = s();
                        let mut keep = x.eq(x)?; // all true, except NaN
                        if let Some(lo) = min {
                            keep = keep.logical_and(&x.gt_scalar(lo)?)?;
                        }
                        if let Some(hi) = max {
                            keep = keep.logical_and(&x.lt_scalar(hi)?)?;
                        }
                        g.mul(&keep.to_dtype(g.dtype())?)
                    })?
                }
                UnaryOp::Erf => g.mul(
                    &s().square()?
                        .neg()?
                        .exp()?
                        .mul_scalar(std::f64::consts::FRAC_2_SQRT_PI)?,
                )?,
                UnaryOp::LogicalNot | UnaryOp::IsNan => return Ok(vec![None]),
            };
            Ok(vec![Some(gx)])
        },
    )?;
    Ok(out)
}

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:expr;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Result<Tensor> {
                    unary_op($op, self)
                }
            )*
        }
    };
}

unary_methods! {
    /// `-x`.
    neg => UnaryOp::Neg;
    /// `|x|`.
    abs => UnaryOp::Abs;
    /// -1, 0 or 1.
    sign => UnaryOp::Sign;
    /// `x * x`.
    square => UnaryOp::Square;
    /// `max(x, 0)`.
    relu => UnaryOp::Relu;
    /// `e^x`.
    exp => UnaryOp::Exp;
    /// Natural logarithm.
    log => UnaryOp::Log;
    /// Square root.
    sqrt => UnaryOp::Sqrt;
    /// `1 / sqrt(x)`.
    rsqrt => UnaryOp::Rsqrt;
    /// Sine.
    sin => UnaryOp::Sin;
    /// Cosine.
    cos => UnaryOp::Cos;
    /// Hyperbolic tangent.
    tanh => UnaryOp::Tanh;
    /// Logistic sigmoid.
    sigmoid => UnaryOp::Sigmoid;
    /// `ln(1 + x)`.
    log1p => UnaryOp::Log1p;
    /// `e^x - 1`.
    expm1 => UnaryOp::Expm1;
    /// `1 / x`.
    reciprocal => UnaryOp::Reciprocal;
    /// Round down.
    floor => UnaryOp::Floor;
    /// Round up.
    ceil => UnaryOp::Ceil;
    /// Round half to even.
    round => UnaryOp::Round;
    /// Round toward zero.
    trunc => UnaryOp::Trunc;
    /// SiLU (swish): `x * sigmoid(x)`.
    silu => UnaryOp::Silu;
    /// The error function.
    erf => UnaryOp::Erf;
    /// Logical not (bool result).
    logical_not => UnaryOp::LogicalNot;
    /// NaN test (bool result).
    isnan => UnaryOp::IsNan;
}

impl Tensor {
    /// GELU; `approximate` is "none" (erf form) or "tanh".
    pub fn gelu(&self, approximate: &str) -> Result<Tensor> {
        match approximate {
            "none" => unary_op(UnaryOp::Gelu, self),
            "tanh" => unary_op(UnaryOp::GeluTanh, self),
            other => Err(Error::runtime(format!(
                "approximate argument must be either none or tanh. Got {other}"
            ))),
        }
    }
    /// `x` if positive, else `slope * x`.
    pub fn leaky_relu(&self, negative_slope: f64) -> Result<Tensor> {
        unary_op(UnaryOp::LeakyRelu(negative_slope), self)
    }
    pub fn elu(&self, alpha: f64) -> Result<Tensor> {
        unary_op(UnaryOp::Elu(alpha), self)
    }
    pub fn softplus(&self, beta: f64, threshold: f64) -> Result<Tensor> {
        unary_op(UnaryOp::Softplus { beta, threshold }, self)
    }
    /// `x ** exponent` for a number exponent.
    pub fn pow_scalar(&self, exponent: f64) -> Result<Tensor> {
        if !self.dtype().is_floating_point() && exponent.fract() == 0.0 && exponent >= 0.0 {
            let e = Tensor::scalar(exponent as i64, self.dtype(), self.device())?;
            return self.pow(&e);
        }
        unary_op(UnaryOp::PowScalar(exponent), self)
    }
    /// Clamps into `[min, max]` (either bound optional).
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        if min.is_none() && max.is_none() {
            return Err(Error::runtime(
                "torch.clamp: At least one of 'min' or 'max' must not be None",
            ));
        }
        unary_op(UnaryOp::Clamp { min, max }, self)
    }
}
