//! Elementwise kernels: unary maps, broadcast binary maps, `where`, casts and strided copies.

use crate::backend::cpu::simd::vectorized;
use crate::backend::cpu::strided::RowPlan;
use crate::backend::cpu::threads::par_split_mut;
use crate::backend::cpu::{math, special};
use crate::backend::{BinaryOp, UnaryOp};
use crate::error::{Error, Result};
use crate::storage::{Buffer, CpuElement, CpuStorage, DType, Element, Float};
use crate::tensor::{Layout, Scalar};
use crate::with_dtype;

/// `out[i] = f(src[i])` over a strided source, into a new contiguous buffer.
pub fn map_unary<T: CpuElement, O: CpuElement>(
    src: &[T],
    layout: &Layout,
    f: impl Fn(T) -> O + Sync,
) -> Result<Buffer<O>> {
    let n = layout.numel();
    let mut out = Buffer::<O>::uninit(n)?;
    if let Some(r) = layout.contiguous_range() {
        let src = &src[r];
        par_split_mut(out.as_mut_slice(), |start, chunk| {
            let len = chunk.len();
            vectorized!({
                for (o, &x) in chunk.iter_mut().zip(&src[start..start + len]) {
                    *o = f(x);
                }
            })
        });
    } else {
        let plan = RowPlan::new(layout.shape(), [layout]);
        let s = plan.inner_strides[0];
        plan.fill_rows(out.as_mut_slice(), |row, [off]| {
            vectorized!(match s {
                // An expanded value (a broadcast gradient): one evaluation, then a fill.
                0 => row.fill(f(src[off])),
                1 => {
                    let len = row.len();
                    for (o, &x) in row.iter_mut().zip(&src[off..off + len]) {
                        *o = f(x);
                    }
                }
                _ => {
                    for (i, o) in row.iter_mut().enumerate() {
                        *o = f(src[off + i * s]);
                    }
                }
            })
        });
    }
    Ok(out)
}

/// `out[i] = f(a[i], b[i])` with both operands broadcast to `shape`.
pub fn map_binary<A: CpuElement, B: CpuElement, O: CpuElement>(
    a: &[A],
    la: &Layout,
    b: &[B],
    lb: &Layout,
    shape: &[usize],
    f: impl Fn(A, B) -> O + Sync,
) -> Result<Buffer<O>> {
    let n: usize = shape.iter().product();
    let mut out = Buffer::<O>::uninit(n)?;
    if la.shape() == shape && lb.shape() == shape {
        if let (Some(ra), Some(rb)) = (la.contiguous_range(), lb.contiguous_range()) {
            let (a, b) = (&a[ra], &b[rb]);
            par_split_mut(out.as_mut_slice(), |start, chunk| {
                let end = start + chunk.len();
                vectorized!({
                    for ((o, &x), &y) in chunk.iter_mut().zip(&a[start..end]).zip(&b[start..end]) {
                        *o = f(x, y);
                    }
                })
            });
            return Ok(out);
        }
    }
    let la = la.broadcast_to(shape);
    let lb = lb.broadcast_to(shape);
    let plan = RowPlan::new(shape, [&la, &lb]);
    let [sa, sb] = plan.inner_strides;
    plan.fill_rows(out.as_mut_slice(), |row, [oa, ob]| {
        let len = row.len();
        vectorized!(match (sa, sb) {
            (1, 1) => {
                for ((o, &x), &y) in row.iter_mut().zip(&a[oa..oa + len]).zip(&b[ob..ob + len]) {
                    *o = f(x, y);
                }
            }
            (1, 0) => {
                let y = b[ob];
                for (o, &x) in row.iter_mut().zip(&a[oa..oa + len]) {
                    *o = f(x, y);
                }
            }
            (0, 1) => {
                let x = a[oa];
                for (o, &y) in row.iter_mut().zip(&b[ob..ob + len]) {
                    *o = f(x, y);
                }
            }
            _ => {
                for (i, o) in row.iter_mut().enumerate() {
                    *o = f(a[oa + i * sa], b[ob + i * sb]);
                }
            }
        })
    });
    Ok(out)
}

