//! Indexing: `x[...]` with ints, slices, None, Ellipsis and int64/bool tensors; `x[...] = v`;
//! index_select, index_add, gather, scatter, scatter_add, nonzero.

use crate::autograd::{grad0, no_grad, record, Saved};
use crate::backend::{self, run, tensor};
use crate::error::{ensure, Error, Result};
use crate::ops::common_device;
use crate::storage::{DType, Device};
use crate::tensor::layout::{broadcast_shapes, Dims};
use crate::tensor::{normalize_dim, normalize_existing_dim, Scalar, Tensor};

/// One entry of an indexing expression.
#[derive(Clone, Debug)]
pub enum TensorIndex {
    /// A single position (removes the dim).
    Int(i64),
    /// `start:stop:step` with Python's optional bounds.
    Slice {
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
    },
    /// `None`: a new size-1 dim.
    NewAxis,
    /// `...`: as many full slices as needed.
    Ellipsis,
    /// An int64 (positions) or bool (mask) tensor.
    Tensor(Tensor),
}

/// Python's slice bounds resolved against a dim of `size`: (start, stop) clamped, step > 0.
fn resolve_slice(
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
    size: usize,
) -> Result<(usize, usize, usize)> {
    let step = step.unwrap_or(1);
    ensure!(step > 0, Error::value("step must be greater than zero"));
    let n = size as i64;
    let clamp = |v: i64| -> usize {
        let v = if v < 0 { v + n } else { v };
        v.clamp(0, n) as usize
    };
    let s = start.map_or(0, clamp);
    let e = stop.map_or(size, clamp);
    Ok((s, e.max(s), step as usize))
}

fn check_index_dtype(t: &Tensor) -> Result<()> {
    ensure!(
        matches!(t.dtype(), DType::I64 | DType::Bool),
        Error::index("tensors used as indices must be long, int, byte or bool tensors")
    );
    Ok(())
}

/// An indexing tensor as the kernels take it: int32 becomes int64 and uint8 (PyTorch's
/// deprecated byte mask) bool; other dtypes are left for `check_index_dtype` to refuse.
fn normalized_index(t: &Tensor) -> Result<Tensor> {
    match t.dtype() {
        DType::I32 => t.to_dtype(DType::I64),
        DType::U8 => t.to_dtype(DType::Bool),
        _ => Ok(t.clone()),
    }
}

/// The int64 form of an int32 or int64 `index` of `op` (PyTorch's dim-wise index ops take both).
fn long_index(index: &Tensor, message: &str) -> Result<Tensor> {
    match index.dtype() {
        DType::I64 => Ok(index.clone()),
        DType::I32 => index.to_dtype(DType::I64),
        _ => Err(Error::runtime(message)),
    }
}

impl Tensor {
    /// `self[spec]`, as Python's `__getitem__` does it.
    pub fn index(&self, spec: &[TensorIndex]) -> Result<Tensor> {
        let (view, advanced) = self.apply_basic_indexing(spec)?;
        if advanced.iter().all(|a| a.is_none()) {
            return Ok(view);
        }
        view.advanced_index(&advanced)
    }

