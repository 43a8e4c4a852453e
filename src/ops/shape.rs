//! Views and shape ops: view, reshape, permute, transpose, expand, squeeze, unsqueeze, flatten,
//! narrow, select, slice, contiguous, clone, casts, cat, stack, split, chunk, unbind, repeat, flip.
//!
//! A view shares storage with its input; its gradient maps back through the same geometry.

use crate::autograd::{grad0, record};
use crate::backend;
use crate::error::{ensure, fmt_ishape, fmt_shape, Error, Result};
use crate::ops::{common_device, result_type, Operand};
use crate::storage::{DType, Device};
use crate::tensor::layout::{normalize_insert_dim, Dims, Layout};
use crate::tensor::{normalize_dim, normalize_existing_dim, Tensor};

/// Resolves a requested shape (one entry may be -1) against `numel`, with PyTorch's messages.
pub fn infer_shape(shape: &[i64], numel: usize) -> Result<Dims> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &d) in shape.iter().enumerate() {
        if d == -1 {
            ensure!(
                infer.is_none(),
                Error::runtime("only one dimension can be inferred")
            );
            infer = Some(i);
        } else if d < 0 {
            return Err(Error::runtime(format!("invalid shape dimension {d}")));
        } else {
            known = known
                .checked_mul(d as usize)
                .ok_or_else(|| Error::runtime("shape is too large"))?;
        }
    }
    let invalid = || {
        Error::runtime(format!(
            "shape '{}' is invalid for input of size {numel}",
            fmt_ishape(shape)
        ))
    };
    let mut out: Dims = shape.iter().map(|&d| d.max(0) as usize).collect();
    match infer {
        None => ensure!(known == numel, invalid()),
        Some(i) => {
            if known == 0 {
                return Err(Error::runtime(format!(
                    "cannot reshape tensor of 0 elements into shape {} because the unspecified dimension size -1 can be any value and is ambiguous",
                    fmt_ishape(shape)
                )));
            }
            ensure!(numel.is_multiple_of(known), invalid());
            out[i] = numel / known;
        }
    }
    Ok(out)
}

impl Tensor {
    /// A view with a new layout over the same storage, recording a view node whose gradient is
    /// `backward(grad)`.
    fn make_view(
        &self,
        layout: Layout,
        name: &'static str,
        backward: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static,
    ) -> Result<Tensor> {
        let out = self.view_with_layout(layout);
        record(name, &[self], &[&out], Vec::new, move |_, grads| {
            Ok(vec![Some(backward(grad0(grads)?)?)])
        })?;
        Ok(out)
    }

    /// `view(*shape)`: the same elements under a new shape, sharing storage; fails when the
    /// strides make that impossible.
    pub fn view(&self, shape: &[i64]) -> Result<Tensor> {
        let layout = self.layout();
        let new_shape = infer_shape(shape, layout.numel())?;
        let view = layout.view(&new_shape).ok_or_else(|| {
            Error::runtime(
                "view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.",
            )
        })?;
        let input_shape = self.shape();
        self.make_view(view, "ViewBackward0", move |g| g.reshape_dims(&input_shape))
    }

    /// `reshape(*shape)`: a view when possible, else a copy.
    pub fn reshape(&self, shape: &[i64]) -> Result<Tensor> {
        let layout = self.layout();
        let new_shape = infer_shape(shape, layout.numel())?;
        self.reshape_dims(&new_shape)
    }

    /// Reshape to a fully known shape.
    pub fn reshape_dims(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape().as_slice() == shape {
            return Ok(self.clone());
        }
        let layout = self.layout();
        let ishape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        infer_shape(&ishape, layout.numel())?;
        match layout.view(shape) {
            Some(view) => {
                let input_shape = self.shape();
                self.make_view(view, "ViewBackward0", move |g| g.reshape_dims(&input_shape))
            }
            None => self.copy()?.reshape_dims(shape),
        }
    }

