//! Pooling over (planes, H, W): max pooling with argmax indices, and average pooling over
//! per-axis windows (which covers avg_pool2d in all its modes and adaptive_avg_pool2d).

use crate::backend::cpu::threads::{self, SyncPtr, PARALLEL_THRESHOLD};
use crate::backend::geometry::{AvgGeom, MaxPoolGeom, Win};
use crate::error::Result;
use crate::storage::{Buffer, CpuElement, DType, Float};

/// The input positions `start, start + dilation, ...` below `end` of output `o` along one axis
/// (PyTorch's window clipping: start skipped forward past the padding by whole dilations).
fn max_window(
    o: usize,
    stride: usize,
    pad: usize,
    k: usize,
    dil: usize,
    len: usize,
) -> (usize, usize) {
    let start = (o * stride) as isize - pad as isize;
    let end = (start + ((k - 1) * dil) as isize + 1).min(len as isize);
    let mut s = start;
    while s < 0 {
        s += dil as isize;
    }
    (s as usize, end.max(0) as usize)
}

/// Runs `f(plane, chunk)` over the `len`-element chunks of `out`, in parallel for big jobs.
fn for_planes<A: Send>(out: &mut [A], len: usize, work: usize, f: impl Fn(usize, &mut [A]) + Sync) {
    if len == 0 {
        return;
    }
    if work >= PARALLEL_THRESHOLD {
        threads::par_chunks_mut(out, len, |start, x| f(start / len, x));
    } else {
        out.chunks_mut(len).enumerate().for_each(|(p, x)| f(p, x));
    }
}

/// Max pooling of contiguous planes; returns the maxima and their flat indices within each plane.
/// NaN wins, as in PyTorch.
pub fn max_pool2d_forward<T: Float + CpuElement>(
    x: &[T],
    g: &MaxPoolGeom,
) -> Result<(Buffer<T>, Buffer<i64>)> {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let mut out = Buffer::<T>::uninit(g.planes * ohw)?;
    let mut idx = Buffer::<i64>::uninit(g.planes * ohw)?;
    if ohw == 0 {
        return Ok((out, idx));
    }
    let work = g.planes * ohw * g.kernel[0] * g.kernel[1];
    // Window bounds per output row and column, computed once.
    let rows: Vec<(usize, usize)> = (0..g.oh)
        .map(|o| max_window(o, g.stride[0], g.pad[0], g.kernel[0], g.dilation[0], g.h))
        .collect();
    let cols: Vec<(usize, usize)> = (0..g.ow)
        .map(|o| max_window(o, g.stride[1], g.pad[1], g.kernel[1], g.dilation[1], g.w))
        .collect();
    // The common 2x2 / stride 2 / no padding window: four reads, no bounds arithmetic.
    let two_by_two = g.kernel == [2, 2]
        && g.stride == [2, 2]
        && g.pad == [0, 0]
        && g.dilation == [1, 1]
        && 2 * g.oh <= g.h
        && 2 * g.ow <= g.w;
    let simd_two_by_two = two_by_two && T::DTYPE == DType::F32 && avx512::available(g.w);
    let body = |p: usize, out: &mut [T], idx: &mut [i64]| {
        let plane = &x[p * hw..(p + 1) * hw];
        if simd_two_by_two {
            // SAFETY: T is f32 (checked above), so the casts only rename the element type.
            let (plane, out) = unsafe {
                (
                    std::slice::from_raw_parts(plane.as_ptr() as *const f32, plane.len()),
                    std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut f32, out.len()),
                )
            };
            for oy in 0..g.oh {
                let (r0, r1) = (2 * oy * g.w, (2 * oy + 1) * g.w);
                let rows = oy * g.ow..(oy + 1) * g.ow;
                avx512::max2x2_row(
                    &plane[r0..r0 + 2 * g.ow],
                    &plane[r1..r1 + 2 * g.ow],
                    &mut out[rows.clone()],
                    &mut idx[rows],
                    r0 as i64,
                    g.w,
                );
            }
            return;
        }
        if two_by_two {
            for oy in 0..g.oh {
                let (r0, r1) = (2 * oy * g.w, (2 * oy + 1) * g.w);
                let top = &plane[r0..r0 + 2 * g.ow];
                let bottom = &plane[r1..r1 + 2 * g.ow];
                let o = &mut out[oy * g.ow..(oy + 1) * g.ow];
                let ix = &mut idx[oy * g.ow..(oy + 1) * g.ow];
                let w = g.w as i64;
                // Branch-free selects (so the loop vectorises); later candidates win on `>` or
                // NaN, as in PyTorch.
                for (ox, ((t, b), (o, ix))) in top
                    .chunks_exact(2)
                    .zip(bottom.chunks_exact(2))
                    .zip(o.iter_mut().zip(ix.iter_mut()))
                    .enumerate()
                {
                    let mut best = t[0];
                    let mut k = 0i64;
                    for (v, off) in [(t[1], 1), (b[0], w), (b[1], w + 1)] {
                        let take = v > best || v.is_nan();
                        best = if take { v } else { best };
                        k = if take { off } else { k };
                    }
                    *o = best;
                    *ix = (r0 + 2 * ox) as i64 + k;
                }
            }
            return;
        }
        for (oy, &(y0, y1)) in rows.iter().enumerate() {
            for (ox, &(x0, x1)) in cols.iter().enumerate() {
                let mut best = T::NEG_INFINITY;
                let mut best_i = y0 * g.w + x0;
                for iy in (y0..y1).step_by(g.dilation[0]) {
                    let row = &plane[iy * g.w..(iy + 1) * g.w];
                    for ix in (x0..x1).step_by(g.dilation[1]) {
                        let v = row[ix];
                        if v > best || v.is_nan() {
                            best = v;
                            best_i = iy * g.w + ix;
                        }
                    }
                }
                out[oy * g.ow + ox] = best;
                idx[oy * g.ow + ox] = best_i as i64;
            }
        }
    };
    let (o, i) = (out.as_mut_slice(), idx.as_mut_slice());
    if work >= PARALLEL_THRESHOLD {
        let idx = SyncPtr(i.as_mut_ptr());
        threads::par_chunks_mut(o, ohw, |start, o| {
            // SAFETY: plane `start / ohw` owns the same block of the index buffer.
            let i = unsafe { idx.slice(start, ohw) };
            body(start / ohw, o, i)
        });
    } else {
        for (p, (o, i)) in o.chunks_mut(ohw).zip(i.chunks_mut(ohw)).enumerate() {
            body(p, o, i);
        }
    }
    Ok((out, idx))
}