/// `out[i] = f(a[i], b[i], c[i])` with all three broadcast to `shape`.
pub fn map_ternary<A: CpuElement, B: CpuElement, C: CpuElement, O: CpuElement>(
    (a, la): (&[A], &Layout),
    (b, lb): (&[B], &Layout),
    (c, lc): (&[C], &Layout),
    shape: &[usize],
    f: impl Fn(A, B, C) -> O + Sync,
) -> Result<Buffer<O>> {
    let n: usize = shape.iter().product();
    let mut out = Buffer::<O>::uninit(n)?;
    let (la, lb, lc) = (
        la.broadcast_to(shape),
        lb.broadcast_to(shape),
        lc.broadcast_to(shape),
    );
    let plan = RowPlan::new(shape, [&la, &lb, &lc]);
    let [sa, sb, sc] = plan.inner_strides;
    plan.fill_rows(out.as_mut_slice(), |row, [oa, ob, oc]| {
        for (i, o) in row.iter_mut().enumerate() {
            *o = f(a[oa + i * sa], b[ob + i * sb], c[oc + i * sc]);
        }
    });
    Ok(out)
}

fn dtype_mismatch(a: DType, b: DType) -> Error {
    Error::internal(format!("kernel operands of different dtypes ({a} and {b})"))
}

// ----- unary ------------------------------------------------------------------------------------

/// Applies `op` to a tensor; the result is contiguous.
pub fn unary(op: UnaryOp, src: &CpuStorage, layout: &Layout) -> Result<CpuStorage> {
    match src {
        CpuStorage::F32(b) => float_unary(op, b.as_slice(), layout),
        CpuStorage::F64(b) => float_unary(op, b.as_slice(), layout),
        CpuStorage::I64(b) => int_unary(op, b.as_slice(), layout),
        CpuStorage::Bool(b) => bool_unary(op, b.as_slice(), layout),
        other => Err(storage_dtype_here(other.dtype())),
    }
}

/// A storage dtype reached a computing kernel (the seam widens them first).
fn storage_dtype_here(dtype: DType) -> Error {
    Error::internal(format!("a CPU kernel was given {dtype} data"))
}

