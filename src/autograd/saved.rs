//! Tensors a node keeps for its backward rule, and the hooks that may pack them elsewhere
//! (`autograd.graph.saved_tensors_hooks`: offload to the CPU, drop and recompute for checkpointing).
//!
//! A saved tensor remembers its version: an in-place change before backward is an error, as in
//! PyTorch. A packed one is whatever the pack hook returned; unpacking is the unpack hook's job.

use std::cell::RefCell;
use std::sync::Arc;

use crate::autograd::arena::NodeRef;
use crate::autograd::grad_mode::{is_grad_enabled, GradModeGuard};
use crate::error::{fmt_shape, Error, Result};
use crate::tensor::Tensor;

/// What an op asks `record` to save.
pub enum Saved {
    /// The op's input number `i`.
    Input(usize),
    /// The op's output number `i`.
    Output(usize),
    /// Any other tensor the rule needs (masks, indices); never differentiated through.
    Aux(Tensor),
}

/// A saved tensor after a pack hook took it.
pub trait PackedTensor: Send + Sync {
    fn unpack(&self) -> Result<Tensor>;
}

/// A pair of pack/unpack hooks (`saved_tensors_hooks(pack_hook, unpack_hook)`).
pub trait SavedTensorHooks: Send + Sync {
    fn pack(&self, tensor: &Tensor) -> Result<Arc<dyn PackedTensor>>;
}

thread_local! {
    /// The hooks in force on this thread, innermost last (PyTorch's are thread-local too).
    static HOOKS: RefCell<Vec<Arc<dyn SavedTensorHooks>>> = const { RefCell::new(Vec::new()) };
}

/// Makes `hooks` pack every tensor saved on this thread until [`pop_hooks`].
pub fn push_hooks(hooks: Arc<dyn SavedTensorHooks>) {
    HOOKS.with(|h| h.borrow_mut().push(hooks));
}

/// Removes the innermost hooks; false when none were in force.
pub fn pop_hooks() -> bool {
    HOOKS.with(|h| h.borrow_mut().pop().is_some())
}

/// The innermost hooks in force on this thread.
pub(crate) fn current_hooks() -> Option<Arc<dyn SavedTensorHooks>> {
    HOOKS.with(|h| h.borrow().last().cloned())
}

enum Value {
    Plain {
        tensor: Tensor,
        version: u64,
    },
    Packed {
        packed: Arc<dyn PackedTensor>,
        origin: Origin,
    },
}

/// Where a packed input's gradient went, so that its unpacked stand-in leads there too (a
/// higher-order graph through a packed tensor reaches what the original reached).
#[derive(Clone)]
pub(crate) enum Origin {
    /// No gradient (or a saved output, re-attached to its own node instead).
    None,
    /// Output `nr` of a node.
    Node(NodeRef, usize),
    /// A leaf that requires grad.
    Leaf(Tensor),
}

impl Origin {
    fn of(tensor: &Tensor) -> Origin {
        match tensor.grad_fn() {
            Some(node) => Origin::Node(node, tensor.output_nr()),
            None if tensor.requires_grad() => Origin::Leaf(tensor.clone()),
            None => Origin::None,
        }
    }
}

/// A tensor kept for backward.
pub(crate) struct SavedTensor {
    value: Value,
    /// For a saved output of the node itself: its output number (stored without its grad_fn, which
    /// would be a cycle, and re-attached when unpacked for a higher-order graph).
    output_nr: Option<usize>,
}

/// A saved tensor taken out of its node for one unpack (no lock held while hooks run).
#[derive(Clone)]
pub(crate) enum SavedRef {
    Plain {
        tensor: Tensor,
        version: u64,
        output_nr: Option<usize>,
    },
    Packed {
        packed: Arc<dyn PackedTensor>,
        origin: Origin,
        output_nr: Option<usize>,
    },
}

impl SavedTensor {
    /// Saves `tensor` (an input or an aux tensor, or `output_nr`'s output), through `hooks` (those
    /// in force, see [`current_hooks`]) if there are any.
    pub(crate) fn new(
        tensor: &Tensor,
        output_nr: Option<usize>,
        hooks: Option<&Arc<dyn SavedTensorHooks>>,
    ) -> Result<SavedTensor> {
        let value = match hooks {
            Some(hooks) => {
                // Packing runs without hooks (a hook's own ops save nothing) and without grad. A
                // saved output is handed over without its history: a hook that keeps what it was
                // given must not keep the node alive through it.
                let _off = HooksOff::new();
                let _mode = GradModeGuard::new(false);
                let (given, origin) = match output_nr {
                    Some(_) => (tensor.detached_alias(), Origin::None),
                    None => (tensor.clone(), Origin::of(tensor)),
                };
                Value::Packed {
                    packed: hooks.pack(&given)?,
                    origin,
                }
            }
            None => Value::Plain {
                version: tensor.version(),
                tensor: match output_nr {
                    Some(_) => tensor.detached_alias(),
                    None => tensor.clone(),
                },
            },
        };
        Ok(SavedTensor { value, output_nr })
    }

