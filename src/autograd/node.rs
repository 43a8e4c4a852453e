//! Graph nodes: what an op records so that its gradient can be computed later.
//!
//! An op that has inputs requiring grad calls [`record`] after its forward: the node gets the op's
//! backward rule, one edge per input (to the input's own node, to the leaf's gradient accumulator,
//! or nothing), the tensors the rule needs (saved with their version), and becomes the `grad_fn`
//! of the op's outputs.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use smallvec::SmallVec;

use crate::autograd::anomaly;
use crate::autograd::arena::NodeRef;
use crate::autograd::grad_mode::is_grad_enabled;
use crate::autograd::saved::{current_hooks as saved_hooks_in_force, Saved, SavedRef, SavedTensor};
use crate::error::{Error, Result};
use crate::storage::{DType, Device};
use crate::tensor::{Dims, Tensor};

/// A gradient hook: may return a replacement gradient.
pub type Hook = Arc<dyn Fn(&Tensor) -> Result<Option<Tensor>> + Send + Sync>;

/// Runs on a leaf after its `.grad` was updated (`register_post_accumulate_grad_hook`).
pub type PostAccumulateHook = Arc<dyn Fn(&Tensor) -> Result<()> + Send + Sync>;

/// `grad_fn.register_prehook`: sees the gradients of the node's outputs, may replace them.
pub type NodePreHook =
    Arc<dyn Fn(&[Option<Tensor>]) -> Result<Option<Vec<Option<Tensor>>>> + Send + Sync>;

/// `grad_fn.register_hook`: sees `(grad_inputs, grad_outputs)` after the rule ran, may replace the
/// gradients of the inputs.
pub type NodePostHook = Arc<
    dyn Fn(&[Option<Tensor>], &[Option<Tensor>]) -> Result<Option<Vec<Option<Tensor>>>>
        + Send
        + Sync,
>;

/// What a backward rule sees besides the incoming gradients.
pub struct Ctx<'a> {
    saved: &'a [Tensor],
    needs_input_grad: &'a [bool],
}

impl<'a> Ctx<'a> {
    pub fn new(saved: &'a [Tensor], needs_input_grad: &'a [bool]) -> Self {
        Ctx {
            saved,
            needs_input_grad,
        }
    }
    /// The `i`-th saved tensor, in the order the op listed them.
    pub fn saved(&self, i: usize) -> &'a Tensor {
        &self.saved[i]
    }
    /// Every saved tensor, in order.
    pub fn saved_all(&self) -> &'a [Tensor] {
        self.saved
    }
    /// Whether input `i` leads to anything that wants a gradient (rules skip work when not).
    pub fn needs_input_grad(&self, i: usize) -> bool {
        self.needs_input_grad.get(i).copied().unwrap_or(false)
    }
}

/// A backward rule: gradients of the outputs in, gradients of the inputs out (None = zero/no grad).
pub trait BackwardFn: Send + Sync + 'static {
    fn apply(&self, ctx: &Ctx<'_>, grads: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>>;
}