    /// Applies ints, slices, None and Ellipsis as views; returns the view and, per dim of the view,
    /// the tensor index still to apply.
    fn apply_basic_indexing(&self, spec: &[TensorIndex]) -> Result<(Tensor, Vec<Option<Tensor>>)> {
        let spec = &spec
            .iter()
            .map(|entry| match entry {
                TensorIndex::Tensor(t) => Ok(TensorIndex::Tensor(normalized_index(t)?)),
                other => Ok(other.clone()),
            })
            .collect::<Result<Vec<_>>>()?;
        let nd = self.ndim();
        let consumed: usize = spec
            .iter()
            .map(|s| match s {
                TensorIndex::Int(_) | TensorIndex::Slice { .. } => 1,
                TensorIndex::Tensor(t) if t.dtype() == DType::Bool => t.ndim(),
                TensorIndex::Tensor(_) => 1,
                TensorIndex::NewAxis | TensorIndex::Ellipsis => 0,
            })
            .sum();
        ensure!(
            consumed <= nd,
            Error::index(format!("too many indices for tensor of dimension {nd}"))
        );
        ensure!(
            spec.iter()
                .filter(|s| matches!(s, TensorIndex::Ellipsis))
                .count()
                <= 1,
            Error::index("an index can only have a single ellipsis ('...')")
        );
        let mut out = self.clone();
        let mut dim = 0usize;
        let mut advanced: Vec<Option<Tensor>> = Vec::new();
        for s in spec {
            match s {
                TensorIndex::Int(i) => {
                    out = out.select(dim as i64, *i)?;
                }
                TensorIndex::Slice { start, stop, step } => {
                    let size = out.shape()[dim];
                    let (a, b, st) = resolve_slice(*start, *stop, *step, size)?;
                    out = out.slice(dim, a, b, st)?;
                    advanced.push(None);
                    dim += 1;
                }
                TensorIndex::NewAxis => {
                    out = out.unsqueeze(dim as i64)?;
                    advanced.push(None);
                    dim += 1;
                }
                TensorIndex::Ellipsis => {
                    let fill = nd - consumed;
                    for _ in 0..fill {
                        advanced.push(None);
                    }
                    dim += fill;
                }
                TensorIndex::Tensor(t) => {
                    check_index_dtype(t)?;
                    if t.dtype() == DType::Bool {
                        let k = t.ndim();
                        let shape = out.shape();
                        for j in 0..k {
                            ensure!(
                                t.shape()[j] == shape[dim + j],
                                Error::index(format!(
                                    "The shape of the mask {} at index {j} does not match the shape of the indexed tensor {} at index {}",
                                    crate::error::fmt_shape(&t.shape()),
                                    crate::error::fmt_shape(&shape),
                                    dim + j
                                ))
                            );
                        }
                        if k == 0 {
                            // A 0-d mask adds a dim of size 1 (true) or 0 (false).
                            out = out.unsqueeze(dim as i64)?;
                            let keep = t.item()? == Scalar::Bool(true);
                            advanced.push(Some(Tensor::zeros(
                                &[keep as usize],
                                DType::I64,
                                out.device(),
                            )?));
                            dim += 1;
                            continue;
                        }
                        let coords = t.nonzero()?;
                        for j in 0..k {
                            advanced.push(Some(coords.select(1, j as i64)?));
                        }
                        dim += k;
                    } else {
                        advanced.push(Some(t.clone()));
                        dim += 1;
                    }
                }
            }
        }
        while advanced.len() < out.ndim() {
            advanced.push(None);
        }
        Ok((out, advanced))
    }

    /// `aten::index`: one optional int64 index tensor per dim, broadcast together.
    pub fn advanced_index(&self, indices: &[Option<Tensor>]) -> Result<Tensor> {
        let plan = AdvancedPlan::new(self, indices)?;
        let permuted = self.permute(&plan.perm_i64())?;
        let leading =
            index_leading_op(&permuted, plan.positions.clone(), plan.bcast_shape.clone())?;
        plan.restore(&leading)
    }

    /// `self[spec] = value` in place (Python's `__setitem__`).
    pub fn index_assign(&self, spec: &[TensorIndex], value: &Tensor) -> Result<()> {
        let (view, advanced) = self.apply_basic_indexing(spec)?;
        // As PyTorch, leading size-1 dims of the value are dropped (`x[0] = t[None]` works).
        let mut value = value.clone();
        while value.ndim() > view.ndim() && value.shape()[0] == 1 {
            value = value.squeeze(Some(0))?;
        }
        let value = &value;
        if advanced.iter().all(|a| a.is_none()) {
            return view.copy_(value);
        }
        let updated = view.index_put(&advanced, value, false)?;
        view.copy_(&updated)
    }