/// The 2x2 / stride-2 float32 max pooling with AVX-512: 16 outputs per step, deinterleaved by
/// permutes and selected by compare masks (the scalar loop mispredicts on every random window).
mod avx512 {
    /// True when the CPU has AVX-512F and row offsets fit the kernel's 32-bit lanes.
    pub fn available(w: usize) -> bool {
        w < (i32::MAX / 2) as usize && super::super::conv_direct::available()
    }

    /// One output row: `out[i]`, `idx[i]` the max of `top[2i], top[2i+1], bottom[2i],
    /// bottom[2i+1]` and its flat index (`base` the top row's start, `w` the row length). Later
    /// candidates win on `>` or NaN, as in PyTorch. The caller checks [`available`].
    pub fn max2x2_row(
        top: &[f32],
        bottom: &[f32],
        out: &mut [f32],
        idx: &mut [i64],
        base: i64,
        w: usize,
    ) {
        let n = out
            .len()
            .min(idx.len())
            .min(top.len() / 2)
            .min(bottom.len() / 2);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `available` checked AVX-512F; `n` bounds every lane the kernel touches.
        unsafe {
            kernel(
                top.as_ptr(),
                bottom.as_ptr(),
                out.as_mut_ptr(),
                idx.as_mut_ptr(),
                n,
                base,
                w as i32,
            )
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (n, base, w);
    }

    /// # Safety
    /// AVX-512F is available; `top` and `bottom` hold `2n` values, `out` and `idx` `n`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel(
        top: *const f32,
        bottom: *const f32,
        out: *mut f32,
        idx: *mut i64,
        n: usize,
        base: i64,
        w: i32,
    ) {
        use std::arch::x86_64::*;
        let mask16 = |k: usize| if k >= 16 { u16::MAX } else { (1u16 << k) - 1 };
        let mask8 = |k: usize| if k >= 8 { u8::MAX } else { (1u8 << k) - 1 };
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
        let mut c = 0;
        while c < n {
            let m = (n - c).min(16);
            let (lo, hi) = (mask16(2 * m), mask16((2 * m).saturating_sub(16)));
            // Masked-off lanes are never read (fault suppression), so pointers may run past.
            let (t, b) = (top.wrapping_add(2 * c), bottom.wrapping_add(2 * c));
            let (tl, th) = (
                _mm512_maskz_loadu_ps(lo, t),
                _mm512_maskz_loadu_ps(hi, t.wrapping_add(16)),
            );
            let (bl, bh) = (
                _mm512_maskz_loadu_ps(lo, b),
                _mm512_maskz_loadu_ps(hi, b.wrapping_add(16)),
            );
            let mut best = _mm512_permutex2var_ps(tl, even, th);
            let mut k = _mm512_setzero_si512();
            let candidates = [
                (_mm512_permutex2var_ps(tl, odd, th), 1),
                (_mm512_permutex2var_ps(bl, even, bh), w),
                (_mm512_permutex2var_ps(bl, odd, bh), w + 1),
            ];
            for (v, off) in candidates {
                let take = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best)
                    | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
                best = _mm512_mask_mov_ps(best, take, v);
                k = _mm512_mask_mov_epi32(k, take, _mm512_set1_epi32(off));
            }
            _mm512_mask_storeu_ps(out.wrapping_add(c), mask16(m), best);
            // Index = base + 2 (c + lane) + k, widened to 64 bits.
            let rel = _mm512_add_epi32(even, k);
            let start = _mm512_set1_epi64(base + 2 * c as i64);
            let first = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(rel)), start);
            let second = _mm512_add_epi64(
                _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(rel)),
                start,
            );
            _mm512_mask_storeu_epi64(idx.wrapping_add(c), mask8(m), first);
            // No store under an empty mask: Zen 4 still pays for one (7-wide rows, 4096 planes
            // of 14x14 on one thread: 265 us with it, 230 us without).
            if m > 8 {
                _mm512_mask_storeu_epi64(idx.wrapping_add(c + 8), mask8(m - 8), second);
            }
            c += 16;
        }
    }
}