fn float_unary<T: Float + CpuElement>(op: UnaryOp, x: &[T], l: &Layout) -> Result<CpuStorage> {
    macro_rules! map {
        ($f:expr) => {
            T::wrap(map_unary(x, l, $f)?)
        };
    }
    let c = |v: f64| T::from_f64(v);
    let (zero, one) = (T::zero(), T::one());
    Ok(match op {
        UnaryOp::Neg => map!(|v: T| -v),
        UnaryOp::Abs => map!(|v: T| v.abs()),
        UnaryOp::Sign => map!(move |v: T| if v > zero {
            one
        } else if v < zero {
            -one
        } else {
            v
        }),
        UnaryOp::Square => map!(|v: T| v * v),
        // NaN stays NaN, as in PyTorch (`NaN <= 0` is false); one compare, so it vectorizes.
        UnaryOp::Relu => map!(move |v: T| if v <= zero { zero } else { v }),
        UnaryOp::Exp => map!(|v: T| v.exp()),
        UnaryOp::Log => map!(|v: T| v.ln()),
        UnaryOp::Sqrt => map!(|v: T| v.sqrt()),
        UnaryOp::Rsqrt => map!(move |v: T| one / v.sqrt()),
        UnaryOp::Sin => map!(|v: T| v.sin()),
        UnaryOp::Cos => map!(|v: T| v.cos()),
        UnaryOp::Tanh => map!(|v: T| v.tanh()),
        // Trigonometric, hyperbolic, base-2 and base-10 functions (tmethods), computed in f64.
        UnaryOp::Tan => map!(|v: T| T::from_f64(v.to_f64().tan())),
        UnaryOp::Asin => map!(|v: T| T::from_f64(v.to_f64().asin())),
        UnaryOp::Acos => map!(|v: T| T::from_f64(v.to_f64().acos())),
        UnaryOp::Atan => map!(|v: T| T::from_f64(v.to_f64().atan())),
        UnaryOp::Sinh => map!(|v: T| T::from_f64(v.to_f64().sinh())),
        UnaryOp::Cosh => map!(|v: T| T::from_f64(v.to_f64().cosh())),
        UnaryOp::Asinh => map!(|v: T| T::from_f64(v.to_f64().asinh())),
        UnaryOp::Acosh => map!(|v: T| T::from_f64(v.to_f64().acosh())),
        UnaryOp::Atanh => map!(|v: T| T::from_f64(v.to_f64().atanh())),
        UnaryOp::Exp2 => map!(|v: T| T::from_f64(v.to_f64().exp2())),
        UnaryOp::Log2 => map!(|v: T| T::from_f64(v.to_f64().log2())),
        UnaryOp::Log10 => map!(|v: T| T::from_f64(v.to_f64().log10())),
        UnaryOp::Sigmoid => map!(|v: T| v.sigmoid()),
        UnaryOp::Log1p => map!(|v: T| v.ln_1p()),
        UnaryOp::Expm1 => map!(|v: T| v.exp_m1()),
        UnaryOp::Reciprocal => map!(move |v: T| one / v),
        UnaryOp::Floor => map!(|v: T| v.floor()),
        UnaryOp::Ceil => map!(|v: T| v.ceil()),
        UnaryOp::Round => map!(|v: T| v.round_half_even()),
        UnaryOp::Trunc => map!(|v: T| T::from_f64(v.to_f64().trunc())),
        UnaryOp::Gelu => map!(|v: T| {
            let x = v.to_f64();
            T::from_f64(0.5 * x * (1.0 + math::erf(x * std::f64::consts::FRAC_1_SQRT_2)))
        }),
        UnaryOp::GeluTanh => map!(|v: T| T::from_f64(gelu_tanh(v.to_f64()))),
        UnaryOp::Silu => map!(|v: T| v * v.sigmoid()),
        UnaryOp::Erf => map!(|v: T| T::from_f64(math::erf(v.to_f64()))),
        // special functions
        UnaryOp::Lgamma => map!(|v: T| T::from_f64(special::lgamma(v.to_f64()))),
        UnaryOp::Digamma => map!(|v: T| T::from_f64(special::digamma(v.to_f64()))),
        UnaryOp::Erfinv => map!(|v: T| T::from_f64(special::erfinv(v.to_f64()))),
        UnaryOp::Erfc => map!(|v: T| T::from_f64(special::erfc(v.to_f64()))),
        UnaryOp::Polygamma(n) => map!(move |v: T| T::from_f64(special::polygamma(n, v.to_f64()))),
        UnaryOp::LeakyRelu(slope) => {
            let s = c(slope);
            map!(move |v: T| if v > zero { v } else { v * s })
        }
        UnaryOp::Elu(alpha) => map!(move |v: T| {
            let x = v.to_f64();
            T::from_f64(if x > 0.0 { x } else { alpha * x.exp_m1() })
        }),
        UnaryOp::Softplus { beta, threshold } => map!(move |v: T| {
            let x = v.to_f64();
            T::from_f64(if x * beta > threshold {
                x
            } else {
                (x * beta).exp().ln_1p() / beta
            })
        }),
        UnaryOp::PowScalar(e) => {
            if e == 2.0 {
                map!(|v: T| v * v)
            } else if e == 1.0 {
                map!(|v: T| v)
            } else if e == 0.5 {
                map!(|v: T| v.sqrt())
            } else {
                let e = c(e);
                map!(move |v: T| v.powf(e))
            }
        }
        UnaryOp::RPowScalar(base) => {
            let b = c(base);
            map!(move |v: T| b.powf(v))
        }
        UnaryOp::Clamp { min, max } => {
            let (lo, hi) = (min.map(c), max.map(c));
            map!(move |v: T| {
                if v.is_nan() {
                    return v;
                }
                let mut r = v;
                if let Some(lo) = lo {
                    if r < lo {
                        r = lo;
                    }
                }
                if let Some(hi) = hi {
                    if r > hi {
                        r = hi;
                    }
                }
                r
            })
        }
        UnaryOp::LogicalNot => u8::wrap(map_unary(x, l, move |v: T| (v == zero) as u8)?),
        UnaryOp::IsNan => u8::wrap(map_unary(x, l, |v: T| v.is_nan() as u8)?),
    })
}

