//! Reductions over a set of dims (sum, mean, prod, max, min, all, any) and max/min with indices.

use crate::backend::cpu::simd::vectorized;
use crate::backend::cpu::strided::RowPlan;
use crate::backend::cpu::threads::{self, SyncPtr, PARALLEL_THRESHOLD};
use crate::backend::ReduceOp;
use crate::error::Result;
use crate::storage::{Buffer, CpuElement, CpuStorage, DType, Element};
use crate::tensor::layout::{coalesce, Dims, Layout, StridedOffsets};
use crate::with_dtype;

/// Splits `layout` into the kept dims (output order) and the reduced dims.
fn split(layout: &Layout, dims: &[usize]) -> (Layout, Layout) {
    let (mut ks, mut kst, mut rs, mut rst) = (Dims::new(), Dims::new(), Dims::new(), Dims::new());
    for d in 0..layout.ndim() {
        if dims.contains(&d) {
            rs.push(layout.shape()[d]);
            rst.push(layout.strides()[d]);
        } else {
            ks.push(layout.shape()[d]);
            kst.push(layout.strides()[d]);
        }
    }
    (
        Layout::from_parts(ks, kst, layout.offset()),
        Layout::from_parts(rs, rst, 0),
    )
}

/// Sum of a contiguous slice in f64, so long f32 sums keep their precision. Thirty-two lanes:
/// four independent chains of vector adds hide the add latency (one chain ran at a third of the
/// speed of memory).
#[inline]
fn sum_slice<T: Element>(x: &[T]) -> f64 {
    const LANES: usize = 32;
    vectorized!({
        let mut lanes = [0.0f64; LANES];
        let chunks = x.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for (l, &v) in lanes.iter_mut().zip(c) {
                *l += v.to_f64();
            }
        }
        let mut s: f64 = lanes.iter().sum();
        for &v in rest {
            s += v.to_f64();
        }
        s
    })
}

/// Calls `f(slice_or_none, base, stride_row)` for each row of the reduced block at `base`.
#[inline]
fn for_each_reduced_row<T: Element>(
    x: &[T],
    base: usize,
    plan: &RowPlan<1>,
    mut f: impl FnMut(RowView<'_, T>),
) {
    let len = plan.len;
    let s = plan.inner_strides[0];
    plan.for_rows(0, plan.rows(), |_, [off]| {
        let start = base + off;
        if s == 1 {
            f(RowView::Contiguous(&x[start..start + len]));
        } else {
            f(RowView::Strided {
                x,
                start,
                stride: s,
                len,
            });
        }
    });
}

enum RowView<'a, T> {
    Contiguous(&'a [T]),
    Strided {
        x: &'a [T],
        start: usize,
        stride: usize,
        len: usize,
    },
}

impl<T: Element> RowView<'_, T> {
    #[inline]
    fn for_each(&self, mut f: impl FnMut(usize, T)) {
        match self {
            RowView::Contiguous(s) => s.iter().enumerate().for_each(|(i, &v)| f(i, v)),
            RowView::Strided {
                x,
                start,
                stride,
                len,
            } => (0..*len).for_each(|i| f(i, x[start + i * stride])),
        }
    }
    #[inline]
    fn sum(&self) -> f64 {
        match self {
            RowView::Contiguous(s) => sum_slice(s),
            _ => {
                let mut acc = 0.0;
                self.for_each(|_, v| acc += v.to_f64());
                acc
            }
        }
    }
}

/// Reduces `dims` (sorted, unique) of the strided `src`; the output has the kept dims, contiguous.
pub fn reduce(
    op: ReduceOp,
    src: &CpuStorage,
    layout: &Layout,
    dims: &[usize],
) -> Result<CpuStorage> {
    with_dtype!(src.dtype(), T => reduce_typed::<T>(op, src.slice::<T>()?, layout, dims))
}

fn out_dtype(op: ReduceOp, dtype: DType) -> DType {
    match op {
        ReduceOp::Sum | ReduceOp::Prod if !dtype.is_floating_point() => DType::I64,
        ReduceOp::ArgMax | ReduceOp::ArgMin => DType::I64,
        ReduceOp::All | ReduceOp::Any => DType::Bool,
        _ => dtype,
    }
}

