//! The tensor handle.
//!
//! A `Tensor` is a cheap, thread-safe handle (`Arc`) to a `TensorImpl`: its data (a shared
//! `Storage` seen through a `Layout`) and its autograd metadata (`requires_grad`, `.grad`,
//! `grad_fn`, hooks). Cloning the handle keeps the identity: a clone *is* the same tensor, as two
//! Python references to one `torch.Tensor` are. Ops live in `crate::ops`; this file holds the
//! handle, its accessors and its autograd bookkeeping.

pub mod create;
pub mod layout;
pub mod random;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

pub use layout::{
    broadcast_shapes, contiguous_strides, normalize_dim, normalize_existing_dim, Dims, Layout,
};

use crate::autograd::arena::NodeRef;
use crate::autograd::node::{next_hook_id, Edge, Hook, PostAccumulateHook};
use crate::error::{Error, Result};
use crate::storage::{CpuElement, CpuStorage, DType, Device, Element, Storage};

/// A tensor: an n-dimensional array that can take part in automatic differentiation.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorImpl>);

/// What a view of storage is: the shared storage and how this tensor walks it.
#[derive(Clone)]
pub(crate) struct Body {
    pub storage: Arc<Storage>,
    pub layout: Layout,
}

/// Autograd state of one tensor.
#[derive(Default)]
pub(crate) struct AutogradMeta {
    /// Set on leaves by the user; non-leaves require grad through their grad_fn.
    pub requires_grad: bool,
    pub grad: Option<Tensor>,
    pub grad_fn: Option<NodeRef>,
    pub output_nr: usize,
    pub retains_grad: bool,
    /// Hooks and rarer leaf state: most tensors have none, so one pointer made on first use.
    pub extras: Option<Box<LeafExtras>>,
}

/// The rarely used part of a tensor's autograd state.
#[derive(Default)]
pub(crate) struct LeafExtras {
    /// Hooks on a leaf's gradient (a non-leaf's hooks live on its grad_fn node).
    pub hooks: Vec<(u64, Hook)>,
    /// Hooks run on a leaf after its `.grad` was updated.
    pub post_accumulate_hooks: Vec<(u64, PostAccumulateHook)>,
    /// For a stand-in of a leaf (an unpacked saved tensor): the leaf its gradient accumulates into.
    pub accumulates_into: Option<Tensor>,
    /// What a front end attaches to a leaf (Python's `AccumulateGrad.metadata` dict).
    pub extra: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl AutogradMeta {
    pub(crate) fn extras_mut(&mut self) -> &mut LeafExtras {
        self.extras.get_or_insert_with(Default::default)
    }
}

pub struct TensorImpl {
    body: RwLock<Body>,
    meta: Mutex<AutogradMeta>,
    /// Mirrors `requires_grad || grad_fn.is_some()` so ops can test it without locking.
    needs_grad: AtomicBool,
    /// The tensor this one is a view of (PyTorch's `._base`), if any.
    view_base: Option<Tensor>,
}

/// A Python-style scalar: what `item()` returns and what scalar arguments are.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl Scalar {
    pub fn to_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => b as u8 as f64,
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }
    pub fn to_i64(self) -> i64 {
        match self {
            Scalar::Bool(b) => b as i64,
            Scalar::Int(i) => i,
            Scalar::Float(f) => f as i64,
        }
    }
    /// The dtype PyTorch gives a tensor made from this Python scalar.
    pub fn default_dtype(self) -> DType {
        match self {
            Scalar::Bool(_) => DType::Bool,
            Scalar::Int(_) => DType::I64,
            Scalar::Float(_) => DType::default_float(),
        }
    }
    pub fn cast<T: Element>(self) -> T {
        match self {
            Scalar::Bool(b) => T::from_i64(b as i64),
            Scalar::Int(i) => T::from_i64(i),
            Scalar::Float(f) => T::from_f64(f),
        }
    }
}