    pub(crate) fn reference(&self) -> SavedRef {
        match &self.value {
            Value::Plain { tensor, version } => SavedRef::Plain {
                tensor: tensor.clone(),
                version: *version,
                output_nr: self.output_nr,
            },
            Value::Packed { packed, origin } => SavedRef::Packed {
                packed: packed.clone(),
                origin: origin.clone(),
                output_nr: self.output_nr,
            },
        }
    }
}

/// Turns the hooks off on this thread while it lives.
struct HooksOff {
    saved: Vec<Arc<dyn SavedTensorHooks>>,
}

impl HooksOff {
    fn new() -> Self {
        HooksOff {
            saved: HOOKS.with(|h| std::mem::take(&mut *h.borrow_mut())),
        }
    }
}

impl Drop for HooksOff {
    fn drop(&mut self) {
        let saved = std::mem::take(&mut self.saved);
        HOOKS.with(|h| *h.borrow_mut() = saved);
    }
}

impl SavedRef {
    /// The tensor for a run of `node`'s rule: version-checked, or unpacked by its hook.
    pub(crate) fn unpack(&self, node: &NodeRef, node_name: &str) -> Result<Tensor> {
        let (tensor, output_nr, origin) = match self {
            SavedRef::Plain {
                tensor,
                version,
                output_nr,
            } => {
                check_version(tensor, *version, *output_nr, node_name)?;
                (tensor.clone(), *output_nr, None)
            }
            SavedRef::Packed {
                packed,
                origin,
                output_nr,
            } => (packed.unpack()?, *output_nr, Some(origin)),
        };
        if !is_grad_enabled() {
            return Ok(tensor);
        }
        match (output_nr, origin) {
            // Re-attach the output to this node so a higher-order graph can flow through it.
            (Some(nr), _) => Ok(tensor.alias_with_grad_fn(node.clone(), nr)),
            // An unpacked input stands in for the original: its gradient goes where that one's went.
            (None, Some(Origin::Node(n, nr))) => Ok(tensor.alias_with_grad_fn(n.clone(), *nr)),
            (None, Some(Origin::Leaf(leaf))) => Ok(tensor.alias_accumulating_into(leaf)),
            _ => Ok(tensor),
        }
    }

    /// The tensor as saved, without unpack hooks or checks (graph pictures read shapes from it),
    /// and whether it is an output of the node.
    pub(crate) fn peek(&self) -> (Option<Tensor>, bool) {
        match self {
            SavedRef::Plain {
                tensor, output_nr, ..
            } => (Some(tensor.clone()), output_nr.is_some()),
            SavedRef::Packed { output_nr, .. } => (None, output_nr.is_some()),
        }
    }
}

fn check_version(
    tensor: &Tensor,
    saved_version: u64,
    output_nr: Option<usize>,
    node_name: &str,
) -> Result<()> {
    let current = tensor.version();
    if current == saved_version {
        return Ok(());
    }
    let owner = match output_nr {
        Some(nr) => format!(", which is output {nr} of {},", op_name(node_name)),
        None => match tensor.grad_fn() {
            Some(f) => format!(
                ", which is output {} of {},",
                tensor.output_nr(),
                op_name(f.get()?.name())
            ),
            None => String::new(),
        },
    };
    Err(Error::runtime(format!(
        "one of the variables needed for gradient computation has been modified by an inplace operation: [{} {}]{owner} is at version {current}; expected version {saved_version} instead. Hint: enable anomaly detection to find the operation that failed to compute its gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).",
        tensor.dtype().legacy_name(),
        fmt_shape(&tensor.shape()),
    )))
}

/// The op a node belongs to, as PyTorch names it in this message: "MulBackward0" -> "Mul".
fn op_name(node_name: &str) -> &str {
    let trimmed = node_name.trim_end_matches(|c: char| c.is_ascii_digit());
    trimmed.strip_suffix("Backward").unwrap_or(node_name)
}
