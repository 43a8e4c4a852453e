//! The machine's float32 multiply-add peak, measured rather than computed from the clock that
//! /proc/cpuinfo names (the base clock: turbo runs past it, AVX-512 offsets below it). Benchmarks
//! report matmul's throughput as a share of this.

use std::time::{Duration, Instant};

/// Independent multiply-add chains per thread: latency (4 cycles) times FMA ports (2), with room.
const CHAINS: usize = 12;

/// Most threads a probe starts (a count beyond any machine's cores measures nothing more).
const MAX_THREADS: usize = 1024;

/// Float32 FLOP/s of `threads` threads each running vector multiply-adds for `time`, or None
/// where no vector FMA is known (only x86-64 with AVX-512F or AVX2 + FMA is measured).
pub fn fma_peak_flops(threads: usize, time: Duration) -> Option<f64> {
    let lanes = vector_lanes()?;
    let threads = threads.clamp(1, MAX_THREADS);
    let rates: Vec<f64> = std::thread::scope(|s| {
        // A thread the OS refuses only leaves its share out.
        let others: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .spawn_scoped(s, move || one_thread(lanes, time))
                    .ok()
            })
            .collect();
        let mine = one_thread(lanes, time);
        std::iter::once(mine)
            .chain(others.into_iter().filter_map(|h| h.join().ok()))
            .collect()
    });
    Some(rates.iter().sum())
}

fn vector_lanes() -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            return Some(16);
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Some(8);
        }
    }
    None
}

/// FLOP/s of this thread: rounds of multiply-adds until `time` has passed.
fn one_thread(lanes: usize, time: Duration) -> f64 {
    const ROUND: usize = 1 << 20;
    let start = Instant::now();
    let mut rounds = 0usize;
    while start.elapsed() < time {
        std::hint::black_box(fma_round(lanes, ROUND));
        rounds += 1;
    }
    (rounds * ROUND * CHAINS * lanes * 2) as f64 / start.elapsed().as_secs_f64()
}

fn fma_round(lanes: usize, iters: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `vector_lanes` found the instructions each kernel needs.
    unsafe {
        if lanes == 16 {
            x86::fma_avx512(iters)
        } else {
            x86::fma_avx2(iters)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (lanes, iters);
        0.0
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    // Distinct starting values keep the compiler from merging the chains.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma_avx512(iters: usize) -> f32 {
        let (m, c) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut acc: [__m512; CHAINS] =
            std::array::from_fn(|i| _mm512_set1_ps(1.0 + i as f32 * 1e-3));
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_ps(*a, m, c);
            }
        }
        acc.iter().map(|&a| _mm512_reduce_add_ps(a)).sum()
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_avx2(iters: usize) -> f32 {
        let (m, c) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let mut acc: [__m256; CHAINS] =
            std::array::from_fn(|i| _mm256_set1_ps(1.0 + i as f32 * 1e-3));
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm256_fmadd_ps(*a, m, c);
            }
        }
        let mut out = [0.0f32; 8];
        acc.iter().fold(0.0, |s, &a| {
            _mm256_storeu_ps(out.as_mut_ptr(), a);
            s + out.iter().sum::<f32>()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_positive_where_measured() {
        if let Some(flops) = fma_peak_flops(1, Duration::from_millis(20)) {
            // Any vector FMA machine runs above a GFLOP/s.
            assert!(flops > 1e9, "{flops}");
        }
    }
}