fn reduce_typed<T: CpuElement>(
    op: ReduceOp,
    x: &[T],
    layout: &Layout,
    dims: &[usize],
) -> Result<CpuStorage> {
    let (kept, red) = split(layout, dims);
    let n_out = kept.numel();
    let n_red = red.numel();
    let plan = RowPlan::new(red.shape(), [&red]);
    let dtype = out_dtype(op, T::DTYPE);

    // Sum and mean over leading dims of a row-major block: accumulate whole rows (vectorised).
    if matches!(op, ReduceOp::Sum | ReduceOp::Mean) && T::DTYPE.is_floating_point() {
        if let Some(out) = total_sum(x, layout, n_out, op == ReduceOp::Mean)? {
            return Ok(out);
        }
        if let Some(out) = column_sum(x, &kept, &red, op == ReduceOp::Mean)? {
            return Ok(out);
        }
    }

    with_dtype!(dtype, O => {
        let mut out = Buffer::<O>::uninit(n_out)?;
        let bases: Vec<usize> = StridedOffsets::new(&kept).collect();
        let reduce_one = |base: usize| -> O {
            match op {
                ReduceOp::Sum | ReduceOp::Mean => {
                    if T::DTYPE.is_floating_point() {
                        let mut acc = 0.0f64;
                        for_each_reduced_row(x, base, &plan, |row| acc += row.sum());
                        if op == ReduceOp::Mean { acc /= n_red as f64; }
                        O::from_f64(acc)
                    } else {
                        let mut acc = 0i64;
                        for_each_reduced_row(x, base, &plan, |row| row.for_each(|_, v| acc = acc.wrapping_add(v.to_i64())));
                        O::from_i64(acc)
                    }
                }
                ReduceOp::Prod => {
                    if T::DTYPE.is_floating_point() {
                        let mut acc = 1.0f64;
                        for_each_reduced_row(x, base, &plan, |row| row.for_each(|_, v| acc *= v.to_f64()));
                        O::from_f64(acc)
                    } else {
                        let mut acc = 1i64;
                        for_each_reduced_row(x, base, &plan, |row| row.for_each(|_, v| acc = acc.wrapping_mul(v.to_i64())));
                        O::from_i64(acc)
                    }
                }
                ReduceOp::Max | ReduceOp::Min | ReduceOp::ArgMax | ReduceOp::ArgMin => {
                    let want_max = matches!(op, ReduceOp::Max | ReduceOp::ArgMax);
                    let (best, idx) = extreme(x, base, &plan, want_max);
                    if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) {
                        O::from_i64(idx as i64)
                    } else {
                        crate::backend::cpu::elementwise::convert::<T, O>(best)
                    }
                }
                ReduceOp::All => {
                    let mut all = true;
                    for_each_reduced_row(x, base, &plan, |row| row.for_each(|_, v| all &= v.is_nonzero()));
                    O::from_i64(all as i64)
                }
                ReduceOp::Any => {
                    let mut any = false;
                    for_each_reduced_row(x, base, &plan, |row| row.for_each(|_, v| any |= v.is_nonzero()));
                    O::from_i64(any as i64)
                }
            }
        };
        let o = out.as_mut_slice();
        if n_out * n_red.max(1) >= PARALLEL_THRESHOLD && n_out > 1 {
            let ptr = SyncPtr(o.as_mut_ptr());
            // SAFETY: each index writes its own output element.
            threads::par_for_each(n_out, |i| unsafe { *ptr.get().add(i) = reduce_one(bases[i]) });
        } else {
            for (o, &b) in o.iter_mut().zip(&bases) {
                *o = reduce_one(b);
            }
        }
        Ok(O::wrap(out))
    })
}

/// The max (or min) of the reduced block at `base` and its flat index within the block. NaN wins,
/// and the first of equal extremes is kept, as in PyTorch.
fn extreme<T: Element>(x: &[T], base: usize, plan: &RowPlan<1>, want_max: bool) -> (T, usize) {
    let mut best: Option<T> = None;
    let mut best_idx = 0usize;
    let mut flat = 0usize;
    let mut found_nan = false;
    for_each_reduced_row(x, base, plan, |row| {
        row.for_each(|_, v| {
            if !found_nan {
                #[allow(clippy::eq_op)]
                let is_nan = v != v;
                let better = match best {
                    None => true,
                    Some(b) => is_nan || (want_max && v > b) || (!want_max && v < b),
                };
                if better {
                    best = Some(v);
                    best_idx = flat;
                    found_nan = is_nan;
                }
            }
            flat += 1;
        })
    });
    (best.unwrap_or_default(), best_idx)
}

/// Sum of a whole big contiguous tensor: fixed-size chunks summed in parallel and added in
/// order, so the result does not depend on the thread count.
fn total_sum<T: CpuElement>(
    x: &[T],
    layout: &Layout,
    n_out: usize,
    mean: bool,
) -> Result<Option<CpuStorage>> {
    const CHUNK: usize = 1 << 14;
    let Some(r) = layout.contiguous_range() else {
        return Ok(None);
    };
    if n_out != 1 || r.len() < PARALLEL_THRESHOLD {
        return Ok(None);
    }
    let x = &x[r];
    let parts = threads::par_map(x.len().div_ceil(CHUNK), |c| {
        sum_slice(&x[c * CHUNK..x.len().min((c + 1) * CHUNK)])
    });
    let mut sum: f64 = parts.iter().sum();
    if mean {
        sum /= x.len() as f64;
    }
    Ok(Some(T::wrap(Buffer::<T>::from_slice(&[T::from_f64(sum)])?)))
}

