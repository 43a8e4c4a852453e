//! Layout: how a tensor's logical shape maps onto its storage (shape, strides, offset).
//!
//! Every view op (view, permute, expand, narrow, ...) is a pure function from one Layout to another;
//! none of them touch data. Strides are in elements and never negative, as in PyTorch.

use smallvec::SmallVec;

use crate::error::{ensure, fmt_shape, Error, Result};

/// Shape or strides of a tensor. Six dims fit inline, so small tensors never allocate for metadata.
pub type Dims = SmallVec<[usize; 6]>;

/// Shape, strides and storage offset of a tensor view.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    shape: Dims,
    strides: Dims,
    offset: usize,
}

/// Row-major strides for a shape.
pub fn contiguous_strides(shape: &[usize]) -> Dims {
    let mut strides: Dims = SmallVec::from_elem(1, shape.len());
    let mut acc = 1usize;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc = acc.saturating_mul(shape[i].max(1));
    }
    strides
}

/// Number of elements of a shape; errors when the product overflows.
pub fn checked_numel(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::runtime(format!("numel of shape {} overflows", fmt_shape(shape))))
}

/// Wraps a possibly negative dim into `0..ndim` with PyTorch's error.
pub fn normalize_dim(dim: i64, ndim: usize) -> Result<usize> {
    let n = ndim.max(1) as i64;
    ensure!(dim >= -n && dim < n, Error::dim_out_of_range(dim, ndim));
    Ok(if dim < 0 {
        (dim + n) as usize
    } else {
        dim as usize
    })
}

/// Like `normalize_dim` for ops that need the dim to exist (a 0-d tensor has none).
pub fn normalize_existing_dim(dim: i64, ndim: usize) -> Result<usize> {
    ensure!(
        ndim > 0,
        Error::index(format!(
            "Dimension specified as {dim} but tensor has no dimensions"
        ))
    );
    normalize_dim(dim, ndim)
}

/// Like `normalize_dim` for ops that insert a dimension (unsqueeze, stack): range is `ndim + 1`.
pub fn normalize_insert_dim(dim: i64, ndim: usize) -> Result<usize> {
    normalize_dim(dim, ndim + 1)
}

/// NumPy broadcasting of two shapes, with PyTorch's message on a mismatch.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Dims> {
    if a == b {
        return Ok(Dims::from_slice(a));
    }
    let ndim = a.len().max(b.len());
    let mut out: Dims = SmallVec::from_elem(0, ndim);
    for i in 0..ndim {
        let offset = ndim - 1 - i;
        let da = if offset < a.len() {
            a[a.len() - 1 - offset]
        } else {
            1
        };
        let db = if offset < b.len() {
            b[b.len() - 1 - offset]
        } else {
            1
        };
        ensure!(da == db || da == 1 || db == 1, Error::broadcast(i, da, db));
        out[i] = if da == 1 { db } else { da };
    }
    Ok(out)
}

impl Layout {
    /// A row-major layout of `shape` starting at offset 0.
    pub fn contiguous(shape: &[usize]) -> Self {
        Layout {
            shape: Dims::from_slice(shape),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }

    /// A layout from explicit parts (used by `as_strided`-style ops and storage sharing).
    pub fn from_parts(shape: Dims, strides: Dims, offset: usize) -> Self {
        debug_assert_eq!(shape.len(), strides.len());
        Layout {
            shape,
            strides,
            offset,
        }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn dims(&self) -> &Dims {
        &self.shape
    }
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }
    pub fn offset(&self) -> usize {
        self.offset
    }
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when elements are laid out row-major without gaps (size-1 dims may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1usize;
        for i in (0..self.shape.len()).rev() {
            let d = self.shape[i];
            if d == 0 {
                return true;
            }
            if d != 1 {
                if self.strides[i] != expected {
                    return false;
                }
                expected *= d;
            }
        }
        true
    }

    /// The contiguous element range `offset..offset+numel` when the layout is contiguous.
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        let numel = self.numel();
        if numel == 0 {
            // An empty view may sit at any offset, even one past the end of its storage.
            return Some(0..0);
        }
        self.is_contiguous()
            .then(|| self.offset..self.offset + numel)
    }

    /// One past the largest storage index this layout touches (0 for an empty tensor).
    pub fn storage_span(&self) -> usize {
        if self.shape.contains(&0) {
            return 0;
        }
        self.offset
            + self
                .shape
                .iter()
                .zip(&self.strides)
                .map(|(&d, &s)| (d - 1) * s)
                .sum::<usize>()
            + 1
    }