/// Gradient of max pooling: each output gradient added at its argmax.
pub fn max_pool2d_backward<T: Float + CpuElement>(
    gy: &[T],
    idx: &[i64],
    g: &MaxPoolGeom,
) -> Result<Buffer<T>> {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let mut dx = Buffer::<T>::zeros(g.planes * hw)?;
    for_planes(dx.as_mut_slice(), hw, g.planes * (hw + ohw), |p, dx| {
        let (gp, ip) = (&gy[p * ohw..(p + 1) * ohw], &idx[p * ohw..(p + 1) * ohw]);
        for (&v, &i) in gp.iter().zip(ip) {
            // Indices come from the forward pass; an out-of-plane one is skipped, never a panic.
            if let Some(d) = usize::try_from(i).ok().and_then(|i| dx.get_mut(i)) {
                *d += v;
            }
        }
    });
    Ok(dx)
}

impl AvgGeom {
    fn factor<T: Float>(&self, ry: &Win, rx: &Win) -> T {
        let d = self.divisor.unwrap_or((ry.count * rx.count) as f64);
        if d == 0.0 {
            T::zero()
        } else {
            T::one() / T::from_f64(d)
        }
    }
}

/// Average pooling forward.
pub fn avg_pool2d_forward<T: Float + CpuElement>(x: &[T], g: &AvgGeom) -> Result<Buffer<T>> {
    let (hw, oh, ow) = (g.h * g.w, g.rows.len(), g.cols.len());
    let ohw = oh * ow;
    let mut out = Buffer::<T>::uninit(g.planes * ohw)?;
    let kh = g.rows.iter().map(|r| r.end - r.start).max().unwrap_or(0);
    let kw = g.cols.iter().map(|r| r.end - r.start).max().unwrap_or(0);
    for_planes(
        out.as_mut_slice(),
        ohw,
        g.planes * ohw * kh * kw,
        |p, out| {
            let plane = &x[p * hw..(p + 1) * hw];
            for (oy, ry) in g.rows.iter().enumerate() {
                for (ox, rx) in g.cols.iter().enumerate() {
                    let d = g.divisor.unwrap_or((ry.count * rx.count) as f64);
                    let mut sum = T::zero();
                    for iy in ry.start..ry.end {
                        for &v in &plane[iy * g.w + rx.start..iy * g.w + rx.end] {
                            sum += v;
                        }
                    }
                    out[oy * ow + ox] = if d == 0.0 {
                        T::zero()
                    } else {
                        sum / T::from_f64(d)
                    };
                }
            }
        },
    );
    Ok(out)
}

