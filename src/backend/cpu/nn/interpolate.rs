//! Resampling of (planes, H, W): nearest and bilinear, with PyTorch's source-index arithmetic.
//!
//! Each output row and column reads at most two input rows/columns (`i0`, `i1`) with weights
//! (`l0`, `l1`); nearest is the one-tap case. The backward adds each output gradient back with
//! the same weights.

use crate::backend::cpu::threads::{par_chunks_mut, PARALLEL_THRESHOLD};
use crate::error::Result;
use crate::storage::{Buffer, CpuElement, Float};

/// The input taps of one output position along one axis.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Tap {
    pub i0: usize,
    pub i1: usize,
    pub l0: f64,
    pub l1: f64,
}

/// Nearest-neighbour source indices (PyTorch's `nearest_idx`, computed in float32 as it does).
pub fn nearest_taps(input: usize, output: usize, scale: Option<f64>) -> Vec<Tap> {
    (0..output)
        .map(|o| {
            let i = if output == input {
                o
            } else if output == 2 * input {
                o >> 1
            } else {
                let s: f32 = match scale {
                    Some(s) if s > 0.0 => (1.0 / s) as f32,
                    _ => input as f32 / output as f32,
                };
                ((o as f32 * s).floor() as usize).min(input.saturating_sub(1))
            };
            Tap {
                i0: i,
                i1: i,
                l0: 1.0,
                l1: 0.0,
            }
        })
        .collect()
}

/// Bilinear taps (PyTorch's `area_pixel_compute_scale` / `compute_source_index_and_lambda`),
/// computed in the element type `T` as PyTorch does.
pub fn linear_taps<T: Float>(
    input: usize,
    output: usize,
    align_corners: bool,
    scale: Option<f64>,
) -> Vec<Tap> {
    let ratio: T = if align_corners {
        if output > 1 {
            T::from_f64((input - 1) as f64) / T::from_f64((output - 1) as f64)
        } else {
            T::zero()
        }
    } else {
        match scale {
            Some(s) if s > 0.0 => T::from_f64(1.0 / s),
            _ => T::from_f64(input as f64) / T::from_f64(output as f64),
        }
    };
    (0..output)
        .map(|o| {
            if output == input {
                return Tap {
                    i0: o,
                    i1: o,
                    l0: 1.0,
                    l1: 0.0,
                };
            }
            let real = if align_corners {
                ratio * T::from_f64(o as f64)
            } else {
                let r = ratio * (T::from_f64(o as f64) + T::from_f64(0.5)) - T::from_f64(0.5);
                if r < T::zero() {
                    T::zero()
                } else {
                    r
                }
            };
            let i0 = (real.floor().to_f64() as usize).min(input - 1);
            let l1 = (real - T::from_f64(i0 as f64))
                .max_val(T::zero())
                .min_val(T::one());
            let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
            Tap {
                i0,
                i1,
                l0: (T::one() - l1).to_f64(),
                l1: l1.to_f64(),
            }
        })
        .collect()
}

/// Resampling geometry: `planes` of `h x w` to `rows.len() x cols.len()`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResampleGeom {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub rows: Vec<Tap>,
    pub cols: Vec<Tap>,
    /// One tap per axis (nearest): a plain gather.
    pub nearest: bool,
}

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

    #[test]
    fn nearest_indices() {
        let idx = |i, o, s| -> Vec<usize> { nearest_taps(i, o, s).iter().map(|t| t.i0).collect() };
        assert_eq!(idx(4, 8, None), vec![0, 0, 1, 1, 2, 2, 3, 3]);
        assert_eq!(idx(3, 7, None), vec![0, 0, 0, 1, 1, 2, 2]);
        assert_eq!(idx(8, 3, None), vec![0, 2, 5]);
        // A given scale factor decides the source index (not in / out).
        assert_eq!(idx(5, 7, Some(1.5)), vec![0, 0, 1, 2, 2, 3, 4]);
    }

    #[test]
    fn bilinear_taps_half_pixel_and_corners() {
        let t = linear_taps::<f64>(2, 4, false, None);
        // src = 0.5 * (o + 0.5) - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 -> (1, 1).
        assert_eq!((t[0].i0, t[0].i1, t[0].l1), (0, 1, 0.0));
        assert_eq!((t[1].i0, t[1].l1), (0, 0.25));
        assert_eq!((t[2].i0, t[2].l1), (0, 0.75));
        assert_eq!((t[3].i0, t[3].i1), (1, 1));
        let t = linear_taps::<f64>(3, 5, true, None);
        assert_eq!((t[1].i0, t[1].l1), (0, 0.5));
        assert_eq!((t[4].i0, t[4].i1, t[4].l1), (2, 2, 0.0));
    }

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