#[inline]
fn gelu_tanh(x: f64) -> f64 {
    let k = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
}

fn not_for(op: impl std::fmt::Debug, dtype: DType) -> Error {
    Error::not_implemented(format!(
        "\"{op:?}\" not implemented for '{}'",
        dtype.scalar_name()
    ))
}

fn int_unary(op: UnaryOp, x: &[i64], l: &Layout) -> Result<CpuStorage> {
    Ok(match op {
        UnaryOp::Neg => CpuStorage::I64(map_unary(x, l, |v: i64| v.wrapping_neg())?),
        UnaryOp::Abs => CpuStorage::I64(map_unary(x, l, |v: i64| v.wrapping_abs())?),
        UnaryOp::Sign => CpuStorage::I64(map_unary(x, l, |v: i64| v.signum())?),
        UnaryOp::Square => CpuStorage::I64(map_unary(x, l, |v: i64| v.wrapping_mul(v))?),
        UnaryOp::Relu => CpuStorage::I64(map_unary(x, l, |v: i64| v.max(0))?),
        UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round | UnaryOp::Trunc => {
            CpuStorage::I64(map_unary(x, l, |v: i64| v)?)
        }
        UnaryOp::Clamp { min, max } => {
            let (lo, hi) = (min.map(|v| v as i64), max.map(|v| v as i64));
            CpuStorage::I64(map_unary(x, l, move |v: i64| {
                let v = lo.map_or(v, |lo| v.max(lo));
                hi.map_or(v, |hi| v.min(hi))
            })?)
        }
        UnaryOp::LogicalNot => CpuStorage::Bool(map_unary(x, l, |v: i64| (v == 0) as u8)?),
        UnaryOp::IsNan => CpuStorage::Bool(map_unary(x, l, |_: i64| 0u8)?),
        other => return Err(not_for(other, DType::I64)),
    })
}

fn bool_unary(op: UnaryOp, x: &[u8], l: &Layout) -> Result<CpuStorage> {
    Ok(match op {
        UnaryOp::LogicalNot => CpuStorage::Bool(map_unary(x, l, |v: u8| (v == 0) as u8)?),
        UnaryOp::IsNan => CpuStorage::Bool(map_unary(x, l, |_: u8| 0u8)?),
        UnaryOp::Abs | UnaryOp::Relu | UnaryOp::Square | UnaryOp::Sign => {
            CpuStorage::Bool(map_unary(x, l, |v: u8| (v != 0) as u8)?)
        }
        UnaryOp::Neg => {
            return Err(Error::runtime(
                "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.",
            ))
        }
        other => return Err(not_for(other, DType::Bool)),
    })
}

// ----- binary -----------------------------------------------------------------------------------

/// Applies `op` to two tensors of one dtype broadcast to `shape`; the result is contiguous.
pub fn binary(
    op: BinaryOp,
    a: &CpuStorage,
    la: &Layout,
    b: &CpuStorage,
    lb: &Layout,
    shape: &[usize],
) -> Result<CpuStorage> {
    match (a, b) {
        (CpuStorage::F32(x), CpuStorage::F32(y)) => {
            float_binary(op, x.as_slice(), la, y.as_slice(), lb, shape)
        }
        (CpuStorage::F64(x), CpuStorage::F64(y)) => {
            float_binary(op, x.as_slice(), la, y.as_slice(), lb, shape)
        }
        (CpuStorage::I64(x), CpuStorage::I64(y)) => {
            int_binary(op, x.as_slice(), la, y.as_slice(), lb, shape)
        }
        (CpuStorage::Bool(x), CpuStorage::Bool(y)) => {
            bool_binary(op, x.as_slice(), la, y.as_slice(), lb, shape)
        }
        _ => Err(dtype_mismatch(a.dtype(), b.dtype())),
    }
}

