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

use crate::autograd::arena::NodeRef;
use crate::autograd::grad_mode::is_grad_enabled;
use crate::error::{fmt_shape, Error, Result};
use crate::storage::{DType, Device};
use crate::tensor::{Dims, Tensor};

/// A gradient hook: may return a replacement gradient.
pub type Hook = Arc<dyn Fn(&Tensor) -> Result<Option<Tensor>> + Send + Sync>;

/// What a backward rule sees besides the incoming gradients.
pub struct Ctx<'a> {
    saved: &'a [Tensor],
    needs_input_grad: &'a [bool],
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(saved: &'a [Tensor], needs_input_grad: &'a [bool]) -> Self {
        Ctx {
            saved,
            needs_input_grad,
        }
    }
    /// The `i`-th saved tensor, in the order the op listed them.
    pub fn saved(&self, i: usize) -> &'a Tensor {
        &self.saved[i]
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

/// A tensor kept for backward, with the version it had when saved.
pub(crate) struct SavedTensor {
    tensor: Tensor,
    version: u64,
    /// For a saved output of the node itself: its output number (stored without its grad_fn, which
    /// would be a cycle, and re-attached when unpacked for a higher-order graph).
    output_nr: Option<usize>,
}

/// What an op asks [`record`] to save.
pub enum Saved {
    /// The op's input number `i`.
    Input(usize),
    /// The op's output number `i`.
    Output(usize),
    /// Any other tensor the rule needs (masks, indices); never differentiated through.
    Aux(Tensor),
}

/// Mutable per-node state.
#[derive(Default)]
pub(crate) struct NodeState {
    pub saved: Vec<SavedTensor>,
    pub saved_released: bool,
    /// Hooks on the gradient of output `nr` (tensor.register_hook on a non-leaf).
    pub pre_hooks: Vec<(u64, usize, Hook)>,
    /// Non-leaf outputs that asked to keep their gradient (retain_grad).
    pub retained: Vec<(usize, std::sync::Weak<crate::tensor::TensorImpl>)>,
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

    /// Unpacks the saved tensors for a run of the rule, checking versions.
    pub(crate) fn unpack_saved(&self, this: &NodeRef) -> Result<Vec<Tensor>> {
        let state = self.state.lock();
        if state.saved_released {
            return Err(Error::runtime(
                "Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if you need to access saved tensors after calling backward.",
            ));
        }
        state
            .saved
            .iter()
            .map(|s| s.unpack(this, self.name))
            .collect()
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

impl SavedTensor {
    fn unpack(&self, node: &NodeRef, node_name: &str) -> Result<Tensor> {
        let current = self.tensor.version();
        if current != self.version {
            let owner = match self.output_nr {
                Some(nr) => format!(", which is output {nr} of {node_name},"),
                None => match self.tensor.grad_fn() {
                    Some(f) => format!(
                        ", which is output {} of {},",
                        self.tensor.output_nr(),
                        f.get()?.name()
                    ),
                    None => String::new(),
                },
            };
            return Err(Error::runtime(format!(
                "one of the variables needed for gradient computation has been modified by an inplace operation: [{} {}]{owner} is at version {current}; expected version {} instead. Hint: enable anomaly detection to find the operation that failed to compute its gradient, with torch.autograd.set_detect_anomaly(True).",
                self.tensor.dtype().legacy_name(),
                fmt_shape(&self.tensor.shape()),
                self.version
            )));
        }
        match self.output_nr {
            // Re-attach the output to this node so a higher-order graph can flow through it.
            Some(nr) if is_grad_enabled() => Ok(self.tensor.alias_with_grad_fn(node.clone(), nr)),
            _ => Ok(self.tensor.clone()),
        }
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
    let edges: SmallVec<[Edge; 2]> = inputs.iter().map(|t| t.gradient_edge()).collect();
    let input_meta = inputs
        .iter()
        .map(|t| InputMeta {
            shape: t.shape(),
            dtype: t.dtype(),
            device: t.device(),
        })
        .collect();
    let saved = saved()
        .into_iter()
        .map(|s| match s {
            Saved::Input(i) => SavedTensor {
                version: inputs[i].version(),
                tensor: inputs[i].clone(),
                output_nr: None,
            },
            Saved::Output(i) => SavedTensor {
                version: outputs[i].version(),
                tensor: outputs[i].detached_alias(),
                output_nr: Some(i),
            },
            Saved::Aux(t) => SavedTensor {
                version: t.version(),
                tensor: t,
                output_nr: None,
            },
        })
        .collect();
    let node = Node {
        refs: AtomicUsize::new(1),
        name,
        seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        backward: Box::new(backward),
        edges,
        input_meta,
        num_outputs: outputs.len(),
        state: Mutex::new(NodeState {
            saved,
            ..Default::default()
        }),
    };
    let node = NodeRef::insert(node)?;
    for (nr, out) in outputs.iter().enumerate() {
        if out.dtype().is_floating_point() {
            out.set_grad_fn(node.clone(), nr);
        }
    }
    Ok(())
}

/// The single incoming gradient of a one-output node.
pub fn grad0(grads: &[Option<Tensor>]) -> Result<&Tensor> {
    grads
        .first()
        .and_then(|g| g.as_ref())
        .ok_or_else(|| Error::internal("backward called without a gradient"))
}