/// Gradient of average pooling: each output gradient spread evenly over its window.
pub fn avg_pool2d_backward<T: Float + CpuElement>(gy: &[T], g: &AvgGeom) -> Result<Buffer<T>> {
    let (hw, ow) = (g.h * g.w, g.cols.len());
    let ohw = g.rows.len() * ow;
    let mut dx = Buffer::<T>::zeros(g.planes * hw)?;
    for_planes(dx.as_mut_slice(), hw, g.planes * (hw + ohw), |p, dx| {
        let gp = &gy[p * ohw..(p + 1) * ohw];
        for (oy, ry) in g.rows.iter().enumerate() {
            for (ox, rx) in g.cols.iter().enumerate() {
                let v = gp[oy * ow + ox] * g.factor::<T>(ry, rx);
                for iy in ry.start..ry.end {
                    for d in &mut dx[iy * g.w + rx.start..iy * g.w + rx.end] {
                        *d += v;
                    }
                }
            }
        }
    });
    Ok(dx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::geometry::{adaptive_windows, avg_windows};

    #[test]
    fn max_windows_skip_padding_by_dilation() {
        assert_eq!(max_window(0, 2, 1, 3, 1, 9), (0, 2));
        assert_eq!(max_window(4, 2, 1, 3, 1, 9), (7, 9));
        // dilation 2, pad 1: window -1, 1, 3 -> starts at 1.
        assert_eq!(max_window(0, 1, 1, 3, 2, 9), (1, 4));
    }

    #[test]
    fn max_pool_picks_first_maximum_and_nan() {
        let g = MaxPoolGeom {
            planes: 1,
            h: 2,
            w: 4,
            oh: 1,
            ow: 2,
            kernel: [2, 2],
            stride: [2, 2],
            pad: [0, 0],
            dilation: [1, 1],
        };
        let x = [1.0, 3.0, 0.0, f64::NAN, 3.0, 2.0, 5.0, 1.0];
        let (v, i) = max_pool2d_forward(&x, &g).unwrap();
        assert_eq!(v.as_slice()[0], 3.0);
        assert_eq!(i.as_slice(), &[1, 3]);
        assert!(v.as_slice()[1].is_nan());
        let dx = max_pool2d_backward(&[1.0, 2.0], i.as_slice(), &g).unwrap();
        assert_eq!(dx.as_slice(), &[0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn avg_pool_backward_is_the_adjoint() {
        let g = AvgGeom {
            planes: 2,
            h: 5,
            w: 4,
            rows: avg_windows(5, 3, 2, 1, 3, false),
            cols: adaptive_windows(4, 3),
            divisor: None,
        };
        let x: Vec<f64> = (0..40).map(|v| ((v * 7) % 9) as f64 - 4.0).collect();
        let gy: Vec<f64> = (0..18).map(|v| ((v * 5) % 7) as f64 - 3.0).collect();
        let y = avg_pool2d_forward(&x, &g).unwrap();
        let dx = avg_pool2d_backward(&gy, &g).unwrap();
        let lhs: f64 = y.as_slice().iter().zip(&gy).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(dx.as_slice()).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12, "{lhs} {rhs}");
    }
}