fn float_binary<T: Float + CpuElement>(
    op: BinaryOp,
    a: &[T],
    la: &Layout,
    b: &[T],
    lb: &Layout,
    shape: &[usize],
) -> Result<CpuStorage> {
    macro_rules! map {
        ($f:expr) => {
            T::wrap(map_binary(a, la, b, lb, shape, $f)?)
        };
    }
    macro_rules! test {
        ($f:expr) => {
            u8::wrap(map_binary(a, la, b, lb, shape, move |x: T, y: T| {
                ($f)(x, y) as u8
            })?)
        };
    }
    let (zero, one) = (T::zero(), T::one());
    Ok(match op {
        BinaryOp::Add => map!(|x: T, y: T| x + y),
        BinaryOp::Sub => map!(|x: T, y: T| x - y),
        BinaryOp::Mul => map!(|x: T, y: T| x * y),
        BinaryOp::Div => map!(|x: T, y: T| x / y),
        BinaryOp::Pow => map!(|x: T, y: T| x.powf(y)),
        BinaryOp::Maximum => map!(|x: T, y: T| x.max_val(y)),
        BinaryOp::Minimum => map!(|x: T, y: T| x.min_val(y)),
        BinaryOp::FloorDivide => map!(|x: T, y: T| (x / y).floor()),
        BinaryOp::Remainder => map!(move |x: T, y: T| {
            let r = T::from_f64(x.to_f64() % y.to_f64());
            if r != zero && ((r < zero) != (y < zero)) {
                r + y
            } else {
                r
            }
        }),
        // Rust's float `%` is C's fmod.
        BinaryOp::Fmod => map!(|x: T, y: T| T::from_f64(x.to_f64() % y.to_f64())),
        BinaryOp::Eq => test!(|x: T, y: T| x == y),
        BinaryOp::Ne => test!(|x: T, y: T| x != y),
        BinaryOp::Lt => test!(|x: T, y: T| x < y),
        BinaryOp::Le => test!(|x: T, y: T| x <= y),
        BinaryOp::Gt => test!(|x: T, y: T| x > y),
        BinaryOp::Ge => test!(|x: T, y: T| x >= y),
        BinaryOp::LogicalAnd => test!(|x: T, y: T| x.is_nonzero() && y.is_nonzero()),
        BinaryOp::LogicalOr => test!(|x: T, y: T| x.is_nonzero() || y.is_nonzero()),
        BinaryOp::LogicalXor => test!(|x: T, y: T| x.is_nonzero() != y.is_nonzero()),
        BinaryOp::ReluBackward => map!(move |g: T, x: T| if x > zero { g } else { zero }),
        BinaryOp::LeakyReluBackward(s) => {
            let s = T::from_f64(s);
            map!(move |g: T, x: T| if x > zero { g } else { g * s })
        }
        BinaryOp::SigmoidBackward => map!(move |g: T, y: T| g * y * (one - y)),
        BinaryOp::TanhBackward => map!(move |g: T, y: T| g * (one - y * y)),
        BinaryOp::GeluBackward => map!(|g: T, x: T| {
            let x = x.to_f64();
            let cdf = 0.5 * (1.0 + math::erf(x * std::f64::consts::FRAC_1_SQRT_2));
            let pdf = (-0.5 * x * x).exp()
                * (0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2);
            g * T::from_f64(cdf + x * pdf)
        }),
        BinaryOp::GeluTanhBackward => map!(|g: T, x: T| {
            let x = x.to_f64();
            let k = (2.0 / std::f64::consts::PI).sqrt();
            let inner = k * (x + 0.044715 * x * x * x);
            let t = inner.tanh();
            let d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x);
            g * T::from_f64(d)
        }),
        BinaryOp::SiluBackward => map!(move |g: T, x: T| {
            let s = x.sigmoid();
            g * (s * (one + x * (one - s)))
        }),
        BinaryOp::ClampBackward { min, max } => {
            let (lo, hi) = (min.map(T::from_f64), max.map(T::from_f64));
            map!(move |g: T, x: T| {
                let ok = lo.is_none_or(|lo| x > lo) && hi.is_none_or(|hi| x < hi);
                if ok {
                    g
                } else {
                    zero
                }
            })
        }
    })
}

