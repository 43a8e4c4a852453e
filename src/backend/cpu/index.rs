//! Index kernels: index_select / index_add along a dim, gather / scatter, and advanced indexing in
//! its leading-dims form (the ops layer permutes indexed dims to the front).
//!
//! [`positions`] (and [`Leading::check`] for advanced indexing) check an index operand against
//! the dim it indexes, with PyTorch's `IndexError`s; the kernels then take validated indices and
//! only move data.

use crate::error::{Error, Result};
use crate::storage::{Buffer, CpuElement, CpuStorage, DType, Element};
use crate::tensor::layout::{contiguous_strides, Dims, Layout, StridedOffsets};
use crate::with_dtype;

/// The values of an index operand in row-major order, as int64 (converted as `to(int64)`
/// converts, should another dtype reach here).
pub fn read_positions(index: &CpuStorage, layout: &Layout) -> Result<Vec<i64>> {
    if index.dtype() != DType::I64 {
        let c = crate::backend::cpu::elementwise::cast(index, layout, DType::I64)?;
        return Ok(c.slice::<i64>()?.to_vec());
    }
    let all = index.slice::<i64>()?;
    Ok(match layout.contiguous_range() {
        Some(r) => all[r].to_vec(),
        None => StridedOffsets::new(layout).map(|o| all[o]).collect(),
    })
}

/// Checks positions against `dim` (the user's dim number, for the message) of `size` and wraps
/// the negative ones.
pub fn normalize_positions(idx: &mut [i64], size: usize, dim: usize) -> Result<()> {
    let n = size as i64;
    for v in idx.iter_mut() {
        if *v < -n || *v >= n {
            return Err(Error::index(format!(
                "index {} is out of bounds for dimension {dim} with size {size}",
                *v
            )));
        }
        if *v < 0 {
            *v += n;
        }
    }
    Ok(())
}

/// An index operand read, checked against `dim` of `size` and normalised.
pub fn positions(index: &CpuStorage, layout: &Layout, size: usize, dim: usize) -> Result<Vec<i64>> {
    let mut idx = read_positions(index, layout)?;
    normalize_positions(&mut idx, size, dim)?;
    Ok(idx)
}

/// `out = src.index_select(dim, idx)`: contiguous output with `dim` of size `idx.len()`.
pub fn index_select(
    src: &CpuStorage,
    layout: &Layout,
    dim: usize,
    idx: &[i64],
) -> Result<CpuStorage> {
    let mut shape = layout.dims().clone();
    shape[dim] = idx.len();
    let outer: usize = shape[..dim].iter().product();
    let inner: usize = shape[dim + 1..].iter().product();
    with_dtype!(src.dtype(), T => {
        let x = src.slice::<T>()?;
        let mut out = Buffer::<T>::uninit(outer * idx.len() * inner)?;
        let o = out.as_mut_slice();
        // A per-(outer, index) view of the inner block.
        let inner_layout = Layout::from_parts(
            Dims::from_slice(&layout.shape()[dim + 1..]),
            Dims::from_slice(&layout.strides()[dim + 1..]),
            0,
        );
        let inner_offs: Vec<usize> = StridedOffsets::new(&inner_layout).collect();
        let outer_layout = Layout::from_parts(
            Dims::from_slice(&layout.shape()[..dim]),
            Dims::from_slice(&layout.strides()[..dim]),
            layout.offset(),
        );
        let sd = layout.strides()[dim];
        let mut w = 0;
        for base in StridedOffsets::new(&outer_layout) {
            for &i in idx {
                let b = base + i as usize * sd;
                for &io in &inner_offs {
                    o[w] = x[b + io];
                    w += 1;
                }
            }
        }
        Ok(T::wrap(out))
    })
}