    /// A copy of `self` with `values` written (or added) at advanced `indices`.
    pub fn index_put(
        &self,
        indices: &[Option<Tensor>],
        values: &Tensor,
        accumulate: bool,
    ) -> Result<Tensor> {
        let indices = indices
            .iter()
            .map(|i| i.as_ref().map(normalized_index).transpose())
            .collect::<Result<Vec<_>>>()?;
        let plan = AdvancedPlan::new(self, &indices)?;
        let permuted = self.permute(&plan.perm_i64())?;
        // Values broadcast to the result shape of indexing, then into leading form.
        let target_shape = plan.result_shape(&self.shape());
        let values = values.to_dtype(self.dtype())?.broadcast_to(&target_shape)?;
        let values_leading = plan.to_leading(&values)?;
        let put = index_put_leading_op(
            &permuted,
            plan.positions.clone(),
            plan.bcast_shape.clone(),
            &values_leading,
            accumulate,
        )?;
        put.permute(&plan.inverse_perm_i64())
    }

    /// Rows of `dim` picked by the 1-D int64 `index`.
    pub fn index_select(&self, dim: i64, index: &Tensor) -> Result<Tensor> {
        common_device(&[self, index])?;
        let index = &long_index(
            index,
            "index_select(): Expected dtype int32 or int64 for index",
        )?;
        ensure!(
            index.ndim() <= 1,
            Error::index("index_select(): Index is supposed to be a vector")
        );
        let d = normalize_dim(dim, self.ndim())?;
        let nd = self.ndim();
        let src = if nd == 0 {
            self.reshape_dims(&[1])?
        } else {
            self.clone()
        };
        let mut shape = src.shape();
        shape[d] = index.numel();
        let out = tensor(
            run!(B: x = &src, i = index => B::index_select(x, d, i)),
            &shape,
        );
        let out = if nd == 0 { out.reshape_dims(&[])? } else { out };
        let in_shape = src.shape();
        let index = index.clone();
        record(
            "IndexSelectBackward0",
            &[self],
            &[&out],
            || vec![Saved::Aux(index)],
            move |ctx, grads| {
                let g = grad0(grads)?;
                let g = if g.ndim() == 0 {
                    g.reshape_dims(&[1])?
                } else {
                    g.clone()
                };
                let z = Tensor::zeros(&in_shape, g.dtype(), g.device())?;
                let r = z.index_add(d as i64, ctx.saved(0), &g)?;
                Ok(vec![Some(if nd == 0 { r.reshape_dims(&[])? } else { r })])
            },
        )?;
        Ok(out)
    }

    /// `self` plus `src` added at rows `index` of `dim` (out of place).
    pub fn index_add(&self, dim: i64, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        let d = normalize_existing_dim(dim, self.ndim())?;
        let shape = self.shape();
        common_device(&[self, index, src])?;
        let index = &long_index(
            index,
            &format!(
                "index_add_(): Expected dtype int32/int64 for index but got: {}",
                index.dtype().scalar_name()
            ),
        )?;
        let src_c = src.to_dtype(self.dtype())?;
        let mut expect = shape.clone();
        expect[d] = index.numel();
        ensure!(
            src_c.shape() == expect,
            Error::runtime(format!(
                "index_add_(): Source/destination tensor must have same slice shapes. Destination slice shape: {} at dimension {d} and source slice shape: {} at dimension 0.",
                crate::error::fmt_shape(&shape),
                crate::error::fmt_shape(&src_c.shape())
            ))
        );
        let data = run!(B: x = self, i = index, s = &src_c => B::index_add(x, d, i, s));
        let out = tensor(data, &shape);
        let index = index.clone();
        record(
            "IndexAddBackward0",
            &[self, src],
            &[&out],
            || vec![Saved::Aux(index)],
            move |ctx, grads| {
                let g = grad0(grads)?;
                let gs = ctx
                    .needs_input_grad(1)
                    .then(|| g.index_select(d as i64, ctx.saved(0)))
                    .transpose()?;
                Ok(vec![Some(g.clone()), gs])
            },
        )?;
        Ok(out)
    }