fn int_binary(
    op: BinaryOp,
    a: &[i64],
    la: &Layout,
    b: &[i64],
    lb: &Layout,
    shape: &[usize],
) -> Result<CpuStorage> {
    macro_rules! map {
        ($f:expr) => {
            CpuStorage::I64(map_binary(a, la, b, lb, shape, $f)?)
        };
    }
    macro_rules! test {
        ($f:expr) => {
            CpuStorage::Bool(map_binary(a, la, b, lb, shape, move |x: i64, y: i64| {
                ($f)(x, y) as u8
            })?)
        };
    }
    let divisor_has_zero = || -> Result<()> {
        let zero = crate::backend::cpu::elementwise::any_zero(b, lb)?;
        if zero {
            return Err(Error::runtime("ZeroDivisionError"));
        }
        Ok(())
    };
    Ok(match op {
        BinaryOp::Add => map!(|x: i64, y: i64| x.wrapping_add(y)),
        BinaryOp::Sub => map!(|x: i64, y: i64| x.wrapping_sub(y)),
        BinaryOp::Mul => map!(|x: i64, y: i64| x.wrapping_mul(y)),
        BinaryOp::Maximum => map!(|x: i64, y: i64| x.max(y)),
        BinaryOp::Minimum => map!(|x: i64, y: i64| x.min(y)),
        BinaryOp::Pow => {
            if any_negative(b, lb)? {
                return Err(Error::runtime(
                    "Integers to negative integer powers are not allowed.",
                ));
            }
            map!(|x: i64, y: i64| x.wrapping_pow(y.min(u32::MAX as i64) as u32))
        }
        BinaryOp::FloorDivide => {
            divisor_has_zero()?;
            map!(|x: i64, y: i64| x.wrapping_div(y)
                - (((x % y) != 0 && ((x < 0) != (y < 0))) as i64))
        }
        BinaryOp::Remainder => {
            divisor_has_zero()?;
            map!(|x: i64, y: i64| {
                let r = x.wrapping_rem(y);
                if r != 0 && ((r < 0) != (y < 0)) {
                    r + y
                } else {
                    r
                }
            })
        }
        BinaryOp::Fmod => {
            divisor_has_zero()?;
            map!(|x: i64, y: i64| x.wrapping_rem(y))
        }
        BinaryOp::Eq => test!(|x: i64, y: i64| x == y),
        BinaryOp::Ne => test!(|x: i64, y: i64| x != y),
        BinaryOp::Lt => test!(|x: i64, y: i64| x < y),
        BinaryOp::Le => test!(|x: i64, y: i64| x <= y),
        BinaryOp::Gt => test!(|x: i64, y: i64| x > y),
        BinaryOp::Ge => test!(|x: i64, y: i64| x >= y),
        BinaryOp::LogicalAnd => test!(|x: i64, y: i64| x != 0 && y != 0),
        BinaryOp::LogicalOr => test!(|x: i64, y: i64| x != 0 || y != 0),
        BinaryOp::LogicalXor => test!(|x: i64, y: i64| (x != 0) != (y != 0)),
        other => return Err(not_for(other, DType::I64)),
    })
}

fn bool_binary(
    op: BinaryOp,
    a: &[u8],
    la: &Layout,
    b: &[u8],
    lb: &Layout,
    shape: &[usize],
) -> Result<CpuStorage> {
    macro_rules! test {
        ($f:expr) => {
            CpuStorage::Bool(map_binary(a, la, b, lb, shape, move |x: u8, y: u8| {
                ($f)(x != 0, y != 0) as u8
            })?)
        };
    }
    Ok(match op {
        BinaryOp::Add | BinaryOp::LogicalOr | BinaryOp::Maximum => test!(|x: bool, y: bool| x || y),
        BinaryOp::Mul | BinaryOp::LogicalAnd | BinaryOp::Minimum => test!(|x: bool, y: bool| x && y),
        BinaryOp::LogicalXor | BinaryOp::Ne => test!(|x: bool, y: bool| x != y),
        BinaryOp::Eq => test!(|x: bool, y: bool| x == y),
        BinaryOp::Lt => test!(|x: bool, y: bool| !x && y),
        BinaryOp::Le => test!(|x: bool, y: bool| !x || y),
        BinaryOp::Gt => test!(|x: bool, y: bool| x && !y),
        BinaryOp::Ge => test!(|x: bool, y: bool| x || !y),
        BinaryOp::Sub => {
            return Err(Error::runtime(
                "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead.",
            ))
        }
        other => return Err(not_for(other, DType::Bool)),
    })
}