impl From<f64> for Scalar {
    fn from(v: f64) -> Self {
        Scalar::Float(v)
    }
}
impl From<f32> for Scalar {
    fn from(v: f32) -> Self {
        Scalar::Float(v as f64)
    }
}
impl From<i64> for Scalar {
    fn from(v: i64) -> Self {
        Scalar::Int(v)
    }
}
impl From<bool> for Scalar {
    fn from(v: bool) -> Self {
        Scalar::Bool(v)
    }
}

impl Tensor {
    // ----- construction -------------------------------------------------------------------------

    pub(crate) fn from_body(
        storage: Arc<Storage>,
        layout: Layout,
        view_base: Option<Tensor>,
    ) -> Tensor {
        Tensor(Arc::new(TensorImpl {
            body: RwLock::new(Body { storage, layout }),
            meta: Mutex::new(AutogradMeta::default()),
            needs_grad: AtomicBool::new(false),
            view_base,
        }))
    }

    /// A tensor over `storage` with a row-major layout of `shape`.
    pub(crate) fn from_storage(storage: Storage, shape: &[usize]) -> Tensor {
        Tensor::from_body(Arc::new(storage), Layout::contiguous(shape), None)
    }

    /// A CPU tensor owning a copy of `data`.
    pub fn from_slice<T: CpuElement>(data: &[T], shape: &[usize]) -> Result<Tensor> {
        let numel = layout::checked_numel(shape)?;
        if numel != data.len() {
            return Err(Error::runtime(format!(
                "shape {} is invalid for input of size {}",
                crate::error::fmt_shape(shape),
                data.len()
            )));
        }
        Ok(Tensor::from_storage(
            Storage::cpu(T::wrap(crate::storage::Buffer::from_slice(data)?)),
            shape,
        ))
    }

    /// A CPU tensor taking a typed buffer.
    pub(crate) fn from_buffer<T: CpuElement>(
        buf: crate::storage::Buffer<T>,
        shape: &[usize],
    ) -> Tensor {
        Tensor::from_storage(Storage::cpu(T::wrap(buf)), shape)
    }

    /// A view of this tensor's storage with another layout (records no graph).
    pub(crate) fn view_with_layout(&self, layout: Layout) -> Tensor {
        let body = self.body();
        let base = self.0.view_base.clone().unwrap_or_else(|| self.clone());
        Tensor::from_body(body.storage, layout, Some(base))
    }

    /// A tensor sharing data with this one but with no autograd history (`detach()`).
    pub fn detach(&self) -> Tensor {
        let body = self.body();
        Tensor::from_body(body.storage, body.layout, None)
    }

    /// Shares data and layout, not identity or view-base: what saved outputs hold.
    pub(crate) fn detached_alias(&self) -> Tensor {
        let body = self.body();
        Tensor::from_body(body.storage, body.layout, None)
    }

    /// A fresh handle on the same data whose grad_fn is `node` (output `nr`).
    pub(crate) fn alias_with_grad_fn(&self, node: NodeRef, nr: usize) -> Tensor {
        let t = self.detached_alias();
        t.set_grad_fn(node, nr);
        t
    }

    // ----- data accessors -----------------------------------------------------------------------

    pub(crate) fn body(&self) -> Body {
        self.0.body.read().clone()
    }

    /// Replaces this tensor's data (`tensor.data = other`); autograd metadata stays.
    pub fn set_data(&self, other: &Tensor) {
        let body = other.body();
        *self.0.body.write() = body;
    }

