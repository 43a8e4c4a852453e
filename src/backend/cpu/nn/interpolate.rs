//! Resampling of (planes, H, W): nearest and bilinear, with PyTorch's source-index arithmetic.
//!
//! Each output row and column reads at most two input rows/columns (`i0`, `i1`) with weights
//! (`l0`, `l1`); nearest is the one-tap case. The backward adds each output gradient back with
//! the same weights.

use crate::backend::cpu::threads::{par_chunks_mut, PARALLEL_THRESHOLD};
use crate::backend::geometry::ResampleGeom;
use crate::error::Result;
use crate::storage::{Buffer, CpuElement, Float};

/// Forward resampling of contiguous planes.
pub fn resample_forward<T: Float + CpuElement>(x: &[T], g: &ResampleGeom) -> Result<Buffer<T>> {
    let (hw, oh, ow) = (g.h * g.w, g.rows.len(), g.cols.len());
    let ohw = oh * ow;
    let mut out = Buffer::<T>::uninit(g.planes * ohw)?;
    if ohw == 0 {
        return Ok(out);
    }
    let cols: Vec<(usize, usize, T, T)> = g
        .cols
        .iter()
        .map(|t| (t.i0, t.i1, T::from_f64(t.l0), T::from_f64(t.l1)))
        .collect();
    let body = |p: usize, out: &mut [T]| {
        let plane = &x[p * hw..(p + 1) * hw];
        for (oy, ty) in g.rows.iter().enumerate() {
            let row = &mut out[oy * ow..(oy + 1) * ow];
            let r0 = &plane[ty.i0 * g.w..(ty.i0 + 1) * g.w];
            if g.nearest {
                for (o, c) in row.iter_mut().zip(&cols) {
                    *o = r0[c.0];
                }
                continue;
            }
            let r1 = &plane[ty.i1 * g.w..(ty.i1 + 1) * g.w];
            let (h0, h1) = (T::from_f64(ty.l0), T::from_f64(ty.l1));
            for (o, &(i0, i1, w0, w1)) in row.iter_mut().zip(&cols) {
                let t0 = r0[i0] * w0 + r0[i1] * w1;
                let t1 = r1[i0] * w0 + r1[i1] * w1;
                *o = t0 * h0 + t1 * h1;
            }
        }
    };
    if g.planes * ohw >= PARALLEL_THRESHOLD {
        par_chunks_mut(out.as_mut_slice(), ohw, |start, o| body(start / ohw, o));
    } else {
        for (p, o) in out.as_mut_slice().chunks_mut(ohw).enumerate() {
            body(p, o);
        }
    }
    Ok(out)
}

/// Backward resampling: every output gradient added back onto its taps with their weights.
pub fn resample_backward<T: Float + CpuElement>(gy: &[T], g: &ResampleGeom) -> Result<Buffer<T>> {
    let (hw, oh, ow) = (g.h * g.w, g.rows.len(), g.cols.len());
    let ohw = oh * ow;
    let mut dx = Buffer::<T>::zeros(g.planes * hw)?;
    if hw == 0 {
        return Ok(dx);
    }
    let body = |p: usize, dx: &mut [T]| {
        let gp = &gy[p * ohw..(p + 1) * ohw];
        for (oy, ty) in g.rows.iter().enumerate() {
            let grow = &gp[oy * ow..(oy + 1) * ow];
            let (h0, h1) = (T::from_f64(ty.l0), T::from_f64(ty.l1));
            for (&v, tx) in grow.iter().zip(&g.cols) {
                if g.nearest {
                    dx[ty.i0 * g.w + tx.i0] += v;
                    continue;
                }
                let (w0, w1) = (T::from_f64(tx.l0), T::from_f64(tx.l1));
                dx[ty.i0 * g.w + tx.i0] += h0 * w0 * v;
                dx[ty.i0 * g.w + tx.i1] += h0 * w1 * v;
                dx[ty.i1 * g.w + tx.i0] += h1 * w0 * v;
                dx[ty.i1 * g.w + tx.i1] += h1 * w1 * v;
            }
        }
    };
    if g.planes * (hw + ohw) >= PARALLEL_THRESHOLD {
        par_chunks_mut(dx.as_mut_slice(), hw, |start, d| body(start / hw, d));
    } else {
        for (p, d) in dx.as_mut_slice().chunks_mut(hw).enumerate() {
            body(p, d);
        }
    }
    Ok(dx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::geometry::linear_taps;

    #[test]
    fn backward_is_the_adjoint() {
        let g = ResampleGeom {
            planes: 2,
            h: 3,
            w: 4,
            rows: linear_taps::<f64>(3, 7, false, None),
            cols: linear_taps::<f64>(4, 5, true, None),
            nearest: false,
        };
        let x: Vec<f64> = (0..24).map(|v| ((v * 7) % 9) as f64 - 4.0).collect();
        let gy: Vec<f64> = (0..70).map(|v| ((v * 5) % 7) as f64 - 3.0).collect();
        let y = resample_forward(&x, &g).unwrap();
        let dx = resample_backward(&gy, &g).unwrap();
        let lhs: f64 = y.as_slice().iter().zip(&gy).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(dx.as_slice()).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-9, "{lhs} {rhs}");
    }
}
