//! Softmax and log-softmax along one dim, and their backward passes, in one pass per row.

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
