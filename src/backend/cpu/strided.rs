//! Walking several strided operands over one broadcast shape, a row at a time.
//!
//! Elementwise kernels see the work as rows: the innermost (coalesced) dimension, with one stride
//! per operand. When every stride is 1 the row is a plain slice loop that LLVM vectorises. The
//! output is always contiguous, so row `r` writes `out[r * len .. (r + 1) * len]`, which lets rows be
//! split across threads without any locking.

use crate::tensor::layout::{coalesce, Dims, Layout, StridedOffsets};

use crate::backend::cpu::threads::{self, PARALLEL_THRESHOLD};

/// The rows of a broadcast loop over `N` operands.
pub struct RowPlan<const N: usize> {
    outer_shape: Dims,
    outer_strides: [Dims; N],
    pub len: usize,
    pub inner_strides: [usize; N],
    base: [usize; N],
    rows: usize,
}

impl<const N: usize> RowPlan<N> {
    /// Plans the loop over `shape`; every layout must already have `shape` (broadcast views).
    pub fn new(shape: &[usize], layouts: [&Layout; N]) -> Self {
        let strides: Vec<&[usize]> = layouts.iter().map(|l| l.strides()).collect();
        let base = std::array::from_fn(|i| layouts[i].offset());
        match coalesce(shape, &strides) {
            None => RowPlan {
                outer_shape: Dims::new(),
                outer_strides: std::array::from_fn(|_| Dims::new()),
                len: 0,
                inner_strides: [0; N],
                base,
                rows: 0,
            },
            Some((mut cshape, cstrides)) => {
                let mut cstrides: Vec<Dims> = cstrides;
                let (len, inner_strides) = match cshape.pop() {
                    Some(len) => (len, std::array::from_fn(|i| cstrides[i].pop().unwrap_or(0))),
                    None => (1, [0; N]),
                };
                let rows = cshape.iter().product();
                let mut it = cstrides.into_iter();
                RowPlan {
                    outer_shape: cshape,
                    outer_strides: std::array::from_fn(|_| it.next().unwrap_or_default()),
                    len,
                    inner_strides,
                    base,
                    rows,
                }
            }
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Operand offsets of the first element of row `row`.
    pub fn row_offsets(&self, row: usize) -> [usize; N] {
        let mut offs = self.base;
        let mut rem = row;
        for d in (0..self.outer_shape.len()).rev() {
            let idx = rem % self.outer_shape[d];
            rem /= self.outer_shape[d];
            for (o, s) in offs.iter_mut().zip(&self.outer_strides) {
                *o += idx * s[d];
            }
        }
        offs
    }

    /// Calls `f(row, offsets)` for rows `start..start + count` in order.
    #[inline]
    pub fn for_rows(&self, start: usize, count: usize, mut f: impl FnMut(usize, [usize; N])) {
        if count == 0 {
            return;
        }
        let nd = self.outer_shape.len();
        let mut offs = self.row_offsets(start);
        let mut index: Dims = Dims::from_elem(0, nd);
        let mut rem = start;
        for d in (0..nd).rev() {
            index[d] = rem % self.outer_shape[d];
            rem /= self.outer_shape[d];
        }
        for row in start..start + count {
            f(row, offs);
            // Advance the odometer.
            let mut d = nd;
            while d > 0 {
                d -= 1;
                index[d] += 1;
                for (o, s) in offs.iter_mut().zip(&self.outer_strides) {
                    *o += s[d];
                }
                if index[d] < self.outer_shape[d] {
                    break;
                }
                for (o, s) in offs.iter_mut().zip(&self.outer_strides) {
                    *o -= s[d] * self.outer_shape[d];
                }
                index[d] = 0;
            }
        }
    }

    /// Fills the contiguous `out` (rows * len elements) by calling `f(out_row, offsets)` per row,
    /// in parallel for big outputs. With fewer rows than threads, rows are cut into pieces, so
    /// `out_row` may be part of a row: its elements follow the inner strides from `offsets`.
    pub fn fill_rows<O: Send>(&self, out: &mut [O], f: impl Fn(&mut [O], [usize; N]) + Sync) {
        let len = self.len;
        if len == 0 || self.rows == 0 {
            return;
        }
        let total = self.rows * len;
        if total < PARALLEL_THRESHOLD {
            self.for_rows(0, self.rows, |row, offs| {
                f(&mut out[row * len..(row + 1) * len], offs)
            });
            return;
        }
        let threads = threads::num_threads();
        if self.rows < threads {
            // A few long rows (an expanded scalar is one): pieces of rows instead.
            let pieces = (threads * 4).div_ceil(self.rows);
            let piece = len.div_ceil(pieces);
            let dst = threads::SyncPtr(out.as_mut_ptr());
            threads::parallel_for(self.rows * pieces, |task| {
                let (row, start) = (task / pieces, task % pieces * piece);
                if start >= len {
                    return;
                }
                let mut offs = self.row_offsets(row);
                for (o, s) in offs.iter_mut().zip(&self.inner_strides) {
                    *o += start * s;
                }
                // SAFETY: tasks own disjoint pieces of `out`.
                let chunk = unsafe { dst.slice(row * len + start, piece.min(len - start)) };
                f(chunk, offs)
            });
            return;
        }
        let rows_per_task = self
            .rows
            .div_ceil(threads * 4)
            .max(PARALLEL_THRESHOLD / len / 4)
            .max(1);
        threads::par_chunks_mut(out, rows_per_task * len, |start, chunk| {
            let first = start / len;
            let n = chunk.len() / len;
            self.for_rows(first, n, |row, offs| {
                let r = row - first;
                f(&mut chunk[r * len..(r + 1) * len], offs)
            });
        });
    }
}

// ----- rows along one dim (softmax, scans) ------------------------------------------------------

/// (outer*inner row starts, stride along dim, dim size) of a layout for a reduction along `dim`.
pub(crate) fn rows(layout: &Layout, dim: usize) -> (Vec<usize>, usize, usize) {
    let mut shape: Dims = layout.dims().clone();
    let mut strides = Dims::from_slice(layout.strides());
    let n = shape.remove(dim);
    let s = strides.remove(dim);
    let others = Layout::from_parts(shape, strides, layout.offset());
    (StridedOffsets::new(&others).collect(), s, n)
}

/// Contiguous output offsets matching `rows` order: row r, element j at `out_base(r) + j * out_stride`.
pub(crate) fn out_index(shape: &[usize], dim: usize) -> (Vec<usize>, usize) {
    let contiguous = Layout::contiguous(shape);
    let (starts, s, _) = rows(&contiguous, dim);
    (starts, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_long_row_is_filled_in_pieces() {
        // A strided view (every other element) with one coalesced row of 70000.
        let n = 70_000;
        let a = Layout::from_parts(Dims::from_slice(&[n]), Dims::from_slice(&[2]), 3);
        let plan = RowPlan::new(&[n], [&a]);
        assert_eq!(plan.rows(), 1);
        let mut out = vec![0usize; n];
        plan.fill_rows(&mut out, |row, [off]| {
            for (i, o) in row.iter_mut().enumerate() {
                *o = off + 2 * i;
            }
        });
        assert!(out.iter().enumerate().all(|(i, &v)| v == 3 + 2 * i));
    }

    #[test]
    fn rows_of_a_broadcast() {
        let shape = [2, 3];
        let a = Layout::contiguous(&[2, 3]);
        let b = Layout::contiguous(&[3]).broadcast_to(&shape);
        let plan = RowPlan::new(&shape, [&a, &b]);
        assert_eq!(plan.len, 3);
        assert_eq!(plan.inner_strides, [1, 1]);
        let mut seen = vec![];
        plan.for_rows(0, plan.rows(), |r, o| seen.push((r, o)));
        assert_eq!(seen, vec![(0, [0, 0]), (1, [3, 0])]);
    }

    #[test]
    fn rows_of_a_transpose() {
        let shape = [3, 2];
        let a = Layout::contiguous(&[2, 3]).transpose(0, 1);
        let plan = RowPlan::new(&shape, [&a]);
        assert_eq!((plan.len, plan.inner_strides), (2, [3]));
        let mut seen = vec![];
        plan.for_rows(1, 2, |r, o| seen.push((r, o[0])));
        assert_eq!(seen, vec![(1, 1), (2, 2)]);
    }
}