    pub fn layout(&self) -> Layout {
        self.0.body.read().layout.clone()
    }
    pub fn shape(&self) -> Dims {
        self.0.body.read().layout.dims().clone()
    }
    pub fn dims(&self) -> Dims {
        self.shape()
    }
    pub fn strides(&self) -> Dims {
        Dims::from_slice(self.0.body.read().layout.strides())
    }
    pub fn storage_offset(&self) -> usize {
        self.0.body.read().layout.offset()
    }
    pub fn ndim(&self) -> usize {
        self.0.body.read().layout.ndim()
    }
    pub fn numel(&self) -> usize {
        self.0.body.read().layout.numel()
    }
    pub fn dtype(&self) -> DType {
        self.0.body.read().storage.dtype()
    }
    pub fn device(&self) -> Device {
        self.0.body.read().storage.device()
    }
    pub fn is_contiguous(&self) -> bool {
        self.0.body.read().layout.is_contiguous()
    }
    /// The size of `dim` (negative dims count from the end).
    pub fn size(&self, dim: i64) -> Result<usize> {
        let shape = self.shape();
        Ok(shape[normalize_existing_dim(dim, shape.len())?])
    }
    /// The storage version counter (bumped by every in-place write to any view of it).
    pub fn version(&self) -> u64 {
        self.0.body.read().storage.version()
    }
    /// True when both handles are the very same tensor.
    pub fn same_tensor(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
    /// True when both tensors view the same storage.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0.body.read().storage, &other.0.body.read().storage)
    }
    /// The tensor this one is a view of, if any (`._base`).
    pub fn view_base(&self) -> Option<&Tensor> {
        self.0.view_base.as_ref()
    }
    /// A stable identity for the tensor (the address of its shared state).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
    /// Address of the first element of a CPU tensor (zero-copy export); None on other devices.
    pub fn data_ptr(&self) -> Option<usize> {
        let body = self.body();
        let data = body.storage.read();
        let c = data.as_cpu().ok()?;
        Some(c.as_ptr() as usize + body.layout.offset() * body.storage.dtype().size_in_bytes())
    }
    /// The shared storage (for kernels and bindings).
    pub(crate) fn storage(&self) -> Arc<Storage> {
        self.0.body.read().storage.clone()
    }

    /// Copies the elements (row-major) into a Vec of `T`, converting from the tensor's dtype.
    pub fn to_vec<T: CpuElement>(&self) -> Result<Vec<T>> {
        let t = if self.device() == Device::Cpu {
            self.clone()
        } else {
            self.to_device(Device::Cpu)?
        };
        let t = if t.dtype() == T::DTYPE {
            t
        } else {
            crate::autograd::no_grad(|| t.to_dtype(T::DTYPE))?
        };
        let body = t.body();
        let data = body.storage.read();
        let src: &[T] = data.as_cpu()?.slice::<T>()?;
        Ok(match body.layout.contiguous_range() {
            Some(r) => src[r].to_vec(),
            None => layout::StridedOffsets::new(&body.layout)
                .map(|o| src[o])
                .collect(),
        })
    }

    /// The value of a one-element tensor.
    pub fn item(&self) -> Result<Scalar> {
        let n = self.numel();
        if n != 1 {
            return Err(Error::runtime(format!(
                "a Tensor with {n} elements cannot be converted to Scalar"
            )));
        }
        Ok(match self.dtype() {
            DType::Bool => Scalar::Bool(self.to_vec::<u8>()?[0] != 0),
            d if d.is_floating_point() => Scalar::Float(self.to_vec::<f64>()?[0]),
            _ => Scalar::Int(self.to_vec::<i64>()?[0]),
        })
    }

    /// Runs `f` on the CPU storage and layout of this tensor under a read lock.
    pub(crate) fn with_cpu<R>(
        &self,
        f: impl FnOnce(&CpuStorage, &Layout) -> Result<R>,
    ) -> Result<R> {
        let body = self.body();
        let data = body.storage.read();
        f(data.as_cpu()?, &body.layout)
    }

    // ----- autograd state -----------------------------------------------------------------------

    /// True when gradients flow to this tensor (a leaf with requires_grad, or any graph output).
    #[inline]
    pub fn requires_grad(&self) -> bool {
        self.0.needs_grad.load(Ordering::Acquire)
    }

    /// A leaf is a tensor with no grad_fn (PyTorch: every tensor that does not require grad too).
    pub fn is_leaf(&self) -> bool {
        self.0.meta.lock().grad_fn.is_none()
    }

    /// `requires_grad_()`: only leaves may change it, and only float tensors may require grad.
    pub fn set_requires_grad(&self, requires_grad: bool) -> Result<()> {
        let mut meta = self.0.meta.lock();
        if meta.grad_fn.is_some() {
            if !requires_grad {
                return Err(Error::runtime(
                    "you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().",
                ));
            }
            return Ok(());
        }
        if requires_grad && !self.dtype().is_floating_point() {
            return Err(Error::runtime(
                "only Tensors of floating point and complex dtype can require gradients",
            ));
        }
        meta.requires_grad = requires_grad;
        self.0.needs_grad.store(requires_grad, Ordering::Release);
        Ok(())
    }

