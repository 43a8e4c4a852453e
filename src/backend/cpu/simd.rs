//! Runs a loop compiled for the widest vector unit the CPU has.
//!
//! The wheel is built for baseline x86-64 (SSE2), so a plain loop gets 128-bit vectors.
//! `vectorized!(body)` expands `body` three times: inlined into a function compiled with
//! AVX-512 (F, VL, BW, DQ), into one compiled with AVX2 and FMA, and plainly, and runs the copy
//! the CPU supports, so LLVM's vectorizer emits 512- or 256-bit code for it. Each copy is its own
//! closure with one call site, which LLVM always inlines (one closure shared by several wrappers
//! was at times left out of line, baseline-compiled: a 2x loss). Rust never contracts
//! `a * b + c` into an FMA on its own, so every copy gives the same bits.

use std::sync::atomic::{AtomicU8, Ordering};

const UNKNOWN: u8 = 0;
pub const BASELINE: u8 = 1;
pub const AVX2: u8 = 2;
pub const AVX512: u8 = 3;

static LEVEL: AtomicU8 = AtomicU8::new(UNKNOWN);

/// The widest vector level this CPU runs (detected once).
#[inline]
pub fn level() -> u8 {
    match LEVEL.load(Ordering::Relaxed) {
        UNKNOWN => {
            let level = detect();
            LEVEL.store(level, Ordering::Relaxed);
            level
        }
        level => level,
    }
}

fn detect() -> u8 {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        let avx512 = avx2
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512dq");
        if avx512 {
            return AVX512;
        }
        if avx2 {
            return AVX2;
        }
    }
    BASELINE
}

/// `$body`, compiled for the CPU's widest vector level (see the module comment). `$body` should
/// be a loop the vectorizer can handle once inlined: arithmetic, no opaque calls.
macro_rules! vectorized {
    ($body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            use $crate::backend::cpu::simd;
            match simd::level() {
                // SAFETY: the CPU has these features (simd::level detected them).
                simd::AVX512 => unsafe { simd::with_avx512(|| $body) },
                // SAFETY: as above.
                simd::AVX2 => unsafe { simd::with_avx2(|| $body) },
                _ => $body,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $body
        }
    }};
}
pub(crate) use vectorized;

/// Runs `f` compiled with AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` compiled with AVX-512 (F, VL, BW, DQ), AVX2 and FMA.
///
/// # Safety
/// The CPU must have these features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
#[inline]
pub unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_gives_the_same_result() {
        let x: Vec<f32> = (0..1001).map(|i| (i as f32 * 0.37).sin()).collect();
        let plain: Vec<f32> = x.iter().map(|&v| v * v + 1.0).collect();
        assert_eq!(
            vectorized!(x.iter().map(|&v| v * v + 1.0).collect::<Vec<_>>()),
            plain
        );
        #[cfg(target_arch = "x86_64")]
        {
            if level() >= AVX2 {
                // SAFETY: the CPU has AVX2 and FMA.
                let v = unsafe { with_avx2(|| x.iter().map(|&v| v * v + 1.0).collect::<Vec<_>>()) };
                assert_eq!(v, plain);
            }
            if level() >= AVX512 {
                // SAFETY: the CPU has these features.
                let v =
                    unsafe { with_avx512(|| x.iter().map(|&v| v * v + 1.0).collect::<Vec<_>>()) };
                assert_eq!(v, plain);
            }
        }
    }
}