    /// `out[i][j] = self[i][index[i][j]]` (dim 1), the index's shape.
    pub fn gather(&self, dim: i64, index: &Tensor) -> Result<Tensor> {
        common_device(&[self, index])?;
        let index = &long_index(index, "gather(): Expected dtype int32/int64 for index")?;
        let d = normalize_existing_dim(dim, self.ndim())?;
        let shape = self.shape();
        let ishape = index.shape();
        ensure!(
            ishape.len() == shape.len().max(1),
            Error::runtime("Index tensor must have the same number of dimensions as input tensor")
        );
        for k in 0..ishape.len() {
            ensure!(
                k == d || ishape[k] <= shape[k],
                Error::runtime(format!(
                    "Size does not match at dimension {k} expected index {} to be smaller than self {} apart from dimension {d}",
                    crate::error::fmt_shape(&ishape),
                    crate::error::fmt_shape(&shape)
                ))
            );
        }
        let out = tensor(run!(B: x = self, i = index => B::gather(x, d, i)), &ishape);
        let index = index.clone();
        record(
            "GatherBackward0",
            &[self],
            &[&out],
            || vec![Saved::Aux(index)],
            move |ctx, grads| {
                let g = grad0(grads)?;
                let z = Tensor::zeros(&shape, g.dtype(), g.device())?;
                Ok(vec![Some(z.scatter_add(d as i64, ctx.saved(0), g)?)])
            },
        )?;
        Ok(out)
    }

    /// A copy of `self` with `src` written at `index` along `dim`.
    pub fn scatter(&self, dim: i64, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.scatter_impl(dim, index, src, false)
    }

    /// A copy of `self` with `src` added at `index` along `dim`.
    pub fn scatter_add(&self, dim: i64, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.scatter_impl(dim, index, src, true)
    }

    fn scatter_impl(
        &self,
        dim: i64,
        index: &Tensor,
        src: &Tensor,
        accumulate: bool,
    ) -> Result<Tensor> {
        common_device(&[self, index, src])?;
        let index = &long_index(index, "scatter(): Expected dtype int32/int64 for index")?;
        let d = normalize_existing_dim(dim, self.ndim())?;
        let shape = self.shape();
        let ishape = index.shape();
        let src_c = src.to_dtype(self.dtype())?;
        ensure!(
            ishape.len() == shape.len().max(1) && src_c.ndim() == ishape.len(),
            Error::runtime("Index tensor must have the same number of dimensions as self tensor")
        );
        for k in 0..ishape.len() {
            ensure!(
                ishape[k] <= src_c.shape()[k] && (k == d || ishape[k] <= shape[k]),
                Error::runtime(format!(
                    "Expected index {} to be smaller than self {} apart from dimension {d} and to be smaller size than src {}",
                    crate::error::fmt_shape(&ishape),
                    crate::error::fmt_shape(&shape),
                    crate::error::fmt_shape(&src_c.shape())
                ))
            );
        }
        let data = run!(B: x = self, i = index, s = &src_c => B::scatter(x, d, i, s, accumulate));
        let out = tensor(data, &shape);
        let index = index.clone();
        let name = if accumulate {
            "ScatterAddBackward0"
        } else {
            "ScatterBackward0"
        };
        record(
            name,
            &[self, src],
            &[&out],
            || vec![Saved::Aux(index)],
            move |ctx, grads| {
                let g = grad0(grads)?;
                let index = ctx.saved(0);
                let gself = if accumulate {
                    g.clone()
                } else {
                    g.scatter(
                        d as i64,
                        index,
                        &Tensor::zeros(&index.shape(), g.dtype(), g.device())?,
                    )?
                };
                let gsrc = ctx
                    .needs_input_grad(1)
                    .then(|| g.gather(d as i64, index))
                    .transpose()?;
                Ok(vec![Some(gself), gsrc])
            },
        )?;
        Ok(out)
    }

    /// Coordinates of nonzero elements: an int64 tensor of shape [n, ndim]. Its size depends on
    /// the data, so (as in PyTorch) it is found on the host: a copy there unless this tensor
    /// is there already, and the result moved back.
    pub fn nonzero(&self) -> Result<Tensor> {
        let nd = self.ndim();
        // Widened first: the coordinates are int64 whatever the dtype.
        let host = crate::backend::widened(&self.to_device(Device::Cpu)?)?;
        let (data, n) = run!(B: x = &host => B::nonzero(x));
        tensor(data, &[n, nd]).to_device(self.device())
    }