    /// PyTorch's `view` stride computation: a layout with `new_shape` over the same elements, or
    /// None when the view would need a copy.
    pub fn view(&self, new_shape: &[usize]) -> Option<Layout> {
        let numel = self.numel();
        if numel == 0 || self.shape.is_empty() || self.is_contiguous() {
            let mut layout = Layout::contiguous(new_shape);
            layout.offset = self.offset;
            return Some(layout);
        }
        // Walk the old dims in chunks that are contiguous among themselves; each chunk must map to
        // a whole group of new dims.
        let mut new_strides: Dims = SmallVec::from_elem(0, new_shape.len());
        let mut view_d = new_shape.len() as isize - 1;
        let mut chunk_base_stride = *self.strides.last()?;
        let mut tensor_numel = 1usize;
        let mut view_numel = 1usize;
        for tensor_d in (0..self.shape.len()).rev() {
            tensor_numel *= self.shape[tensor_d];
            let chunk_end = tensor_d == 0
                || (self.shape[tensor_d - 1] != 1
                    && self.strides[tensor_d - 1] != tensor_numel * chunk_base_stride);
            if chunk_end {
                while view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d as usize] == 1)
                {
                    new_strides[view_d as usize] = view_numel * chunk_base_stride;
                    view_numel *= new_shape[view_d as usize];
                    view_d -= 1;
                }
                if view_numel != tensor_numel {
                    return None;
                }
                if tensor_d > 0 {
                    chunk_base_stride = self.strides[tensor_d - 1];
                    tensor_numel = 1;
                    view_numel = 1;
                }
            }
        }
        if view_d != -1 {
            return None;
        }
        Some(Layout {
            shape: Dims::from_slice(new_shape),
            strides: new_strides,
            offset: self.offset,
        })
    }

    /// Reorders dims; `perm` must be a permutation (checked by the caller).
    pub fn permute(&self, perm: &[usize]) -> Layout {
        Layout {
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }

    pub fn transpose(&self, d0: usize, d1: usize) -> Layout {
        let mut out = self.clone();
        out.shape.swap(d0, d1);
        out.strides.swap(d0, d1);
        out
    }

    /// Broadcasts to `shape` with zero strides, as `expand`; PyTorch's message on a bad size.
    pub fn expand(&self, shape: &[usize]) -> Result<Layout> {
        ensure!(
            shape.len() >= self.ndim(),
            Error::runtime(format!(
                "expand(torch.FloatTensor{{{}}}, size=[{}]): the number of sizes provided ({}) must be greater or equal to the number of dimensions in the tensor ({})",
                fmt_shape(&self.shape).trim_matches(|c| c == '[' || c == ']'),
                shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
                shape.len(),
                self.ndim()
            ))
        );
        let lead = shape.len() - self.ndim();
        let mut strides: Dims = SmallVec::from_elem(0, shape.len());
        for i in 0..shape.len() {
            if i < lead {
                continue;
            }
            let (d, s) = (self.shape[i - lead], self.strides[i - lead]);
            if d == shape[i] {
                strides[i] = s;
            } else {
                ensure!(
                    d == 1,
                    Error::runtime(format!(
                        "The expanded size of the tensor ({}) must match the existing size ({}) at non-singleton dimension {}.  Target sizes: {}.  Tensor sizes: {}",
                        shape[i], d, i, fmt_shape(shape), fmt_shape(&self.shape)
                    ))
                );
            }
        }
        Ok(Layout {
            shape: Dims::from_slice(shape),
            strides,
            offset: self.offset,
        })
    }

    /// Broadcast view used internally by kernels (no size-1 check, the caller has broadcast shapes).
    pub fn broadcast_to(&self, shape: &[usize]) -> Layout {
        let lead = shape.len() - self.ndim();
        let mut strides: Dims = SmallVec::from_elem(0, shape.len());
        for i in lead..shape.len() {
            if self.shape[i - lead] == shape[i] {
                strides[i] = self.strides[i - lead];
            }
        }
        Layout {
            shape: Dims::from_slice(shape),
            strides,
            offset: self.offset,
        }
    }

    pub fn unsqueeze(&self, dim: usize) -> Layout {
        let mut out = self.clone();
        let stride = if dim < self.ndim() {
            self.shape[dim] * self.strides[dim]
        } else {
            1
        };
        out.shape.insert(dim, 1);
        out.strides.insert(dim, stride);
        out
    }

    /// Removes `dim` (which must have size 1).
    pub fn squeeze(&self, dim: usize) -> Layout {
        let mut out = self.clone();
        out.shape.remove(dim);
        out.strides.remove(dim);
        out
    }

    /// Elements `start, start+step, ...` below `end` along `dim` (bounds already clamped).
    pub fn slice(&self, dim: usize, start: usize, end: usize, step: usize) -> Layout {
        let mut out = self.clone();
        let len = if end > start {
            (end - start).div_ceil(step)
        } else {
            0
        };
        if len > 0 {
            out.offset += start * self.strides[dim];
        }
        out.shape[dim] = len;
        out.strides[dim] *= step;
        out
    }

    /// Drops `dim`, fixing it at `index` (already checked in range).
    pub fn select(&self, dim: usize, index: usize) -> Layout {
        let mut out = self.clone();
        out.offset += index * self.strides[dim];
        out.shape.remove(dim);
        out.strides.remove(dim);
        out
    }

    /// Sizes and strides with size-1 dims dropped and mergeable neighbours merged; the same elements
    /// in the same order. Kernels iterate over this to keep their loops few and long.
    pub fn coalesced(&self) -> (Dims, Dims) {
        coalesce(&self.shape, &[&self.strides]).map_or_else(
            || (Dims::new(), Dims::new()),
            |(shape, mut strides)| (shape, strides.pop().unwrap_or_default()),
        )
    }
}

