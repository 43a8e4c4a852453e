//! Softmax and log-softmax along one dim, and their backward passes, in one pass per row.

use crate::backend::cpu::simd::vectorized;
use crate::backend::cpu::strided::{out_index, rows};
use crate::backend::cpu::threads::PARALLEL_THRESHOLD;
use crate::backend::cpu::threads::{par_for_each, SyncPtr};
use crate::error::{Error, Result};
use crate::storage::{Buffer, CpuElement, CpuStorage, Float};
use crate::tensor::layout::Layout;

fn softmax_typed<T: Float + CpuElement>(
    x: &[T],
    layout: &Layout,
    dim: usize,
    log: bool,
) -> Result<Buffer<T>> {
    let (starts, s, n) = rows(layout, dim);
    let (ostarts, os) = out_index(layout.shape(), dim);
    let mut out = Buffer::<T>::uninit(layout.numel())?;
    let ptr = SyncPtr(out.as_mut_ptr());
    let row = |r: usize| {
        let (b, ob) = (starts[r], ostarts[r]);
        if s == 1 && os == 1 {
            // SAFETY: rows write disjoint output ranges of length n.
            let out_row = unsafe { ptr.slice(ob, n) };
            return contiguous_row(&x[b..b + n], out_row, log);
        }
        let mut m = T::NEG_INFINITY;
        for j in 0..n {
            let v = x[b + j * s];
            if v > m || v.is_nan() {
                m = v;
            }
        }
        let m = if m == T::NEG_INFINITY { T::zero() } else { m };
        let mut sum = 0.0f64;
        for j in 0..n {
            sum += (x[b + j * s] - m).exp().to_f64();
        }
        let ls = T::from_f64(sum.ln());
        let inv = T::from_f64(1.0 / sum);
        for j in 0..n {
            let z = x[b + j * s] - m;
            let v = if log { z - ls } else { z.exp() * inv };
            // SAFETY: rows write disjoint output positions (distinct (row, j) pairs map to distinct
            // offsets of the contiguous output).
            unsafe { *ptr.get().add(ob + j * os) = v };
        }
    };
    if layout.numel() >= PARALLEL_THRESHOLD {
        par_for_each(starts.len(), row);
    } else {
        (0..starts.len()).for_each(row);
    }
    Ok(out)
}

/// One contiguous row, in vectorized passes: the maximum, `e^(x - max)` into `out` with its sum
/// (in f64), then the scale (or, for log-softmax, `x - max - ln sum`). Same arithmetic as the
/// strided path, which evaluates each exponential twice and one element at a time.
fn contiguous_row<T: Float + CpuElement>(x: &[T], out: &mut [T], log: bool) {
    const LANES: usize = 16;
    let m = vectorized!({
        let mut lanes = [T::NEG_INFINITY; LANES];
        let mut nan = [false; LANES];
        let chunks = x.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for ((l, n), &v) in lanes.iter_mut().zip(&mut nan).zip(c) {
                *l = if v > *l { v } else { *l };
                *n |= v.is_nan();
            }
        }
        let mut m = lanes
            .iter()
            .fold(T::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        for &v in rest {
            m = if v > m { v } else { m };
        }
        if nan.iter().any(|&n| n) || rest.iter().any(|v| v.is_nan()) {
            T::NAN
        } else {
            m
        }
    });
    let m = if m == T::NEG_INFINITY { T::zero() } else { m };
    let sum = vectorized!({
        let mut lanes = [0.0f64; LANES];
        let mut chunks = out.chunks_exact_mut(LANES);
        let mut src = x.chunks_exact(LANES);
        for (o, c) in (&mut chunks).zip(&mut src) {
            for ((l, o), &v) in lanes.iter_mut().zip(o.iter_mut()).zip(c) {
                let e = (v - m).exp();
                *o = e;
                *l += e.to_f64();
            }
        }
        let mut sum: f64 = lanes.iter().sum();
        for (o, &v) in chunks.into_remainder().iter_mut().zip(src.remainder()) {
            let e = (v - m).exp();
            *o = e;
            sum += e.to_f64();
        }
        sum
    });
    if log {
        let ls = T::from_f64(sum.ln());
        vectorized!({
            for (o, &v) in out.iter_mut().zip(x) {
                *o = v - m - ls;
            }
        })
    } else {
        let inv = T::from_f64(1.0 / sum);
        vectorized!({
            for o in out.iter_mut() {
                *o = *o * inv;
            }
        })
    }
}

/// Softmax (or log-softmax) of `x` along `dim`; contiguous result.
pub fn softmax(x: &CpuStorage, layout: &Layout, dim: usize, log: bool) -> Result<CpuStorage> {
    match x {
        CpuStorage::F32(b) => Ok(CpuStorage::F32(softmax_typed(
            b.as_slice(),
            layout,
            dim,
            log,
        )?)),
        CpuStorage::F64(b) => Ok(CpuStorage::F64(softmax_typed(
            b.as_slice(),
            layout,
            dim,
            log,
        )?)),
        _ => Err(Error::not_implemented(format!(
            "\"softmax_lastdim_kernel_impl\" not implemented for '{}'",
            x.dtype().scalar_name()
        ))),
    }
}

fn softmax_backward_typed<T: Float + CpuElement>(
    g: &[T],
    lg: &Layout,
    y: &[T],
    ly: &Layout,
    dim: usize,
    log: bool,
) -> Result<Buffer<T>> {
    let (gs, gstride, n) = rows(lg, dim);
    let (ys, ystride, _) = rows(ly, dim);
    let (ostarts, os) = out_index(lg.shape(), dim);
    let mut out = Buffer::<T>::uninit(lg.numel())?;
    let ptr = SyncPtr(out.as_mut_ptr());
    let row = |r: usize| {
        let (gb, yb, ob) = (gs[r], ys[r], ostarts[r]);
        let mut dot = 0.0f64;
        for j in 0..n {
            let gj = g[gb + j * gstride].to_f64();
            dot += if log {
                gj
            } else {
                gj * y[yb + j * ystride].to_f64()
            };
        }
        let dot = T::from_f64(dot);
        for j in 0..n {
            let (gj, yj) = (g[gb + j * gstride], y[yb + j * ystride]);
            let v = if log {
                gj - yj.exp() * dot
            } else {
                yj * (gj - dot)
            };
            // SAFETY: as in softmax_typed.
            unsafe { *ptr.get().add(ob + j * os) = v };
        }
    };
    if lg.numel() >= PARALLEL_THRESHOLD {
        par_for_each(gs.len(), row);
    } else {
        (0..gs.len()).for_each(row);
    }
    Ok(out)
}

/// Gradient of softmax (`y` its output) or of log-softmax (`y` its output) along `dim`.
pub fn softmax_backward(
    g: &CpuStorage,
    lg: &Layout,
    y: &CpuStorage,
    ly: &Layout,
    dim: usize,
    log: bool,
) -> Result<CpuStorage> {
    match (g, y) {
        (CpuStorage::F32(a), CpuStorage::F32(b)) => Ok(CpuStorage::F32(softmax_backward_typed(
            a.as_slice(),
            lg,
            b.as_slice(),
            ly,
            dim,
            log,
        )?)),
        (CpuStorage::F64(a), CpuStorage::F64(b)) => Ok(CpuStorage::F64(softmax_backward_typed(
            a.as_slice(),
            lg,
            b.as_slice(),
            ly,
            dim,
            log,
        )?)),
        _ => Err(Error::runtime(
            "softmax backward expects float tensors of one dtype",
        )),
    }
}
