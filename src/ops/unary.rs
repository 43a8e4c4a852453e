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

/// A table entry's `saves` as `Needs`.
macro_rules! needs {
    (nothing) => {
        Needs::Nothing
    };
    (input) => {
        Needs::Input
    };
    (output) => {
        Needs::Output
    };
}

/// A table entry's autograd node name (`none`: no gradient).
macro_rules! node_name {
    (none) => {
        None
    };
    ($name:literal) => {
        Some($name)
    };
}

/// From the table (backend/unary_ops.rs): each op's autograd node name and what its backward
/// reads, and the Tensor methods of its `methods` section.
macro_rules! unary_autograd_and_methods {
    (
        methods {
            $( $(#[$doc:meta])* $v:ident $m:ident $code:literal $node:tt $saves:ident $dtypes:ident ),* $(,)?
        }
        others {
            $( $(#[$pdoc:meta])* $pv:ident $( ( $($pt:ty),* ) )? $( { $($pf:ident : $pft:ty),* } )?
               $pcode:literal $pnode:tt $psaves:ident $pdtypes:ident ),* $(,)?
        }
    ) => {
        /// PyTorch's node name of a unary op (None: not differentiable), and what its backward
        /// needs.
        fn meta(op: UnaryOp) -> (Option<&'static str>, Needs) {
            match op {
                $( UnaryOp::$v => (node_name!($node), needs!($saves)), )*
                $( UnaryOp::$pv { .. } => (node_name!($pnode), needs!($psaves)), )*
            }
        }

        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $m(&self) -> Result<Tensor> {
                    unary_op(UnaryOp::$v, self)
                }
            )*
        }
    };
}

crate::backend::unary_ops::unary_ops!(unary_autograd_and_methods);

/// `op(x)` with its gradient.
pub fn unary_op(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    let input = if dtype.is_floating_point() || op.integer_ok() {
        x.clone()
    } else {
        // Integer inputs of float functions compute in the default float dtype, as PyTorch does.
        x.to_dtype(DType::default_float())?
    };
    let out = backend::unary(op, &input)?;
    let (name, needs) = meta(op);
    let Some(name) = name.filter(|_| out.dtype().is_floating_point()) else {
        return Ok(out);
    };
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
                // Trigonometric, hyperbolic, base-2 and base-10 functions (tmethods).
                UnaryOp::Tan => g.mul(&s().mul(s())?.add_scalar(1.0)?)?,
                UnaryOp::Asin => g.mul(&s().mul(s())?.rsub_scalar(1.0)?.rsqrt()?)?,
                UnaryOp::Acos => g.mul(&s().mul(s())?.rsub_scalar(1.0)?.rsqrt()?.neg()?)?,
                UnaryOp::Atan => g.div(&s().mul(s())?.add_scalar(1.0)?)?,
                UnaryOp::Sinh => g.mul(&s().cosh()?)?,
                UnaryOp::Cosh => g.mul(&s().sinh()?)?,
                UnaryOp::Asinh => g.mul(&s().mul(s())?.add_scalar(1.0)?.rsqrt()?)?,
                UnaryOp::Acosh => g.mul(&s().mul(s())?.add_scalar(-1.0)?.rsqrt()?)?,
                UnaryOp::Atanh => g.div(&s().mul(s())?.rsub_scalar(1.0)?)?,
                UnaryOp::Exp2 => g.mul(&s().mul_scalar(std::f64::consts::LN_2)?)?,
                UnaryOp::Log2 => g.div(&s().mul_scalar(std::f64::consts::LN_2)?)?,
                UnaryOp::Log10 => g.div(&s().mul_scalar(std::f64::consts::LN_10)?)?,
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
                // special functions
                UnaryOp::Lgamma => g.mul(&s().digamma()?)?,
                UnaryOp::Digamma => g.mul(&s().polygamma(1)?)?,
                UnaryOp::Polygamma(n) => g.mul(&s().polygamma(n as i64 + 1)?)?,
                // d erfinv(y) / dy = √π / 2 · e^(erfinv(y)²), from the saved output.
                UnaryOp::Erfinv => g.mul(
                    &s().square()?
                        .exp()?
                        .mul_scalar(std::f64::consts::PI.sqrt() / 2.0)?,
                )?,
                UnaryOp::Erfc => g.mul(
                    &s().square()?
                        .neg()?
                        .exp()?
                        .mul_scalar(-std::f64::consts::FRAC_2_SQRT_PI)?,
                )?,
                UnaryOp::LogicalNot | UnaryOp::IsNan => return Ok(vec![None]),
            };
            Ok(vec![Some(gx)])
        },
    )?;
    Ok(out)
}

impl Tensor {
    /// SiLU (swish): `x * sigmoid(x)`.
    pub fn silu(&self) -> Result<Tensor> {
        unary_op(UnaryOp::Silu, self)
    }
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
    /// The n-th derivative of the digamma function (`polygamma(0, x)` is `digamma(x)`).
    pub fn polygamma(&self, n: i64) -> Result<Tensor> {
        let n = u32::try_from(n)
            .map_err(|_| Error::runtime("polygamma(n, x) does not support negative n."))?;
        unary_op(UnaryOp::Polygamma(n), self)
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