/// Zeros of `shape` plus `src` added at positions `idx` along `dim` (`index_add`).
pub fn index_add(
    shape: &[usize],
    dim: usize,
    idx: &[i64],
    src: &CpuStorage,
    src_layout: &Layout,
) -> Result<CpuStorage> {
    let outer: usize = shape[..dim].iter().product();
    let inner: usize = shape[dim + 1..].iter().product();
    let size = shape[dim];
    with_dtype!(src.dtype(), T => {
        let s = src.slice::<T>()?;
        let mut out = Buffer::<T>::zeros(shape.iter().product())?;
        let o = out.as_mut_slice();
        let mut offs = StridedOffsets::new(src_layout);
        for a in 0..outer {
            for &i in idx {
                let base = (a * size + i as usize) * inner;
                for k in 0..inner {
                    if let Some(so) = offs.next() {
                        o[base + k] = add(o[base + k], s[so]);
                    }
                }
            }
        }
        Ok(T::wrap(out))
    })
}

#[inline]
fn add<T: CpuElement>(a: T, b: T) -> T {
    match T::DTYPE {
        crate::DType::I64 => T::from_i64(a.to_i64().wrapping_add(b.to_i64())),
        crate::DType::Bool => T::from_i64((a.is_nonzero() || b.is_nonzero()) as i64),
        _ => T::from_f64(a.to_f64() + b.to_f64()),
    }
}

/// `out[i][j][k] = src[i][index[i][j][k]][k]` (for dim 1): output has the index's shape.
pub fn gather(
    src: &CpuStorage,
    layout: &Layout,
    dim: usize,
    index: &[i64],
    index_shape: &[usize],
) -> Result<CpuStorage> {
    let n: usize = index_shape.iter().product();
    let istrides = contiguous_strides(index_shape);
    with_dtype!(src.dtype(), T => {
        let x = src.slice::<T>()?;
        let mut out = Buffer::<T>::uninit(n)?;
        for (flat, o) in out.as_mut_slice().iter_mut().enumerate() {
            let mut off = layout.offset();
            for d in 0..index_shape.len() {
                let coord = (flat / istrides[d]) % index_shape[d];
                let c = if d == dim { index[flat] as usize } else { coord };
                off += c * layout.strides()[d];
            }
            *o = x[off];
        }
        Ok(T::wrap(out))
    })
}

/// The index of a scatter: positions along `dim`, shaped `shape`.
pub struct ScatterIndex<'a> {
    pub dim: usize,
    pub positions: &'a [i64],
    pub shape: &'a [usize],
}

/// `base` (strided) copied, with `src` values written (or added) at `index`.
pub fn scatter(
    base: &CpuStorage,
    base_layout: &Layout,
    index: &ScatterIndex<'_>,
    src: &CpuStorage,
    src_layout: &Layout,
    accumulate: bool,
) -> Result<CpuStorage> {
    let (dim, index_shape) = (index.dim, index.shape);
    let index = index.positions;
    let shape = base_layout.shape();
    let strides = contiguous_strides(shape);
    let istrides = contiguous_strides(index_shape);
    with_dtype!(base.dtype(), T => {
        let b = base.slice::<T>()?;
        let s = src.slice::<T>()?;
        let mut out = crate::backend::cpu::elementwise::map_unary(b, base_layout, |v: T| v)?;
        let o = out.as_mut_slice();
        // src is read at the index's coordinates.
        for (flat, &pos) in index.iter().enumerate() {
            let (mut off, mut soff) = (0usize, src_layout.offset());
            for d in 0..index_shape.len() {
                let coord = (flat / istrides[d]) % index_shape[d];
                let c = if d == dim { pos as usize } else { coord };
                off += c * strides[d];
                soff += coord * src_layout.strides()[d];
            }
            o[off] = if accumulate { add(o[off], s[soff]) } else { s[soff] };
        }
        Ok(T::wrap(out))
    })
}

/// The positions of advanced indexing in leading form: row `j` of the `[k, n]` `pos` indexes
/// dim `j`. Negative positions count from the end; [`Leading::check`] first.
pub struct Leading<'a> {
    pub pos: &'a [i64],
    pub k: usize,
    pub n: usize,
}

