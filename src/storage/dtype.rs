//! Element types: the `DType` tag and the `Element` trait kernels are generic over.

use std::fmt;

/// The element type of a tensor. F16, BF16, U8, I8, I16 and I32 are *storage* dtypes: kernels
/// compute them in their compute dtype (F32 for the half types, I64 for the small integers; see
/// [`DType::compute_dtype`]) and the device seam converts at its edges.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
    F16,
    BF16,
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

/// The default dtype of new floating-point tensors (`set_default_dtype`), as a `DType` index.
static DEFAULT_FLOAT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(8);

impl DType {
    pub const ALL: [DType; 10] = [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::U8,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::Bool,
    ];

    /// The dtype of new floating-point tensors made without `dtype=` (float32 unless changed).
    pub fn default_float() -> DType {
        let i = DEFAULT_FLOAT.load(std::sync::atomic::Ordering::Relaxed);
        DType::ALL
            .into_iter()
            .find(|d| *d as u8 == i)
            .unwrap_or(DType::F32)
    }

    /// Sets the default floating-point dtype (PyTorch allows the four float dtypes).
    pub fn set_default_float(dtype: DType) -> crate::error::Result<()> {
        if !dtype.is_floating_point() {
            return Err(crate::error::Error::type_error(
                "only floating-point types are supported as the default type",
            ));
        }
        DEFAULT_FLOAT.store(dtype as u8, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    pub fn is_floating_point(self) -> bool {
        self.category() == Category::Floating
    }

    /// Whether the type has negative values (PyTorch's `dtype.is_signed`).
    pub fn is_signed(self) -> bool {
        !matches!(self, DType::Bool | DType::U8)
    }

    pub fn category(self) -> Category {
        match self {
            DType::Bool => Category::Bool,
            DType::U8 | DType::I8 | DType::I16 | DType::I32 | DType::I64 => Category::Integral,
            DType::F16 | DType::BF16 | DType::F32 | DType::F64 => Category::Floating,
        }
    }

    /// The dtype kernels compute this one in: float32 for the half types, int64 for the small
    /// integers, itself otherwise.
    pub fn compute_dtype(self) -> DType {
        match self {
            DType::F16 | DType::BF16 => DType::F32,
            DType::U8 | DType::I8 | DType::I16 | DType::I32 => DType::I64,
            d => d,
        }
    }

    /// True for the dtypes that are stored but computed in a wider one.
    pub fn is_storage_only(self) -> bool {
        self.compute_dtype() != self
    }

    /// The smallest dtype both operands convert to (PyTorch's `promote_types`): the higher
    /// category wins; within integers the wider type (uint8 with a signed type needs one that
    /// holds both ranges); within floats the wider type, and float16 with bfloat16 is float32.
    pub fn promote(self, other: DType) -> DType {
        use DType::*;
        if self == other {
            return self;
        }
        match (self.category(), other.category()) {
            (Category::Bool, _) => other,
            (_, Category::Bool) => self,
            (Category::Floating, Category::Integral) => self,
            (Category::Integral, Category::Floating) => other,
            (Category::Floating, Category::Floating) => match (self, other) {
                (F16, BF16) | (BF16, F16) => F32,
                _ if self.size_in_bytes() >= other.size_in_bytes() => self,
                _ => other,
            },
            (Category::Integral, Category::Integral) => {
                let (a, b) = if self == U8 {
                    (other, self)
                } else {
                    (self, other)
                };
                match (a, b) {
                    // uint8 with a signed type: a signed type wider than 8 bits.
                    (I8, U8) => I16,
                    (_, U8) => a,
                    _ if a.size_in_bytes() >= b.size_in_bytes() => a,
                    _ => b,
                }
            }
        }
    }

    /// The name after `torch.`/`rustgrad.` ("float32").
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// PyTorch's scalar-type name used in messages ("Float", "Long").
    pub fn scalar_name(self) -> &'static str {
        match self {
            DType::Bool => "Bool",
            DType::U8 => "Byte",
            DType::I8 => "Char",
            DType::I16 => "Short",
            DType::I32 => "Int",
            DType::I64 => "Long",
            DType::F16 => "Half",
            DType::BF16 => "BFloat16",
            DType::F32 => "Float",
            DType::F64 => "Double",
        }
    }

    /// PyTorch's legacy tensor-type name used in autograd messages ("torch.FloatTensor").
    pub fn legacy_name(self) -> &'static str {
        match self {
            DType::Bool => "torch.BoolTensor",
            DType::U8 => "torch.ByteTensor",
            DType::I8 => "torch.CharTensor",
            DType::I16 => "torch.ShortTensor",
            DType::I32 => "torch.IntTensor",
            DType::I64 => "torch.LongTensor",
            DType::F16 => "torch.HalfTensor",
            DType::BF16 => "torch.BFloat16Tensor",
            DType::F32 => "torch.FloatTensor",
            DType::F64 => "torch.DoubleTensor",
        }
    }

    /// The safetensors name ("F32").
    pub fn safetensors_name(self) -> &'static str {
        match self {
            DType::Bool => "BOOL",
            DType::U8 => "U8",
            DType::I8 => "I8",
            DType::I16 => "I16",
            DType::I32 => "I32",
            DType::I64 => "I64",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F32 => "F32",
            DType::F64 => "F64",
        }
    }

    /// A dtype by its name or PyTorch alias ("float16", "half").
    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "uint8" => DType::U8,
            "int8" => DType::I8,
            "int16" | "short" => DType::I16,
            "int32" | "int" => DType::I32,
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
        crate::storage::narrow::f64_to_i64_wrapping(v)
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

/// Runs `$body` with `$T` bound to the Rust element type of `$dtype` (every dtype: for kernels
/// that only move or convert elements).
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
            $crate::DType::F16 => {
                type $T = $crate::storage::narrow::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = $crate::storage::narrow::bf16;
                $body
            }
            $crate::DType::U8 => {
                type $T = $crate::storage::narrow::U8;
                $body
            }
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::DType::I16 => {
                type $T = i16;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
        }
    };
}

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