    /// Elements where the bool `mask` is true, as a 1-D tensor.
    pub fn masked_select(&self, mask: &Tensor) -> Result<Tensor> {
        let shape = broadcast_shapes(&self.shape(), &mask.shape())?;
        let x = self.broadcast_to(&shape)?;
        let m = mask.broadcast_to(&shape)?;
        x.index(&[TensorIndex::Tensor(m)])
    }
}

/// The broadcast positions of advanced indexing: a `[k, n]` int64 tensor on the indexed
/// tensor's device, row `j` indexing the user's dim `dims[j]` (checked by the kernels).
#[derive(Clone)]
struct Positions {
    pos: Tensor,
    dims: Vec<usize>,
}

impl Positions {
    /// The index tensors of `indexed` dims broadcast to `bshape` and stacked (where `src` lives).
    fn new(
        src: &Tensor,
        indices: &[Option<Tensor>],
        indexed: &[usize],
        bshape: &[usize],
    ) -> Result<Positions> {
        let n: usize = bshape.iter().product();
        let pos = Tensor::zeros(&[indexed.len(), n], DType::I64, src.device())?;
        for (row, &d) in indexed.iter().enumerate() {
            let t = indices[d]
                .as_ref()
                .ok_or_else(|| Error::internal("an indexed dim without its index"))?;
            let b = t.broadcast_to(bshape)?;
            let dst = pos.select(0, row as i64)?.reshape_dims(bshape)?;
            no_grad(|| backend::copy_into(&dst, &b))?;
        }
        Ok(Positions {
            pos,
            dims: indexed.to_vec(),
        })
    }

    fn len(&self) -> usize {
        self.dims.len()
    }
}

/// How advanced indices apply: which dims, their broadcast positions, and the permutation that
/// brings indexed dims to the front.
struct AdvancedPlan {
    perm: Vec<usize>,
    /// The indexed dims' positions, broadcast.
    positions: Positions,
    bcast_shape: Dims,
    /// Where the broadcast block goes in the result: the first indexed dim when the indexed dims
    /// are adjacent, else the front.
    insert_at: usize,
    ndim: usize,
}