impl Leading<'_> {
    /// Checks row `j` against dim `j` of `shape` (the user's dim `dims[j]` in the message), row
    /// by row, each in order.
    pub fn check(&self, shape: &[usize], dims: &[usize]) -> Result<()> {
        for (j, &d) in dims.iter().enumerate().take(self.k) {
            let size = shape[j] as i64;
            let row = &self.pos[j * self.n..(j + 1) * self.n];
            if let Some(&v) = row.iter().find(|&&v| v < -size || v >= size) {
                return Err(Error::index(format!(
                    "index {v} is out of bounds for dimension {d} with size {size}"
                )));
            }
        }
        Ok(())
    }

    /// Position `b` of row `j`, wrapped into a dim of `size`.
    #[inline]
    fn at(&self, j: usize, b: usize, size: usize) -> usize {
        let v = self.pos[j * self.n + b];
        (if v < 0 { v + size as i64 } else { v }) as usize
    }
}

/// Advanced indexing in leading form: `src` is [I0, .., Ik-1, rest..] indexed at checked
/// `positions`. Output is [n, rest..].
pub fn index_leading(
    src: &CpuStorage,
    layout: &Layout,
    positions: &Leading<'_>,
) -> Result<CpuStorage> {
    let k = positions.k;
    let rest = Layout::from_parts(
        Dims::from_slice(&layout.shape()[k..]),
        Dims::from_slice(&layout.strides()[k..]),
        0,
    );
    let rest_offs: Vec<usize> = StridedOffsets::new(&rest).collect();
    let (shape, strides) = (layout.shape(), layout.strides());
    with_dtype!(src.dtype(), T => {
        let x = src.slice::<T>()?;
        let mut out = Buffer::<T>::uninit(positions.n * rest_offs.len())?;
        let o = out.as_mut_slice();
        let mut w = 0;
        for b in 0..positions.n {
            let mut base = layout.offset();
            for j in 0..k {
                base += positions.at(j, b, shape[j]) * strides[j];
            }
            for &r in &rest_offs {
                o[w] = x[base + r];
                w += 1;
            }
        }
        Ok(T::wrap(out))
    })
}

/// The inverse of `index_leading`: a contiguous copy of `dst` with `values` ([b.., rest..],
/// strided) written or added at checked `positions`.
pub fn index_put_leading(
    dst: &CpuStorage,
    dst_layout: &Layout,
    positions: &Leading<'_>,
    values: &CpuStorage,
    values_layout: &Layout,
    accumulate: bool,
) -> Result<CpuStorage> {
    let k = positions.k;
    let shape = dst_layout.shape();
    let strides = contiguous_strides(shape);
    let rest_n: usize = shape[k..].iter().product();
    with_dtype!(dst.dtype(), T => {
        let d = dst.slice::<T>()?;
        let v = values.slice::<T>()?;
        let mut out = crate::backend::cpu::elementwise::map_unary(d, dst_layout, |x: T| x)?;
        let o = out.as_mut_slice();
        let mut voffs = StridedOffsets::new(values_layout);
        for b in 0..positions.n {
            let mut base = 0usize;
            for j in 0..k {
                base += positions.at(j, b, shape[j]) * strides[j];
            }
            for r in 0..rest_n {
                if let Some(vo) = voffs.next() {
                    let at = base + r;
                    o[at] = if accumulate { add(o[at], v[vo]) } else { v[vo] };
                }
            }
        }
        Ok(T::wrap(out))
    })
}

/// Coordinates of the nonzero elements, as an [n, ndim] int64 buffer.
pub fn nonzero(src: &CpuStorage, layout: &Layout) -> Result<(Buffer<i64>, usize)> {
    let shape = layout.shape();
    let nd = shape.len();
    let strides = contiguous_strides(shape);
    with_dtype!(src.dtype(), T => {
        let x = src.slice::<T>()?;
        let mut coords: Vec<i64> = Vec::new();
        let mut n = 0;
        for (flat, off) in StridedOffsets::new(layout).enumerate() {
            if x[off].is_nonzero() {
                n += 1;
                for d in 0..nd {
                    coords.push(((flat / strides[d]) % shape[d]) as i64);
                }
            }
        }
        Ok((Buffer::from_slice(&coords)?, n))
    })
}
