//! The storage dtypes' element types (float16, bfloat16, uint8, int8, int16, int32) and the C-like
//! conversions PyTorch's casts perform.
//!
//! These types are stored, converted and moved; arithmetic happens in their compute dtype
//! (`DType::compute_dtype`), so they implement `Element` only.

pub use half::{bf16, f16};

use crate::storage::dtype::{DType, Element};

/// A uint8 element. A newtype because plain `u8` is the bool element (0 or 1).
#[repr(transparent)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct U8(pub u8);

/// Float to a 32-bit integer as x86's truncating conversion does (what PyTorch's casts compile
/// to): the value truncated toward zero, or `i32::MIN` when it is NaN or out of range. Narrower
/// integer types keep the low bits of this.
#[inline]
pub fn f64_to_i32_wrapping(v: f64) -> i32 {
    if v > -2_147_483_649.0 && v < 2_147_483_648.0 {
        v as i32
    } else {
        i32::MIN
    }
}

/// Float to int64 as x86's truncating conversion does: `i64::MIN` when NaN or out of range.
#[inline]
pub fn f64_to_i64_wrapping(v: f64) -> i64 {
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v) {
        v as i64
    } else {
        i64::MIN
    }
}

// float16 and bfloat16 convert from f64 through f32, as PyTorch's (float-taking) constructors
// do; both round to nearest even and overflow to infinity.
macro_rules! impl_half {
    ($t:ty, $dtype:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$dtype;
            #[inline]
            fn from_f64(v: f64) -> Self {
                <$t>::from_f32(v as f32)
            }
            #[inline]
            fn to_f64(self) -> f64 {
                <$t>::to_f64(self)
            }
            #[inline]
            fn from_i64(v: i64) -> Self {
                <$t>::from_f32(v as f32)
            }
            #[inline]
            fn to_i64(self) -> i64 {
                f64_to_i64_wrapping(<$t>::to_f64(self))
            }
            fn zero() -> Self {
                <$t>::ZERO
            }
            fn one() -> Self {
                <$t>::ONE
            }
            #[inline]
            fn is_nonzero(self) -> bool {
                <$t>::to_f32(self) != 0.0
            }
        }
    };
}
impl_half!(f16, F16);
impl_half!(bf16, BF16);

// Integers wrap as C casts do; floats go through the 32-bit conversion first.
macro_rules! impl_small_int {
    ($t:ty, $dtype:ident, $wrap:expr, $unwrap:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$dtype;
            #[inline]
            fn from_f64(v: f64) -> Self {
                $wrap(f64_to_i32_wrapping(v) as i64)
            }
            #[inline]
            fn to_f64(self) -> f64 {
                $unwrap(self) as f64
            }
            #[inline]
            fn from_i64(v: i64) -> Self {
                $wrap(v)
            }
            #[inline]
            fn to_i64(self) -> i64 {
                $unwrap(self)
            }
            fn zero() -> Self {
                $wrap(0)
            }
            fn one() -> Self {
                $wrap(1)
            }
            #[inline]
            fn is_nonzero(self) -> bool {
                $unwrap(self) != 0
            }
        }
    };
}
impl_small_int!(U8, U8, |v: i64| U8(v as u8), |x: U8| x.0 as i64);
impl_small_int!(i8, I8, |v: i64| v as i8, |x: i8| x as i64);
impl_small_int!(i16, I16, |v: i64| v as i16, |x: i16| x as i64);
impl_small_int!(i32, I32, |v: i64| v as i32, |x: i32| x as i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_rounds_to_nearest_even_and_overflows_to_infinity() {
        // 2049 lies halfway between float16's neighbours 2048 and 2050: ties go to even (2048).
        assert_eq!(f16::from_f64(2049.0).to_f64(), 2048.0);
        assert_eq!(f16::from_f64(2051.0).to_f64(), 2052.0);
        assert_eq!(f16::from_f64(65520.0).to_f64(), f64::INFINITY);
        assert_eq!(f16::from_f64(65519.0).to_f64(), 65504.0);
        assert!(f16::from_f64(f64::NAN).to_f64().is_nan());
        // bfloat16 keeps 8 mantissa bits: 257 is halfway between 256 and 258.
        assert_eq!(bf16::from_f64(257.0).to_f64(), 256.0);
        assert_eq!(bf16::from_f64(259.0).to_f64(), 260.0);
        assert_eq!(bf16::from_f64(1e39).to_f64(), f64::INFINITY);
    }

    #[test]
    fn integers_wrap_and_floats_truncate_as_c_casts() {
        assert_eq!(<i8 as Element>::from_i64(200), -56);
        assert_eq!(<U8 as Element>::from_i64(-1), U8(255));
        assert_eq!(<i16 as Element>::from_i64(70000), 4464);
        assert_eq!(<i32 as Element>::from_f64(-2.7), -2);
        assert_eq!(<i8 as Element>::from_f64(300.0), 44);
        assert_eq!(<U8 as Element>::from_f64(-1.0), U8(255));
        assert_eq!(<i32 as Element>::from_f64(1e10), i32::MIN);
        assert_eq!(<i32 as Element>::from_f64(f64::NAN), i32::MIN);
        assert_eq!(f64_to_i64_wrapping(1e19), i64::MIN);
        assert_eq!(<U8 as Element>::to_f64(U8(200)), 200.0);
    }

    #[test]
    fn promotion_follows_pytorch() {
        use DType::*;
        assert_eq!(F16.promote(BF16), F32);
        assert_eq!(U8.promote(I8), I16);
        assert_eq!(Bool.promote(U8), U8);
        assert_eq!(U8.promote(I32), I32);
        assert_eq!(I16.promote(U8), I16);
        assert_eq!(I32.promote(F16), F16);
        assert_eq!(BF16.promote(F64), F64);
        assert_eq!(I8.promote(I64), I64);
        for a in DType::ALL {
            for b in DType::ALL {
                assert_eq!(a.promote(b), b.promote(a), "{a} {b}");
            }
        }
    }
}