    /// Builder form: `Tensor::randn(..)?.requires_grad_(true)?`.
    pub fn requires_grad_(self, requires_grad: bool) -> Result<Tensor> {
        self.set_requires_grad(requires_grad)?;
        Ok(self)
    }

    pub fn grad(&self) -> Option<Tensor> {
        self.0.meta.lock().grad.clone()
    }

    /// Sets or clears `.grad` (checked against this tensor's shape, dtype and device).
    pub fn set_grad(&self, grad: Option<Tensor>) -> Result<()> {
        if let Some(g) = &grad {
            if g.shape() != self.shape() {
                return Err(Error::runtime(format!(
                    "assigned grad has data of a different size: expected {}, got {}",
                    crate::error::fmt_shape(&self.shape()),
                    crate::error::fmt_shape(&g.shape())
                )));
            }
            if g.dtype() != self.dtype() {
                return Err(Error::runtime("assigned grad has data of a different type"));
            }
            if g.device() != self.device() {
                return Err(Error::runtime(
                    "assigned grad has data located on a different device",
                ));
            }
        }
        self.0.meta.lock().grad = grad;
        Ok(())
    }

    pub(crate) fn lock_meta(&self) -> parking_lot::MutexGuard<'_, AutogradMeta> {
        self.0.meta.lock()
    }

    pub fn grad_fn(&self) -> Option<NodeRef> {
        self.0.meta.lock().grad_fn.clone()
    }

    pub fn output_nr(&self) -> usize {
        self.0.meta.lock().output_nr
    }

    pub(crate) fn set_grad_fn(&self, node: NodeRef, output_nr: usize) {
        let mut meta = self.0.meta.lock();
        self.0.needs_grad.store(true, Ordering::Release);
        meta.output_nr = output_nr;
        if !meta.retains_grad {
            meta.grad_fn = Some(node);
            return;
        }
        // A retained gradient follows the tensor to its new history (an in-place op rewrote it).
        let previous = meta.grad_fn.replace(node.clone());
        drop(meta);
        let me = Arc::downgrade(&self.0);
        if let Some(old) = previous.as_ref().and_then(|p| p.get().ok()) {
            if let Some(x) = old.state.lock().extras.as_mut() {
                x.retained.retain(|(_, w)| !w.ptr_eq(&me));
            }
        }
        if let Ok(new) = node.get() {
            new.state.lock().extras_mut().retained.push((output_nr, me));
        }
    }

    /// Makes this tensor a leaf that does not require grad (`detach_()`).
    pub fn detach_(&self) -> Result<()> {
        let mut meta = self.0.meta.lock();
        meta.grad_fn = None;
        meta.requires_grad = false;
        meta.output_nr = 0;
        self.0.needs_grad.store(false, Ordering::Release);
        Ok(())
    }

    /// Where the gradient for this tensor, used as an op input, must go.
    pub(crate) fn gradient_edge(&self) -> Edge {
        let meta = self.0.meta.lock();
        match &meta.grad_fn {
            Some(node) => Edge::Node {
                node: node.clone(),
                output_nr: meta.output_nr,
            },
            None if meta.requires_grad => {
                let target = meta
                    .extras
                    .as_ref()
                    .and_then(|x| x.accumulates_into.clone());
                Edge::Leaf(target.unwrap_or_else(|| self.clone()))
            }
            None => Edge::None,
        }
    }

    /// A fresh handle on the same data that requires grad and whose gradient accumulates into
    /// `leaf` (what an unpacked saved copy of a leaf is).
    pub(crate) fn alias_accumulating_into(&self, leaf: &Tensor) -> Tensor {
        let t = self.detached_alias();
        {
            let mut meta = t.0.meta.lock();
            meta.requires_grad = true;
            meta.extras_mut().accumulates_into = Some(leaf.clone());
        }
        t.0.needs_grad.store(true, Ordering::Release);
        t
    }

    /// The front end's attachment to this leaf, made by `init` on first use.
    pub fn leaf_extra_or_insert_with(
        &self,
        init: impl FnOnce() -> Arc<dyn std::any::Any + Send + Sync>,
    ) -> Arc<dyn std::any::Any + Send + Sync> {
        self.0
            .meta
            .lock()
            .extras_mut()
            .extra
            .get_or_insert_with(init)
            .clone()
    }

    /// Keeps `.grad` for a non-leaf after backward (`retain_grad()`).
    pub fn retain_grad(&self) -> Result<()> {
        let mut meta = self.0.meta.lock();
        let Some(node) = meta.grad_fn.clone() else {
            if !meta.requires_grad {
                return Err(Error::runtime(
                    "can't retain_grad on Tensor that has requires_grad=False",
                ));
            }
            return Ok(()); // leaves keep their grad anyway
        };
        if meta.retains_grad {
            return Ok(());
        }
        meta.retains_grad = true;
        let nr = meta.output_nr;
        drop(meta);
        node.get()?
            .state
            .lock()
            .extras_mut()
            .retained
            .push((nr, Arc::downgrade(&self.0)));
        Ok(())
    }

    pub fn retains_grad(&self) -> bool {
        self.0.meta.lock().retains_grad
    }

    /// Registers a hook on this tensor's gradient; returns an id for `remove_hook`.
    pub fn register_hook(&self, hook: Hook) -> Result<u64> {
        if !self.requires_grad() {
            return Err(Error::runtime(
                "cannot register a hook on a tensor that doesn't require gradient",
            ));
        }
        let id = next_hook_id();
        let mut meta = self.0.meta.lock();
        match meta.grad_fn.clone() {
            Some(node) => {
                let nr = meta.output_nr;
                drop(meta);
                node.get()?
                    .state
                    .lock()
                    .extras_mut()
                    .pre_hooks
                    .push((id, nr, hook));
            }
            None => meta.extras_mut().hooks.push((id, hook)),
        }
        Ok(id)
    }

    /// Registers a hook run after this leaf's `.grad` was updated by a backward.
    pub fn register_post_accumulate_grad_hook(&self, hook: PostAccumulateHook) -> Result<u64> {
        if !self.requires_grad() {
            return Err(Error::runtime(
                "cannot register a hook on a tensor that doesn't require gradient",
            ));
        }
        let mut meta = self.0.meta.lock();
        if meta.grad_fn.is_some() {
            return Err(Error::runtime(
                "post accumulate grad hooks cannot be registered on non-leaf tensors",
            ));
        }
        let id = next_hook_id();
        meta.extras_mut().post_accumulate_hooks.push((id, hook));
        Ok(id)
    }

    /// Removes a hook registered with `register_hook` or `register_post_accumulate_grad_hook`;
    /// false if it was not found.
    pub fn remove_hook(&self, id: u64) -> bool {
        let mut meta = self.0.meta.lock();
        if let Some(x) = meta.extras.as_mut() {
            let before = x.hooks.len() + x.post_accumulate_hooks.len();
            x.hooks.retain(|(h, _)| *h != id);
            x.post_accumulate_hooks.retain(|(h, _)| *h != id);
            if x.hooks.len() + x.post_accumulate_hooks.len() != before {
                return true;
            }
        }
        if let Some(node) = meta.grad_fn.clone() {
            drop(meta);
            if let Ok(n) = node.get() {
                let mut state = n.state.lock();
                let Some(x) = state.extras.as_mut() else {
                    return false;
                };
                let before = x.pre_hooks.len();
                x.pre_hooks.retain(|(h, _, _)| *h != id);
                return x.pre_hooks.len() != before;
            }
        }
        false
    }

    /// Runs backward from this tensor (see [`crate::autograd::backward`]).
    pub fn backward(&self) -> Result<()> {
        crate::autograd::backward(std::slice::from_ref(self), &[None], false, false, None)
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor(shape={:?}, dtype={}, device={}",
            self.shape().as_slice(),
            self.dtype(),
            self.device()
        )?;
        if self.requires_grad() {
            write!(f, ", requires_grad=true")?;
        }
        write!(f, ")")
    }
}