impl<F> BackwardFn for F
where
    F: Fn(&Ctx<'_>, &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
{
    fn apply(&self, ctx: &Ctx<'_>, grads: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        self(ctx, grads)
    }
}

/// Where the gradient of one input goes.
pub enum Edge {
    /// The input does not require grad.
    None,
    /// The input was produced by another node (as its output `output_nr`).
    Node { node: NodeRef, output_nr: usize },
    /// The input is a leaf that requires grad: accumulate into its `.grad`.
    Leaf(Tensor),
}

impl Edge {
    pub fn is_some(&self) -> bool {
        !matches!(self, Edge::None)
    }
}

/// Shape, dtype and device of an input, to check and fit the gradients a rule returns.
pub struct InputMeta {
    pub shape: Dims,
    pub dtype: DType,
    pub device: Device,
}

/// Mutable per-node state.
#[derive(Default)]
pub(crate) struct NodeState {
    pub saved: Vec<SavedTensor>,
    pub saved_released: bool,
    /// Hooks, retained grads and front-end data: most nodes have none, so they live behind one
    /// pointer made on first use (a node is built and moved for every recorded op).
    pub extras: Option<Box<NodeExtras>>,
}

/// The rarely used part of a node's state.
#[derive(Default)]
pub(crate) struct NodeExtras {
    /// Hooks on the gradient of output `nr` (tensor.register_hook on a non-leaf).
    pub pre_hooks: Vec<(u64, usize, Hook)>,
    /// Non-leaf outputs that asked to keep their gradient (retain_grad).
    pub retained: Vec<(usize, std::sync::Weak<crate::tensor::TensorImpl>)>,
    /// `grad_fn.register_prehook` hooks.
    pub node_pre_hooks: Vec<(u64, NodePreHook)>,
    /// `grad_fn.register_hook` hooks.
    pub post_hooks: Vec<(u64, NodePostHook)>,
    /// What a front end attaches to the node (Python's `grad_fn.metadata` dict).
    pub extra: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl NodeState {
    pub(crate) fn extras_mut(&mut self) -> &mut NodeExtras {
        self.extras.get_or_insert_with(Default::default)
    }
}

/// One node of the graph.
pub struct Node {
    pub(crate) refs: AtomicUsize,
    name: &'static str,
    seq: u64,
    backward: Box<dyn BackwardFn>,
    edges: SmallVec<[Edge; 2]>,
    input_meta: SmallVec<[InputMeta; 2]>,
    num_outputs: usize,
    /// Where the forward made this node (anomaly mode only).
    trace: Option<Box<str>>,
    pub(crate) state: Mutex<NodeState>,
}

static NEXT_SEQ: AtomicU64 = AtomicU64::new(0);
static NEXT_HOOK_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh id for a hook handle.
pub fn next_hook_id() -> u64 {
    NEXT_HOOK_ID.fetch_add(1, Ordering::Relaxed)
}

impl Node {
    /// PyTorch's name for the node type ("MulBackward0").
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// Creation order; the engine runs later nodes first.
    pub fn seq(&self) -> u64 {
        self.seq
    }
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }
    pub fn input_meta(&self) -> &[InputMeta] {
        &self.input_meta
    }
    pub fn num_outputs(&self) -> usize {
        self.num_outputs
    }
    /// The forward traceback recorded in anomaly mode.
    pub fn trace(&self) -> Option<&str> {
        self.trace.as_deref()
    }

    fn saved_refs(&self) -> Result<Vec<SavedRef>> {
        let state = self.state.lock();
        if state.saved_released {
            return Err(Error::runtime(
                "Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if you need to access saved tensors after calling backward.",
            ));
        }
        Ok(state.saved.iter().map(SavedTensor::reference).collect())
    }

    /// Unpacks the saved tensors for a run of the rule, checking versions. Unpack hooks run with no
    /// lock held (they may run arbitrary code, even a recomputing forward).
    pub(crate) fn unpack_saved(&self, this: &NodeRef) -> Result<Vec<Tensor>> {
        self.saved_refs()?
            .iter()
            .map(|s| s.unpack(this, self.name))
            .collect()
    }

    /// The saved tensors as stored, for introspection (None for packed ones), each with whether it
    /// is one of the node's own outputs.
    pub fn peek_saved(&self) -> Result<Vec<(Option<Tensor>, bool)>> {
        Ok(self.saved_refs()?.iter().map(SavedRef::peek).collect())
    }

    /// Registers a `grad_fn.register_prehook` hook; returns its id.
    pub fn register_pre_hook(&self, hook: NodePreHook) -> u64 {
        let id = next_hook_id();
        self.state
            .lock()
            .extras_mut()
            .node_pre_hooks
            .push((id, hook));
        id
    }

    /// Registers a `grad_fn.register_hook` hook; returns its id.
    pub fn register_post_hook(&self, hook: NodePostHook) -> u64 {
        let id = next_hook_id();
        self.state.lock().extras_mut().post_hooks.push((id, hook));
        id
    }

    /// Removes a node hook by id; false if none had it.
    pub fn remove_hook(&self, id: u64) -> bool {
        let mut state = self.state.lock();
        let Some(x) = state.extras.as_mut() else {
            return false;
        };
        let before = x.node_pre_hooks.len() + x.post_hooks.len() + x.pre_hooks.len();
        x.node_pre_hooks.retain(|(h, _)| *h != id);
        x.post_hooks.retain(|(h, _)| *h != id);
        x.pre_hooks.retain(|(h, _, _)| *h != id);
        before != x.node_pre_hooks.len() + x.post_hooks.len() + x.pre_hooks.len()
    }

    /// The front end's attachment (see `NodeState::extra`), made by `init` on first use.
    pub fn extra_or_insert_with(
        &self,
        init: impl FnOnce() -> Arc<dyn std::any::Any + Send + Sync>,
    ) -> Arc<dyn std::any::Any + Send + Sync> {
        self.state
            .lock()
            .extras_mut()
            .extra
            .get_or_insert_with(init)
            .clone()
    }

    /// Frees the saved tensors (after a backward without retain_graph).
    pub(crate) fn release_saved(&self) {
        let mut state = self.state.lock();
        if !state.saved.is_empty() {
            state.saved.clear();
            state.saved_released = true;
        }
    }

    pub(crate) fn apply(
        &self,
        ctx: &Ctx<'_>,
        grads: &[Option<Tensor>],
    ) -> Result<Vec<Option<Tensor>>> {
        self.backward.apply(ctx, grads)
    }
}

/// True when an op on `inputs` must record a node.
#[inline]
pub fn any_requires_grad(inputs: &[&Tensor]) -> bool {
    is_grad_enabled() && inputs.iter().any(|t| t.requires_grad())
}

/// Records a node for an op whose forward produced `outputs` from `inputs`, when grad mode is on
/// and some input requires grad. `saved` is only evaluated when a node is recorded.
pub fn record<F>(
    name: &'static str,
    inputs: &[&Tensor],
    outputs: &[&Tensor],
    saved: impl FnOnce() -> Vec<Saved>,
    backward: F,
) -> Result<()>
where
    F: Fn(&Ctx<'_>, &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
{
    if !any_requires_grad(inputs) {
        return Ok(());
    }
    record_node(name, inputs, outputs, None, saved(), Box::new(backward)).map(|_| ())
}

/// Records a node unconditionally (callers checked [`any_requires_grad`]) and returns it.
/// `differentiable[i] == false` leaves output `i` out of the graph (`mark_non_differentiable`).
pub fn record_node(
    name: &'static str,
    inputs: &[&Tensor],
    outputs: &[&Tensor],
    differentiable: Option<&[bool]>,
    saved: Vec<Saved>,
    backward: Box<dyn BackwardFn>,
) -> Result<NodeRef> {
    let edges: SmallVec<[Edge; 2]> = inputs.iter().map(|t| t.gradient_edge()).collect();
    let input_meta = inputs
        .iter()
        .map(|t| InputMeta {
            shape: t.shape(),
            dtype: t.dtype(),
            device: t.device(),
        })
        .collect();
    let hooks = if saved.is_empty() {
        None
    } else {
        saved_hooks_in_force()
    };
    let mut kept = Vec::with_capacity(saved.len());
    for s in saved {
        kept.push(match s {
            Saved::Input(i) => SavedTensor::new(inputs[i], None, hooks.as_ref())?,
            Saved::Output(i) => SavedTensor::new(outputs[i], Some(i), hooks.as_ref())?,
            Saved::Aux(t) => SavedTensor::new(&t, None, hooks.as_ref())?,
        });
    }
    let saved = kept;
    let node = Node {
        refs: AtomicUsize::new(1),
        name,
        seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        backward,
        edges,
        input_meta,
        num_outputs: outputs.len(),
        trace: anomaly::capture_trace().map(String::into_boxed_str),
        state: Mutex::new(NodeState {
            saved,
            ..Default::default()
        }),
    };
    let node = NodeRef::insert(node)?;
    for (nr, out) in outputs.iter().enumerate() {
        let wanted = differentiable.is_none_or(|d| d.get(nr).copied().unwrap_or(true));
        if wanted && out.dtype().is_floating_point() {
            out.set_grad_fn(node.clone(), nr);
        }
    }
    Ok(node)
}

/// A `&'static` copy of a node name made at run time (a custom Function's "<Class>Backward"),
/// leaked once per distinct name.
pub fn intern_name(name: &str) -> &'static str {
    static NAMES: std::sync::LazyLock<Mutex<std::collections::HashSet<&'static str>>> =
        std::sync::LazyLock::new(Default::default);
    let mut names = NAMES.lock();
    if let Some(n) = names.get(name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// The single incoming gradient of a one-output node.
pub fn grad0(grads: &[Option<Tensor>]) -> Result<&Tensor> {
    grads
        .first()
        .and_then(|g| g.as_ref())
        .ok_or_else(|| Error::internal("backward called without a gradient"))
}