/// Merges adjacent dims of `shape` wherever every operand's strides allow it, dropping size-1 dims.
/// Returns the merged shape and, per operand, its merged strides. None when the shape has a zero.
pub fn coalesce(shape: &[usize], strides: &[&[usize]]) -> Option<(Dims, Vec<Dims>)> {
    if shape.contains(&0) {
        return None;
    }
    let mut out_shape = Dims::new();
    let mut out_strides: Vec<Dims> = vec![Dims::new(); strides.len()];
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        let mergeable = !out_shape.is_empty()
            && strides.iter().zip(&out_strides).all(|(s, o)| {
                let last = *o.last().unwrap_or(&0);
                last == s[d] * shape[d]
            });
        if mergeable {
            let n = out_shape.len() - 1;
            out_shape[n] *= shape[d];
            for (o, s) in out_strides.iter_mut().zip(strides) {
                let m = o.len() - 1;
                o[m] = s[d];
            }
        } else {
            out_shape.push(shape[d]);
            for (o, s) in out_strides.iter_mut().zip(strides) {
                o.push(s[d]);
            }
        }
    }
    Some((out_shape, out_strides))
}

/// Iterates the storage offsets of a strided layout in row-major order.
pub struct StridedOffsets {
    shape: Dims,
    strides: Dims,
    index: Dims,
    next: Option<usize>,
}

impl StridedOffsets {
    pub fn new(layout: &Layout) -> Self {
        let (shape, strides) = layout.coalesced();
        let empty = layout.numel() == 0;
        StridedOffsets {
            index: SmallVec::from_elem(0, shape.len()),
            shape,
            strides,
            next: if empty { None } else { Some(layout.offset()) },
        }
    }
}

impl Iterator for StridedOffsets {
    type Item = usize;
    #[inline]
    fn next(&mut self) -> Option<usize> {
        let current = self.next?;
        let mut offset = current;
        let mut d = self.shape.len();
        loop {
            if d == 0 {
                self.next = None;
                break;
            }
            d -= 1;
            self.index[d] += 1;
            offset += self.strides[d];
            if self.index[d] < self.shape[d] {
                self.next = Some(offset);
                break;
            }
            offset -= self.strides[d] * self.shape[d];
            self.index[d] = 0;
        }
        Some(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_layouts() {
        let l = Layout::contiguous(&[2, 3, 4]);
        assert_eq!(l.strides(), &[12, 4, 1]);
        assert!(l.is_contiguous());
        assert!(!l.transpose(0, 1).is_contiguous());
        assert_eq!(l.storage_span(), 24);
    }

    #[test]
    fn view_of_transposed_needs_copy() {
        let l = Layout::contiguous(&[4, 6]).transpose(0, 1);
        assert!(l.view(&[24]).is_none());
        // Splitting a dim of a non-contiguous tensor is still a view.
        let v = l.view(&[2, 3, 4]).unwrap();
        assert_eq!(v.strides(), &[3, 1, 6]);
    }

    #[test]
    fn broadcasting() {
        assert_eq!(
            broadcast_shapes(&[2, 1, 4], &[3, 1]).unwrap().as_slice(),
            &[2, 3, 4]
        );
        let err = broadcast_shapes(&[2, 3], &[2, 4]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"
        );
    }

    #[test]
    fn strided_offsets_walk_row_major() {
        let l = Layout::contiguous(&[2, 3]).transpose(0, 1);
        let offs: Vec<usize> = StridedOffsets::new(&l).collect();
        assert_eq!(offs, vec![0, 3, 1, 4, 2, 5]);
        let e = Layout::contiguous(&[1, 3]).expand(&[2, 3]).unwrap();
        assert_eq!(
            StridedOffsets::new(&e).collect::<Vec<_>>(),
            vec![0, 1, 2, 0, 1, 2]
        );
    }

    #[test]
    fn slicing_with_steps() {
        let l = Layout::contiguous(&[10]).slice(0, 1, 10, 3);
        assert_eq!(l.shape(), &[3]);
        assert_eq!(StridedOffsets::new(&l).collect::<Vec<_>>(), vec![1, 4, 7]);
    }

    #[test]
    fn coalescing_merges_contiguous_dims() {
        let l = Layout::contiguous(&[2, 3, 4]);
        let (shape, strides) = l.coalesced();
        assert_eq!(shape.as_slice(), &[24]);
        assert_eq!(strides.as_slice(), &[1]);
    }
}