/// True when any element of the strided `x` is zero.
pub fn any_zero<T: CpuElement>(x: &[T], l: &Layout) -> Result<bool> {
    let zero = T::zero();
    Ok(crate::tensor::layout::StridedOffsets::new(l).any(|o| x[o] == zero))
}

fn any_negative(x: &[i64], l: &Layout) -> Result<bool> {
    Ok(crate::tensor::layout::StridedOffsets::new(l).any(|o| x[o] < 0))
}

// ----- where, casts, copies ---------------------------------------------------------------------

/// `cond ? a : b` with broadcasting; `a` and `b` share a dtype.
pub fn where_(
    cond: &[u8],
    lc: &Layout,
    a: &CpuStorage,
    la: &Layout,
    b: &CpuStorage,
    lb: &Layout,
    shape: &[usize],
) -> Result<CpuStorage> {
    if a.dtype() != b.dtype() {
        return Err(dtype_mismatch(a.dtype(), b.dtype()));
    }
    Ok(with_dtype!(a.dtype(), T => {
        let (x, y) = (a.slice::<T>()?, b.slice::<T>()?);
        T::wrap(map_ternary((cond, lc), (x, la), (y, lb), shape, |c: u8, x: T, y: T| if c != 0 { x } else { y })?)
    }))
}

/// A contiguous copy of a strided view, converted to `dtype`.
pub fn cast(src: &CpuStorage, layout: &Layout, dtype: DType) -> Result<CpuStorage> {
    with_dtype!(src.dtype(), S => {
        let x = src.slice::<S>()?;
        Ok(with_dtype!(dtype, D => D::wrap(map_unary(x, layout, convert::<S, D>)?)))
    })
}

/// Converts one element as PyTorch does: floats truncate toward zero into ints (as C casts do,
/// see `storage::narrow`), integers wrap, half types round to nearest even, nonzero is true.
#[inline]
pub fn convert<S: Element, D: Element>(v: S) -> D {
    if S::DTYPE.is_floating_point() {
        D::from_f64(v.to_f64())
    } else {
        D::from_i64(v.to_i64())
    }
}

/// Writes `src` (a view broadcast to the destination's shape) into the strided destination,
/// converting dtype. The destination must not overlap itself.
pub fn copy_into(dst: &mut CpuStorage, dl: &Layout, src: &CpuStorage, sl: &Layout) -> Result<()> {
    with_dtype!(dst.dtype(), D => {
        let out = dst.slice_mut::<D>()?;
        with_dtype!(src.dtype(), S => {
            let x = src.slice::<S>()?;
            copy_strided(out, dl, x, sl, convert::<S, D>);
            Ok(())
        })
    })
}

/// `dst[i] = f(src[i])` over two strided views of one shape (the destination written in place).
pub fn copy_strided<S: Element, D: Element>(
    dst: &mut [D],
    dl: &Layout,
    src: &[S],
    sl: &Layout,
    f: impl Fn(S) -> D,
) {
    let shape = dl.shape();
    let sl = sl.broadcast_to(shape);
    if let (Some(rd), Some(rs)) = (dl.contiguous_range(), sl.contiguous_range()) {
        for (d, &s) in dst[rd].iter_mut().zip(&src[rs]) {
            *d = f(s);
        }
        return;
    }
    let plan = RowPlan::new(shape, [dl, &sl]);
    let [sd, ss] = plan.inner_strides;
    let len = plan.len;
    plan.for_rows(0, plan.rows(), |_, [od, os]| {
        for i in 0..len {
            dst[od + i * sd] = f(src[os + i * ss]);
        }
    });
}

/// Fills a strided view with one value.
pub fn fill(dst: &mut CpuStorage, layout: &Layout, value: Scalar) -> Result<()> {
    with_dtype!(dst.dtype(), T => {
        let v: T = value.cast::<T>();
        let out = dst.slice_mut::<T>()?;
        match layout.contiguous_range() {
            Some(r) => par_split_mut(&mut out[r], |_, c| c.fill(v)),
            None => {
                for o in crate::tensor::layout::StridedOffsets::new(layout) {
                    out[o] = v;
                }
            }
        }
        Ok(())
    })
}