/// Sum over leading dims when the kept dims form one contiguous run: out += row, row by row.
fn column_sum<T: CpuElement>(
    x: &[T],
    kept: &Layout,
    red: &Layout,
    mean: bool,
) -> Result<Option<CpuStorage>> {
    let Some((kshape, kstrides)) = coalesce(kept.shape(), &[kept.strides()]) else {
        return Ok(None);
    };
    if kshape.len() != 1 || kstrides[0][0] != 1 {
        return Ok(None);
    }
    let n_out = kshape[0];
    let n_red = red.numel();
    if n_red < 2 {
        return Ok(None);
    }
    let mut acc = vec![0.0f64; n_out];
    for off in StridedOffsets::new(red) {
        let row = &x[kept.offset() + off..kept.offset() + off + n_out];
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v.to_f64();
        }
    }
    let scale = if mean { 1.0 / n_red as f64 } else { 1.0 };
    let out = Buffer::<T>::from_iter_exact(n_out, acc.iter().map(|&a| T::from_f64(a * scale)))?;
    Ok(Some(T::wrap(out)))
}

/// Max or min along one dim: (values, int64 indices), both with the dim removed.
pub fn extreme_along(
    src: &CpuStorage,
    layout: &Layout,
    dim: usize,
    want_max: bool,
) -> Result<(CpuStorage, CpuStorage)> {
    with_dtype!(src.dtype(), T => {
        let x = src.slice::<T>()?;
        let (kept, red) = split(layout, &[dim]);
        let plan = RowPlan::new(red.shape(), [&red]);
        let bases: Vec<usize> = StridedOffsets::new(&kept).collect();
        let mut vals = Buffer::<T>::uninit(bases.len())?;
        let mut idxs = Buffer::<i64>::uninit(bases.len())?;
        for ((v, i), &b) in vals.as_mut_slice().iter_mut().zip(idxs.as_mut_slice()).zip(&bases) {
            let (best, idx) = extreme(x, b, &plan, want_max);
            *v = best;
            *i = idx as i64;
        }
        Ok((T::wrap(vals), CpuStorage::I64(idxs)))
    })
}

/// Cumulative sum along `dim` (from the end when `reverse`) into a contiguous result of the
/// input's dtype (float sums accumulate in f64, as PyTorch's CPU kernel); rows in parallel.
pub fn cumsum(x: &CpuStorage, layout: &Layout, dim: usize, reverse: bool) -> Result<CpuStorage> {
    /// The scan in accumulator type `A`: `up` converts an element, `add` accumulates (wrapping
    /// for integers, as PyTorch), `down` converts back.
    type Acc<T, A> = (A, fn(T) -> A, fn(A, A) -> A, fn(A) -> T);
    fn typed<T: CpuElement, A: Copy + Send + Sync>(
        x: &[T],
        layout: &Layout,
        dim: usize,
        reverse: bool,
        (zero, up, add, down): Acc<T, A>,
    ) -> Result<Buffer<T>> {
        let (starts, s, n) = crate::backend::cpu::strided::rows(layout, dim);
        let (ostarts, os) = crate::backend::cpu::strided::out_index(layout.shape(), dim);
        let mut out = Buffer::<T>::uninit(layout.numel())?;
        let ptr = SyncPtr(out.as_mut_ptr());
        let row = |r: usize| {
            let mut acc = zero;
            for k in 0..n {
                let j = if reverse { n - 1 - k } else { k };
                acc = add(acc, up(x[starts[r] + j * s]));
                // SAFETY: distinct (row, j) pairs are distinct offsets of the contiguous output.
                unsafe { *ptr.get().add(ostarts[r] + j * os) = down(acc) };
            }
        };
        if layout.numel() >= PARALLEL_THRESHOLD {
            threads::par_for_each(starts.len(), row);
        } else {
            (0..starts.len()).for_each(row);
        }
        Ok(out)
    }
    Ok(match x {
        CpuStorage::F32(b) => CpuStorage::F32(typed(
            b.as_slice(),
            layout,
            dim,
            reverse,
            (0.0f64, |v| v as f64, |a, b| a + b, |a| a as f32),
        )?),
        CpuStorage::F64(b) => CpuStorage::F64(typed(
            b.as_slice(),
            layout,
            dim,
            reverse,
            (0.0f64, |v| v, |a, b| a + b, |a| a),
        )?),
        CpuStorage::I64(b) => CpuStorage::I64(typed(
            b.as_slice(),
            layout,
            dim,
            reverse,
            (0i64, |v| v, i64::wrapping_add, |a| a),
        )?),
        other => {
            return Err(crate::Error::not_implemented_for(
                "cumsum_cpu",
                other.dtype(),
            ))
        }
    })
}