    /// Reorders dims (`permute(*dims)`).
    pub fn permute(&self, dims: &[i64]) -> Result<Tensor> {
        let nd = self.ndim();
        ensure!(
            dims.len() == nd,
            Error::runtime(format!(
                "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = {nd} is not equal to len(dims) = {}",
                dims.len()
            ))
        );
        let perm: Vec<usize> = dims
            .iter()
            .map(|&d| normalize_dim(d, nd))
            .collect::<Result<_>>()?;
        let mut seen = vec![false; nd];
        for &p in &perm {
            ensure!(
                !seen[p],
                Error::runtime("permute(): duplicate dims are not allowed.")
            );
            seen[p] = true;
        }
        let mut inverse = vec![0i64; nd];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i as i64;
        }
        self.make_view(self.layout().permute(&perm), "PermuteBackward0", move |g| {
            g.permute(&inverse)
        })
    }

    /// Swaps two dims.
    pub fn transpose(&self, dim0: i64, dim1: i64) -> Result<Tensor> {
        let nd = self.ndim();
        let (a, b) = (normalize_dim(dim0, nd)?, normalize_dim(dim1, nd)?);
        if nd == 0 {
            return Ok(self.clone());
        }
        self.make_view(
            self.layout().transpose(a, b),
            "TransposeBackward0",
            move |g| g.transpose(a as i64, b as i64),
        )
    }

    /// Transpose of a matrix (`t()`); 0-D and 1-D tensors come back as they are.
    pub fn t(&self) -> Result<Tensor> {
        let nd = self.ndim();
        ensure!(
            nd <= 2,
            Error::runtime(format!(
                "t() expects a tensor with <= 2 dimensions, but self is {nd}D"
            ))
        );
        if nd < 2 {
            return Ok(self.clone());
        }
        self.transpose(0, 1)
    }

    /// Broadcasts size-1 dims to `shape` without copying (-1 keeps a size).
    pub fn expand(&self, shape: &[i64]) -> Result<Tensor> {
        let own = self.shape();
        let lead = shape.len().saturating_sub(own.len());
        let mut target = Dims::new();
        for (i, &d) in shape.iter().enumerate() {
            if d == -1 {
                ensure!(
                    i >= lead,
                    Error::runtime(format!(
                        "The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension {i}"
                    ))
                );
                target.push(own[i - lead]);
            } else if d < 0 {
                return Err(Error::runtime(format!("invalid shape dimension {d}")));
            } else {
                target.push(d as usize);
            }
        }
        if target == own {
            return Ok(self.clone());
        }
        let layout = self.layout().expand(&target)?;
        self.make_view(layout, "ExpandBackward0", move |g| g.sum_to_shape(&own))
    }

    /// `expand` to an exact shape.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        self.expand(&shape.iter().map(|&d| d as i64).collect::<Vec<_>>())
    }

    /// Removes size-1 dims (all, or only `dim`).
    pub fn squeeze(&self, dim: Option<i64>) -> Result<Tensor> {
        let shape = self.shape();
        let dims: Vec<usize> = match dim {
            Some(d) => {
                let d = normalize_dim(d, shape.len())?;
                if shape.is_empty() || shape[d] != 1 {
                    return Ok(self.clone());
                }
                vec![d]
            }
            None => (0..shape.len()).filter(|&d| shape[d] == 1).collect(),
        };
        if dims.is_empty() {
            return Ok(self.clone());
        }
        let mut layout = self.layout();
        for &d in dims.iter().rev() {
            layout = layout.squeeze(d);
        }
        self.make_view(layout, "SqueezeBackward0", move |g| g.reshape_dims(&shape))
    }

    /// Inserts a size-1 dim at `dim`.
    pub fn unsqueeze(&self, dim: i64) -> Result<Tensor> {
        let d = normalize_insert_dim(dim, self.ndim())?;
        let layout = self.layout().unsqueeze(d);
        self.make_view(layout, "UnsqueezeBackward0", move |g| {
            g.squeeze(Some(d as i64))
        })
    }

    /// Merges dims `start..=end` into one.
    pub fn flatten(&self, start_dim: i64, end_dim: i64) -> Result<Tensor> {
        let shape = self.shape();
        if shape.is_empty() {
            return self.reshape_dims(&[1]);
        }
        let (s, e) = (
            normalize_dim(start_dim, shape.len())?,
            normalize_dim(end_dim, shape.len())?,
        );
        ensure!(
            s <= e,
            Error::runtime("flatten() has invalid args: start_dim cannot come after end_dim")
        );
        if s == e {
            return Ok(self.clone());
        }
        let mut new: Dims = shape[..s].iter().copied().collect();
        new.push(shape[s..=e].iter().product());
        new.extend_from_slice(&shape[e + 1..]);
        self.reshape_dims(&new)
    }

    /// Splits dim `dim` into `sizes` (one may be -1).
    pub fn unflatten(&self, dim: i64, sizes: &[i64]) -> Result<Tensor> {
        let shape = self.shape();
        let d = normalize_existing_dim(dim, shape.len())?;
        let inner = infer_shape(sizes, shape[d])?;
        let mut new: Dims = shape[..d].iter().copied().collect();
        new.extend_from_slice(&inner);
        new.extend_from_slice(&shape[d + 1..]);
        self.view(&new.iter().map(|&x| x as i64).collect::<Vec<_>>())
    }

    /// Elements `start..start+length` of `dim`, as a view.
    pub fn narrow(&self, dim: i64, start: i64, length: usize) -> Result<Tensor> {
        let shape = self.shape();
        ensure!(
            !shape.is_empty(),
            Error::runtime("narrow() cannot be applied to a 0-dim tensor.")
        );
        let d = normalize_dim(dim, shape.len())?;
        let size = shape[d] as i64;
        let start = if start < 0 { start + size } else { start };
        ensure!(
            start >= 0 && start <= size,
            Error::index(format!(
                "start out of range (expected to be in range of [{}, {size}], but got {start})",
                -size
            ))
        );
        ensure!(
            start as usize + length <= shape[d],
            Error::runtime(format!(
                "start ({start}) + length ({length}) exceeds dimension size ({size})."
            ))
        );
        self.slice(d, start as usize, start as usize + length, 1)
    }

    /// Elements `start, start+step, ...` below `end` of `dim` (bounds already clamped), a view.
    pub fn slice(&self, dim: usize, start: usize, end: usize, step: usize) -> Result<Tensor> {
        ensure!(step > 0, Error::value("step must be greater than zero"));
        let layout = self.layout();
        let shape = layout.dims().clone();
        if start == 0 && end >= shape[dim] && step == 1 {
            return Ok(self.clone());
        }
        let end = end.min(shape[dim]);
        let start = start.min(end);
        let rel = Layout::contiguous(&shape).slice(dim, start, end, step);
        self.make_view(
            layout.slice(dim, start, end, step),
            "SliceBackward0",
            move |g| g.scatter_view(&shape, &rel),
        )
    }

    /// Index `index` of `dim`, removing the dim (a view).
    pub fn select(&self, dim: i64, index: i64) -> Result<Tensor> {
        let layout = self.layout();
        let shape = layout.dims().clone();
        ensure!(
            !shape.is_empty(),
            Error::index("select() cannot be applied to a 0-dim tensor.")
        );
        let d = normalize_dim(dim, shape.len())?;
        let size = shape[d] as i64;
        ensure!(
            index >= -size && index < size,
            Error::index(format!(
                "index {index} is out of bounds for dimension {d} with size {size}"
            ))
        );
        let i = if index < 0 { index + size } else { index } as usize;
        let rel = Layout::contiguous(&shape).select(d, i);
        self.make_view(layout.select(d, i), "SelectBackward0", move |g| {
            g.scatter_view(&shape, &rel)
        })
    }

    /// Reads this tensor, taken as row-major, through `view` geometry (a view of a contiguous copy).
    pub(crate) fn gather_view(&self, view: &Layout) -> Result<Tensor> {
        let base = self.contiguous()?;
        let offset = base.storage_offset();
        let shape = base.shape();
        let layout = Layout::from_parts(
            view.dims().clone(),
            Dims::from_slice(view.strides()),
            view.offset() + offset,
        );
        let rel = view.clone();
        base.make_view(layout, "AsStridedBackward0", move |g| {
            g.scatter_view(&shape, &rel)
        })
    }

    /// Zeros of `base_shape` with this tensor written at `view` geometry (the gradient of a view).
    pub(crate) fn scatter_view(&self, base_shape: &[usize], view: &Layout) -> Result<Tensor> {
        let out = Tensor::zeros(base_shape, self.dtype(), self.device())?;
        let target = out.view_with_layout(view.clone());
        crate::autograd::no_grad(|| backend::copy_into(&target, self))?;
        drop(target);
        let rel = view.clone();
        record(
            "AsStridedScatterBackward0",
            &[self],
            &[&out],
            Vec::new,
            move |_, grads| Ok(vec![Some(grad0(grads)?.gather_view(&rel)?)]),
        )?;
        Ok(out)
    }

    /// This tensor if contiguous, else a contiguous copy.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            Ok(self.clone())
        } else {
            self.copy()
        }
    }

    /// A copy with its own storage (PyTorch's `clone()`).
    pub fn copy(&self) -> Result<Tensor> {
        let out = backend::cast(self, self.dtype())?;
        record("CloneBackward0", &[self], &[&out], Vec::new, |_, grads| {
            Ok(vec![Some(grad0(grads)?.clone())])
        })?;
        Ok(out)
    }

    /// Converts to `dtype` (this tensor itself when it already has it).
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if self.dtype() == dtype {
            return Ok(self.clone());
        }
        let out = backend::cast(self, dtype)?;
        if dtype.is_floating_point() && self.dtype().is_floating_point() {
            let from = self.dtype();
            record(
                "ToCopyBackward0",
                &[self],
                &[&out],
                Vec::new,
                move |_, grads| Ok(vec![Some(grad0(grads)?.to_dtype(from)?)]),
            )?;
        }
        Ok(out)
    }

    /// Moves to `device` (this tensor itself when it is there already).
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        let from = self.device();
        if from == device {
            return Ok(self.clone());
        }
        let out = backend::to_device(self, device)?;
        record(
            "ToCopyBackward0",
            &[self],
            &[&out],
            Vec::new,
            move |_, grads| Ok(vec![Some(grad0(grads)?.to_device(from)?)]),
        )?;
        Ok(out)
    }

    /// Concatenates along `dim` (dtypes promote; empty 1-D tensors are skipped, as in PyTorch).
    pub fn cat(tensors: &[Tensor], dim: i64) -> Result<Tensor> {
        ensure!(
            !tensors.is_empty(),
            Error::runtime("torch.cat(): expected a non-empty list of Tensors")
        );
        let refs: Vec<&Tensor> = tensors.iter().collect();
        let device = common_device(&refs)?;
        let operands: Vec<Operand<'_>> = refs.iter().map(|t| Operand::Tensor(t)).collect();
        let dtype = result_type(&operands);
        let parts: Vec<&Tensor> = refs
            .iter()
            .copied()
            .filter(|t| !(t.ndim() == 1 && t.numel() == 0))
            .collect();
        let Some(first) = parts.first() else {
            return tensors[0].to_dtype(dtype);
        };
        let ref_shape = first.shape();
        ensure!(
            !ref_shape.is_empty(),
            Error::runtime("zero-dimensional tensor (at position 0) cannot be concatenated")
        );
        let d = normalize_dim(dim, ref_shape.len())?;
        let mut total = 0usize;
        for (i, t) in parts.iter().enumerate() {
            let s = t.shape();
            ensure!(
                s.len() == ref_shape.len(),
                Error::runtime(format!(
                    "Tensors must have same number of dimensions: got {} and {}",
                    ref_shape.len(),
                    s.len()
                ))
            );
            for k in 0..s.len() {
                ensure!(
                    k == d || s[k] == ref_shape[k],
                    Error::runtime(format!(
                        "Sizes of tensors must match except in dimension {d}. Expected size {} but got size {} for tensor number {i} in the list.",
                        ref_shape[k], s[k]
                    ))
                );
            }
            total += s[d];
        }
        let mut out_shape = ref_shape.clone();
        out_shape[d] = total;
        let out = Tensor::zeros(&out_shape, dtype, device)?;
        let mut offset = 0usize;
        let mut sizes = Vec::with_capacity(parts.len());
        for t in &parts {
            let n = t.shape()[d];
            let region = out.view_with_layout(out.layout().slice(d, offset, offset + n, 1));
            backend::copy_into(&region, t)?;
            offset += n;
            sizes.push(n);
        }
        record(
            "CatBackward0",
            &parts,
            &[&out],
            Vec::new,
            move |_, grads| {
                let g = grad0(grads)?;
                let mut start = 0;
                let mut gs = Vec::with_capacity(sizes.len());
                for &n in &sizes {
                    gs.push(Some(g.narrow(d as i64, start as i64, n)?));
                    start += n;
                }
                Ok(gs)
            },
        )?;
        Ok(out)
    }

    /// Joins tensors of one shape along a new dim.
    pub fn stack(tensors: &[Tensor], dim: i64) -> Result<Tensor> {
        ensure!(
            !tensors.is_empty(),
            Error::runtime("stack expects a non-empty TensorList")
        );
        let shape = tensors[0].shape();
        for (i, t) in tensors.iter().enumerate() {
            ensure!(
                t.shape() == shape,
                Error::runtime(format!(
                    "stack expects each tensor to be equal size, but got {} at entry 0 and {} at entry {i}",
                    fmt_shape(&shape),
                    fmt_shape(&t.shape())
                ))
            );
        }
        let d = normalize_insert_dim(dim, shape.len())? as i64;
        let parts: Vec<Tensor> = tensors
            .iter()
            .map(|t| t.unsqueeze(d))
            .collect::<Result<_>>()?;
        Tensor::cat(&parts, d)
    }

    /// Pieces of `split_size` along `dim` (the last may be smaller).
    pub fn split(&self, split_size: usize, dim: i64) -> Result<Vec<Tensor>> {
        let shape = self.shape();
        let d = normalize_existing_dim(dim, shape.len())?;
        let size = shape[d];
        if split_size == 0 {
            ensure!(size == 0, Error::runtime(format!("split_size can only be 0 if dimension size is 0, but got dimension size of {size}")));
            return Ok(vec![self.clone()]);
        }
        let mut out = Vec::new();
        let mut start = 0;
        while start < size.max(1) {
            let n = split_size.min(size - start.min(size));
            out.push(self.narrow(d as i64, start as i64, n)?);
            start += split_size;
        }
        Ok(out)
    }

    /// Pieces with the given sizes along `dim`.
    pub fn split_sizes(&self, sizes: &[usize], dim: i64) -> Result<Vec<Tensor>> {
        let shape = self.shape();
        let d = normalize_existing_dim(dim, shape.len())?;
        let total: usize = sizes.iter().sum();
        ensure!(
            total == shape[d],
            Error::runtime(format!(
                "split_with_sizes expects split_sizes to sum exactly to {} (input tensor's size at dimension {d}), but got split_sizes={:?}",
                shape[d], sizes
            ))
        );
        let mut start = 0;
        sizes
            .iter()
            .map(|&n| {
                let t = self.narrow(d as i64, start as i64, n);
                start += n;
                t
            })
            .collect()
    }

    /// `chunks` nearly equal pieces along `dim`.
    pub fn chunk(&self, chunks: usize, dim: i64) -> Result<Vec<Tensor>> {
        ensure!(
            chunks > 0,
            Error::runtime("chunk expects `chunks` to be greater than 0, got: 0")
        );
        let size = self.shape()[normalize_existing_dim(dim, self.ndim())?];
        self.split(size.div_ceil(chunks).max(1), dim)
    }

    /// All slices along `dim`, the dim removed.
    pub fn unbind(&self, dim: i64) -> Result<Vec<Tensor>> {
        let d = normalize_existing_dim(dim, self.ndim())?;
        (0..self.shape()[d] as i64)
            .map(|i| self.select(d as i64, i))
            .collect()
    }

    /// Tiles the tensor `repeats` times along each dim.
    pub fn repeat(&self, repeats: &[usize]) -> Result<Tensor> {
        let shape = self.shape();
        ensure!(
            repeats.len() >= shape.len(),
            Error::runtime("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
        );
        let lead = repeats.len() - shape.len();
        let mut padded: Vec<usize> = vec![1; lead];
        padded.extend_from_slice(&shape);
        // View as [1, s0, 1, s1, ...], expand to [r0, s0, r1, s1, ...], then merge pairs.
        let mut interleaved = Vec::new();
        let mut expanded = Vec::new();
        let mut result = Vec::new();
        for (&r, &s) in repeats.iter().zip(&padded) {
            interleaved.extend_from_slice(&[1, s as i64]);
            expanded.extend_from_slice(&[r as i64, s as i64]);
            result.push((r * s) as i64);
        }
        self.reshape(&interleaved)?
            .expand(&expanded)?
            .contiguous()?
            .reshape(&result)
    }

    /// Reverses the order of elements along `dims`.
    pub fn flip(&self, dims: &[i64]) -> Result<Tensor> {
        let mut out = self.clone();
        let nd = self.ndim();
        for &d in dims {
            let d = normalize_existing_dim(d, nd)?;
            let n = self.shape()[d];
            let idx = Tensor::arange(
                (n as i64 - 1).into(),
                (-1i64).into(),
                (-1i64).into(),
                DType::I64,
                self.device(),
            )?;
            out = out.index_select(d as i64, &idx)?;
        }
        Ok(out)
    }
}
