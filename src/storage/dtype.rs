//! Element types: the `DType` tag and the `Element` trait kernels are generic over.

use std::fmt;

/// The element type of a tensor. Order is the promotion order (bool < int64 < float32 < float64).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    I64,
    F32,
    F64,
}

/// Kind of a dtype, for PyTorch's type-promotion rules (a higher category wins over a wider size).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Bool,
    Integral,
    Floating,
}

impl DType {
    pub const ALL: [DType; 4] = [DType::F32, DType::F64, DType::I64, DType::Bool];

    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::I64 | DType::F64 => 8,
            DType::F32 => 4,
        }
    }

    pub fn is_floating_point(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    pub fn category(self) -> Category {
        match self {
            DType::Bool => Category::Bool,
            DType::I64 => Category::Integral,
            DType::F32 | DType::F64 => Category::Floating,
        }
    }

    /// The smallest dtype both operands convert to (PyTorch's `promote_types`).
    pub fn promote(self, other: DType) -> DType {
        self.max(other)
    }

    /// The name after `torch.`/`rustgrad.` ("float32").
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I64 => "int64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// PyTorch's scalar-type name used in messages ("Float", "Long").
    pub fn scalar_name(self) -> &'static str {
        match self {
            DType::Bool => "Bool",
            DType::I64 => "Long",
            DType::F32 => "Float",
            DType::F64 => "Double",
        }
    }

    /// PyTorch's legacy tensor-type name used in autograd messages ("torch.FloatTensor").
    pub fn legacy_name(self) -> &'static str {
        match self {
            DType::Bool => "torch.BoolTensor",
            DType::I64 => "torch.LongTensor",
            DType::F32 => "torch.FloatTensor",
            DType::F64 => "torch.DoubleTensor",
        }
    }

    /// The safetensors / NumPy name ("F32").
    pub fn safetensors_name(self) -> &'static str {
        match self {
            DType::Bool => "BOOL",
            DType::I64 => "I64",
            DType::F32 => "F32",
            DType::F64 => "F64",
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            "int64" | "long" => DType::I64,
            "bool" => DType::Bool,
            _ => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type that can be a tensor element. Bool is stored as `u8` holding 0 or 1, so that any
/// byte pattern in shared memory (NumPy, files) is a valid value.
pub trait Element:
    Copy + Send + Sync + 'static + PartialOrd + PartialEq + fmt::Debug + Default
{
    const DTYPE: DType;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn from_i64(v: i64) -> Self;
    fn to_i64(self) -> i64;
    fn zero() -> Self;
    fn one() -> Self;
    /// Truthiness as PyTorch sees it (non-zero).
    fn is_nonzero(self) -> bool;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        v as f32
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn zero() -> Self {
        0.0
    }
    fn one() -> Self {
        1.0
    }
    #[inline]
    fn is_nonzero(self) -> bool {
        self != 0.0
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        v as f64
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn zero() -> Self {
        0.0
    }
    fn one() -> Self {
        1.0
    }
    #[inline]
    fn is_nonzero(self) -> bool {
        self != 0.0
    }
}

impl Element for i64 {
    const DTYPE: DType = DType::I64;
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as i64
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        v
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self
    }
    fn zero() -> Self {
        0
    }
    fn one() -> Self {
        1
    }
    #[inline]
    fn is_nonzero(self) -> bool {
        self != 0
    }
}

impl Element for u8 {
    const DTYPE: DType = DType::Bool;
    #[inline]
    fn from_f64(v: f64) -> Self {
        (v != 0.0) as u8
    }
    #[inline]
    fn to_f64(self) -> f64 {
        (self != 0) as u8 as f64
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        (v != 0) as u8
    }
    #[inline]
    fn to_i64(self) -> i64 {
        (self != 0) as i64
    }
    fn zero() -> Self {
        0
    }
    fn one() -> Self {
        1
    }
    #[inline]
    fn is_nonzero(self) -> bool {
        self != 0
    }
}

/// Floating-point elements: the math kernels are generic over this.
pub trait Float:
    Element
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + std::ops::AddAssign
    + std::iter::Sum
{
    const NEG_INFINITY: Self;
    const INFINITY: Self;
    const NAN: Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tanh(self) -> Self;
    /// The logistic sigmoid `1 / (1 + e^-x)`.
    fn sigmoid(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn is_nan(self) -> bool;
    fn max_val(self, other: Self) -> Self;
    fn min_val(self, other: Self) -> Self;
    fn erf(self) -> Self;
    fn ln_1p(self) -> Self;
    fn exp_m1(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    fn round_half_even(self) -> Self;
}

// exp, tanh and sigmoid come in per type: float32's are math.rs's vectorizable versions,
// float64's the standard library's (libm) and the overflow-safe f64 sigmoid.
macro_rules! impl_float {
    ($t:ty, exp: $exp:path, tanh: $tanh:path, sigmoid: $sigmoid:path) => {
        impl Float for $t {
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const INFINITY: Self = <$t>::INFINITY;
            const NAN: Self = <$t>::NAN;
            #[inline]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn sigmoid(self) -> Self {
                $sigmoid(self)
            }
            #[inline]
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            /// NaN-propagating maximum, as PyTorch's `maximum`.
            #[inline]
            fn max_val(self, other: Self) -> Self {
                if self.is_nan() || other.is_nan() {
                    <$t>::NAN
                } else if self >= other {
                    self
                } else {
                    other
                }
            }
            #[inline]
            fn min_val(self, other: Self) -> Self {
                if self.is_nan() || other.is_nan() {
                    <$t>::NAN
                } else if self <= other {
                    self
                } else {
                    other
                }
            }
            #[inline]
            fn erf(self) -> Self {
                crate::backend::cpu::math::erf(self as f64) as $t
            }
            #[inline]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline]
            fn exp_m1(self) -> Self {
                <$t>::exp_m1(self)
            }
            #[inline]
            fn floor(self) -> Self {
                <$t>::floor(self)
            }
            #[inline]
            fn ceil(self) -> Self {
                <$t>::ceil(self)
            }
            #[inline]
            fn round_half_even(self) -> Self {
                <$t>::round_ties_even(self)
            }
        }
    };
}
use crate::backend::cpu::math;
impl_float!(f32, exp: math::exp_f32, tanh: math::tanh_f32, sigmoid: math::sigmoid_f32);
impl_float!(f64, exp: f64::exp, tanh: f64::tanh, sigmoid: math::sigmoid);

/// Runs `$body` with `$T` bound to the Rust element type of `$dtype`.
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::Bool => {
                type $T = u8;
                $body
            }
        }
    };
}

/// Runs `$body` with `$T` bound to the float type of `$dtype`, or returns `$err` for other dtypes.
#[macro_export]
macro_rules! with_float_dtype {
    ($dtype:expr, $T:ident => $body:expr, else $err:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            _ => $err,
        }
    };
}