impl AdvancedPlan {
    fn new(src: &Tensor, indices: &[Option<Tensor>]) -> Result<AdvancedPlan> {
        let shape = src.shape();
        let nd = shape.len();
        ensure!(
            indices.len() <= nd,
            Error::index(format!(
                "too many indices for tensor of dimension {nd} (got {})",
                indices.len()
            ))
        );
        let indexed: Vec<usize> = (0..indices.len())
            .filter(|&d| indices[d].is_some())
            .collect();
        let mut bshape = Dims::new();
        for &d in &indexed {
            let t = indices[d]
                .as_ref()
                .ok_or_else(|| Error::internal("an indexed dim without its index"))?;
            check_index_dtype(t)?;
            ensure!(
                t.dtype() == DType::I64,
                Error::index("tensors used as indices must be long, int, byte or bool tensors")
            );
            common_device(&[src, t])?;
            bshape = broadcast_shapes(&bshape, &t.shape()).map_err(|_| {
                Error::index(format!(
                    "shape mismatch: indexing tensors could not be broadcast together with shapes {}",
                    indexed
                        .iter()
                        .map(|&k| crate::error::fmt_shape(&indices[k].as_ref().map(|t| t.shape()).unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        }
        let positions = Positions::new(src, indices, &indexed, &bshape)?;
        let adjacent = indexed.windows(2).all(|w| w[1] == w[0] + 1);
        let insert_at = if adjacent {
            indexed.first().copied().unwrap_or(0)
        } else {
            0
        };
        let mut perm = indexed.clone();
        perm.extend((0..nd).filter(|d| !indexed.contains(d)));
        Ok(AdvancedPlan {
            perm,
            positions,
            bcast_shape: bshape,
            insert_at,
            ndim: nd,
        })
    }

    fn perm_i64(&self) -> Vec<i64> {
        self.perm.iter().map(|&p| p as i64).collect()
    }

    fn inverse_perm_i64(&self) -> Vec<i64> {
        let mut inv = vec![0i64; self.perm.len()];
        for (i, &p) in self.perm.iter().enumerate() {
            inv[p] = i as i64;
        }
        inv
    }

    /// The shape `src[indices]` has.
    fn result_shape(&self, src_shape: &[usize]) -> Dims {
        let k = self.positions.len();
        let rest: Dims = self.perm[k..].iter().map(|&d| src_shape[d]).collect();
        let mut out: Dims = rest[..self.insert_at].iter().copied().collect();
        out.extend_from_slice(&self.bcast_shape);
        out.extend_from_slice(&rest[self.insert_at..]);
        out
    }

    /// From leading form [bcast.., rest..] to the result layout.
    fn restore(&self, leading: &Tensor) -> Result<Tensor> {
        let b = self.bcast_shape.len();
        if self.insert_at == 0 {
            return Ok(leading.clone());
        }
        let rest = self.ndim - self.positions.len();
        let mut perm: Vec<i64> = (b..b + self.insert_at).map(|d| d as i64).collect();
        perm.extend((0..b).map(|d| d as i64));
        perm.extend((b + self.insert_at..b + rest).map(|d| d as i64));
        leading.permute(&perm)
    }

    /// From the result layout to leading form (the inverse of `restore`).
    fn to_leading(&self, result: &Tensor) -> Result<Tensor> {
        let b = self.bcast_shape.len();
        if self.insert_at == 0 {
            return Ok(result.clone());
        }
        let rest = self.ndim - self.positions.len();
        let mut perm: Vec<i64> = (self.insert_at..self.insert_at + b)
            .map(|d| d as i64)
            .collect();
        perm.extend((0..self.insert_at).map(|d| d as i64));
        perm.extend((self.insert_at + b..b + rest).map(|d| d as i64));
        result.permute(&perm)
    }
}

/// `src[positions...]` with `src` in leading form: out is [bcast.., rest..].
fn index_leading_op(src: &Tensor, positions: Positions, bcast: Dims) -> Result<Tensor> {
    let shape = src.shape();
    let mut out_shape = bcast.clone();
    out_shape.extend_from_slice(&shape[positions.len()..]);
    let dims = &positions.dims;
    let data = run!(B: x = src, p = &positions.pos => B::index_leading(x, p, dims));
    let out = tensor(data, &out_shape);
    record(
        "IndexBackward0",
        &[src],
        &[&out],
        Vec::new,
        move |_, grads| {
            let g = grad0(grads)?;
            let z = Tensor::zeros(&shape, g.dtype(), g.device())?;
            Ok(vec![Some(index_put_leading_op(
                &z,
                positions.clone(),
                bcast.clone(),
                g,
                true,
            )?)])
        },
    )?;
    Ok(out)
}

/// A copy of `dst` (leading form) with `values` ([bcast.., rest..]) put or added at `positions`.
fn index_put_leading_op(
    dst: &Tensor,
    positions: Positions,
    bcast: Dims,
    values: &Tensor,
    accumulate: bool,
) -> Result<Tensor> {
    let dims = &positions.dims;
    let data = run!(B: x = dst, p = &positions.pos, v = values =>
        B::index_put_leading(x, p, dims, v, accumulate));
    let out = tensor(data, &dst.shape());
    record(
        "IndexPutBackward0",
        &[dst, values],
        &[&out],
        Vec::new,
        move |ctx, grads| {
            let g = grad0(grads)?;
            let gdst = if accumulate {
                g.clone()
            } else {
                let zeros = Tensor::zeros(&[], g.dtype(), g.device())?;
                let mut vshape = bcast.clone();
                vshape.extend_from_slice(&g.shape()[positions.len()..]);
                index_put_leading_op(
                    g,
                    positions.clone(),
                    bcast.clone(),
                    &zeros.broadcast_to(&vshape)?,
                    false,
                )?
            };
            let gv = ctx
                .needs_input_grad(1)
                .then(|| index_leading_op(g, positions.clone(), bcast.clone()))
                .transpose()?;
            Ok(vec![Some(gdst), gv])
        },
    )?;
    Ok(out)
}
