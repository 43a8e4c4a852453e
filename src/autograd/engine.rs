//! The backward engine.
//!
//! 1. Discover the graph from the roots, counting for every node how many edges lead into it.
//! 2. Run nodes whose gradient inputs are complete, latest-created first (as PyTorch does), summing
//!    gradients that reach the same node output. A leaf is finished like a node: once every edge
//!    into it has delivered, its hooks see the summed gradient once, then it is accumulated into
//!    `.grad` under the leaf's lock (so concurrent backward calls from many threads sum exactly),
//!    then its post-accumulate hooks run.
//! 3. Without `retain_graph`, free each node's saved tensors once it has run.
//! 4. Run the callbacks queued during the run (`queue_callback`), in order.
//!
//! Everything is iterative: a graph a million nodes deep needs no deep stack.

use std::cell::RefCell;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use crate::autograd::anomaly;
use crate::autograd::arena::NodeRef;
use crate::autograd::grad_mode::GradModeGuard;
use crate::autograd::node::{Ctx, Edge, Hook, Node, PostAccumulateHook};
use crate::error::{fmt_shape, Error, Result};
use crate::tensor::Tensor;

/// What to do with the gradients that reach the requested tensors.
enum Mode {
    /// `backward()`: accumulate into `.grad` of leaves (only of `inputs` when given).
    Accumulate,
    /// `autograd.grad()`: return the gradients of `inputs`, touching no `.grad`.
    Capture,
}

/// A tensor whose gradient is wanted: a leaf (matched by identity) or a node output.
enum Target {
    Leaf(Tensor),
    Output {
        key: usize,
        output_nr: usize,
        tensor: Tensor,
    },
}

/// `backward(tensors, grad_tensors, retain_graph, create_graph, inputs)`.
pub fn backward(
    roots: &[Tensor],
    grad_roots: &[Option<Tensor>],
    retain_graph: bool,
    create_graph: bool,
    inputs: Option<&[Tensor]>,
) -> Result<()> {
    run(
        roots,
        grad_roots,
        retain_graph,
        create_graph,
        inputs,
        Mode::Accumulate,
    )
    .map(|_| ())
}

/// `autograd.grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused)`.
pub fn grad(
    outputs: &[Tensor],
    inputs: &[Tensor],
    grad_outputs: &[Option<Tensor>],
    retain_graph: bool,
    create_graph: bool,
    allow_unused: bool,
) -> Result<Vec<Option<Tensor>>> {
    let grads = run(
        outputs,
        grad_outputs,
        retain_graph,
        create_graph,
        Some(inputs),
        Mode::Capture,
    )?;
    if !allow_unused && grads.iter().any(|g| g.is_none()) {
        return Err(Error::runtime(
            "One of the differentiated Tensors appears to not have been used in the graph. Set allow_unused=True if this is the desired behavior.",
        ));
    }
    Ok(grads)
}

/// A node ready to run, ordered by creation (later first).
struct Ready {
    seq: u64,
    key: usize,
}
impl PartialEq for Ready {
    fn eq(&self, o: &Self) -> bool {
        self.seq == o.seq
    }
}
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ready {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.seq.cmp(&o.seq)
    }
}

/// A callback queued for the end of the running backward.
pub type Callback = Box<dyn FnOnce() -> Result<()> + Send>;

/// What code called back from a running backward can see of it (one frame per nested run).
struct RunFrame {
    leaves: Vec<Tensor>,
    callbacks: Vec<Callback>,
}

thread_local! {
    static RUNS: RefCell<Vec<RunFrame>> = const { RefCell::new(Vec::new()) };
}

/// Queues `f` to run when the backward running on this thread has finished every node
/// (`Variable._execution_engine.queue_callback`).
pub fn queue_callback(f: Callback) -> Result<()> {
    RUNS.with(|r| match r.borrow_mut().last_mut() {
        Some(frame) => {
            frame.callbacks.push(f);
            Ok(())
        }
        None => Err(Error::runtime(
            "Final callbacks can only be installed during backward pass.",
        )),
    })
}

/// The leaves the backward running on this thread will deliver gradients to; None outside one.
pub fn current_backward_leaves() -> Option<Vec<Tensor>> {
    RUNS.with(|r| r.borrow().last().map(|f| f.leaves.clone()))
}

/// Pops this run's frame however the run ends.
struct FrameGuard;

impl Drop for FrameGuard {
    fn drop(&mut self) {
        RUNS.with(|r| r.borrow_mut().pop());
    }
}

/// A leaf waiting for all its incoming gradients.
struct PendingLeaf {
    tensor: Tensor,
    remaining: usize,
    grad: Option<Tensor>,
}

struct GraphTask {
    /// Leaves reached by the run, by tensor id.
    leaves: HashMap<usize, PendingLeaf>,
    /// Every node reachable from the roots, kept alive for the run.
    nodes: HashMap<usize, NodeRef>,
    /// Incoming edges not yet delivered, per node.
    deps: HashMap<usize, usize>,
    /// Gradients collected for each node's outputs.
    buffers: HashMap<usize, Vec<Option<Tensor>>>,
    /// When targets are given: the nodes from which some target can be reached.
    needed: Option<HashMap<usize, bool>>,
    targets: Vec<Target>,
    captured: Vec<Option<Tensor>>,
    mode: Mode,
    create_graph: bool,
    retain_graph: bool,
}

fn run(
    roots: &[Tensor],
    grad_roots: &[Option<Tensor>],
    retain_graph: bool,
    create_graph: bool,
    inputs: Option<&[Tensor]>,
    mode: Mode,
) -> Result<Vec<Option<Tensor>>> {
    if roots.len() != grad_roots.len() {
        return Err(Error::runtime(format!(
            "grad can be implicitly created only for scalar outputs: got {} tensors and {} gradients",
            roots.len(),
            grad_roots.len()
        )));
    }
    if let Some(inputs) = inputs {
        if inputs.is_empty() {
            return Err(Error::runtime("grad requires non-empty inputs."));
        }
        for t in inputs {
            if !t.requires_grad() {
                return Err(Error::runtime(
                    "One of the differentiated Tensors does not require grad",
                ));
            }
        }
    }

    // The root gradients: given, or ones for a scalar.
    let mut root_grads = Vec::with_capacity(roots.len());
    for (i, (root, g)) in roots.iter().zip(grad_roots).enumerate() {
        if !root.requires_grad() {
            return Err(Error::runtime(format!(
                "element {i} of tensors does not require grad and does not have a grad_fn"
            )));
        }
        let g = match g {
            Some(g) => {
                if g.shape() != root.shape() {
                    return Err(Error::runtime(format!(
                        "Mismatch in shape: grad_output[{i}] has a shape of {} and output[{i}] has a shape of {}.",
                        fmt_shape(&g.shape()),
                        fmt_shape(&root.shape())
                    )));
                }
                g.clone()
            }
            None => {
                if root.numel() != 1 {
                    return Err(Error::runtime(
                        "grad can be implicitly created only for scalar outputs",
                    ));
                }
                root.ones_like()?
            }
        };
        root_grads.push(g);
    }

    let targets: Vec<Target> = inputs
        .unwrap_or(&[])
        .iter()
        .map(|t| match t.grad_fn() {
            Some(node) => Target::Output {
                key: node.key(),
                output_nr: t.output_nr(),
                tensor: t.clone(),
            },
            None => Target::Leaf(t.clone()),
        })
        .collect();
    let mut task = GraphTask {
        leaves: HashMap::new(),
        nodes: HashMap::new(),
        deps: HashMap::new(),
        buffers: HashMap::new(),
        needed: None,
        captured: vec![None; targets.len()],
        targets,
        mode,
        create_graph,
        retain_graph,
    };
    let has_targets = inputs.is_some();

    // Keep the targets' own non-leaf gradients for them when they are roots themselves.
    let mut heap = BinaryHeap::new();
    let mut root_nodes = Vec::new();
    let mut root_leaves = Vec::new();
    for (root, g) in roots.iter().zip(root_grads) {
        match root.grad_fn() {
            Some(node) => {
                let nr = root.output_nr();
                let key = node.key();
                let n = node.get()?;
                let buf = task
                    .buffers
                    .entry(key)
                    .or_insert_with(|| vec![None; n.num_outputs()]);
                buf[nr] = Some(match buf[nr].take() {
                    Some(prev) => prev.add(&g)?,
                    None => g,
                });
                drop(n);
                if let std::collections::hash_map::Entry::Vacant(slot) = task.nodes.entry(key) {
                    root_nodes.push(node.clone());
                    slot.insert(node);
                }
            }
            None => {
                task.expect_leaf(root);
                root_leaves.push((root.clone(), g));
            }
        }
    }

    task.discover(&root_nodes)?;
    if has_targets {
        task.compute_needed()?;
    }
    RUNS.with(|r| {
        r.borrow_mut().push(RunFrame {
            leaves: task.reached_leaves(),
            callbacks: Vec::new(),
        })
    });
    let _frame = FrameGuard;
    for (leaf, g) in root_leaves {
        task.leaf_arrives(&leaf, Some(g))?;
    }
    for node in &root_nodes {
        if task.deps.get(&node.key()).copied().unwrap_or(0) == 0 {
            heap.push(Ready {
                seq: node.get()?.seq(),
                key: node.key(),
            });
        }
    }

    while let Some(Ready { key, .. }) = heap.pop() {
        let node = task
            .nodes
            .get(&key)
            .cloned()
            .ok_or_else(|| Error::internal("unknown node"))?;
        let ready = task.execute(&node)?;
        for k in ready {
            let seq = task.nodes[&k].get()?.seq();
            heap.push(Ready { seq, key: k });
        }
    }
    // Callbacks may queue more callbacks; run until none are left.
    loop {
        let batch = RUNS.with(|r| {
            r.borrow_mut()
                .last_mut()
                .map(|f| std::mem::take(&mut f.callbacks))
                .unwrap_or_default()
        });
        if batch.is_empty() {
            break;
        }
        for callback in batch {
            callback()?;
        }
    }
    Ok(task.captured)
}

impl GraphTask {
    /// Counts incoming edges of every node reachable from the roots (iterative DFS).
    fn discover(&mut self, roots: &[NodeRef]) -> Result<()> {
        let mut stack: Vec<NodeRef> = roots.to_vec();
        let mut seen: std::collections::HashSet<usize> = roots.iter().map(|n| n.key()).collect();
        while let Some(node) = stack.pop() {
            let n = node.get()?;
            for edge in n.edges() {
                match edge {
                    Edge::Node { node: next, .. } => {
                        *self.deps.entry(next.key()).or_insert(0) += 1;
                        if seen.insert(next.key()) {
                            self.nodes.insert(next.key(), next.clone());
                            stack.push(next.clone());
                        }
                    }
                    Edge::Leaf(leaf) => self.expect_leaf(leaf),
                    Edge::None => {}
                }
            }
        }
        Ok(())
    }

    /// Counts one more edge into `leaf`.
    fn expect_leaf(&mut self, leaf: &Tensor) {
        self.leaves
            .entry(leaf.id())
            .or_insert_with(|| PendingLeaf {
                tensor: leaf.clone(),
                remaining: 0,
                grad: None,
            })
            .remaining += 1;
    }

    /// Whether the run delivers to `leaf` at all (with `inputs`, only to those).
    fn wants_leaf(&self, leaf: &Tensor) -> bool {
        self.targets.is_empty()
            || self
                .targets
                .iter()
                .any(|t| matches!(t, Target::Leaf(l) if l.same_tensor(leaf)))
    }

    fn reached_leaves(&self) -> Vec<Tensor> {
        self.leaves
            .values()
            .filter(|p| self.wants_leaf(&p.tensor))
            .map(|p| p.tensor.clone())
            .collect()
    }

    /// One edge into `leaf` delivered (`None`: nothing flowed); the last one finishes the leaf.
    fn leaf_arrives(&mut self, leaf: &Tensor, g: Option<Tensor>) -> Result<()> {
        let pending = self
            .leaves
            .get_mut(&leaf.id())
            .ok_or_else(|| Error::internal("gradient for an undiscovered leaf"))?;
        if let Some(g) = g {
            pending.grad = Some(sum_opt(pending.grad.take(), &g)?);
        }
        pending.remaining -= 1;
        if pending.remaining > 0 {
            return Ok(());
        }
        let Some(pending) = self.leaves.remove(&leaf.id()) else {
            return Ok(());
        };
        match pending.grad {
            Some(g) => self.deliver_to_leaf(&pending.tensor, g),
            None => Ok(()),
        }
    }

    /// Marks the nodes that lead to a target, so the rest are skipped (as PyTorch prunes).
    fn compute_needed(&mut self) -> Result<()> {
        // Topological order by Kahn's algorithm on a copy of the dependency counts.
        let mut deps = self.deps.clone();
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut queue: Vec<usize> = self
            .nodes
            .keys()
            .filter(|k| !deps.contains_key(k))
            .copied()
            .collect();
        while let Some(k) = queue.pop() {
            order.push(k);
            let n = self.nodes[&k].get()?;
            for edge in n.edges() {
                if let Edge::Node { node, .. } = edge {
                    let d = deps
                        .get_mut(&node.key())
                        .ok_or_else(|| Error::internal("graph changed"))?;
                    *d -= 1;
                    if *d == 0 {
                        queue.push(node.key());
                    }
                }
            }
        }
        let mut needed: HashMap<usize, bool> = HashMap::with_capacity(order.len());
        for &k in order.iter().rev() {
            let n = self.nodes[&k].get()?;
            let own = self
                .targets
                .iter()
                .any(|t| matches!(t, Target::Output { key, .. } if *key == k));
            let via_edges = n.edges().iter().any(|e| match e {
                Edge::Node { node, .. } => needed.get(&node.key()).copied().unwrap_or(false),
                Edge::Leaf(leaf) => self
                    .targets
                    .iter()
                    .any(|t| matches!(t, Target::Leaf(l) if l.same_tensor(leaf))),
                Edge::None => false,
            });
            needed.insert(k, own || via_edges);
        }
        self.needed = Some(needed);
        Ok(())
    }

    fn is_needed(&self, key: usize) -> bool {
        self.needed
            .as_ref()
            .is_none_or(|n| n.get(&key).copied().unwrap_or(false))
    }

    /// Runs one node; returns the keys of nodes that became ready.
    fn execute(&mut self, node_ref: &NodeRef) -> Result<Vec<usize>> {
        let key = node_ref.key();
        let node = node_ref.get()?;
        // Everything below (rules, sums of gradients, fitting) is recorded only for create_graph.
        let _mode = GradModeGuard::new(self.create_graph);
        let mut grads = self
            .buffers
            .remove(&key)
            .unwrap_or_else(|| vec![None; node.num_outputs()]);

        // In order: hooks on this node's outputs (tensor hooks), retained grads and captures, node
        // pre-hooks, the rule, node post-hooks. Hooks belong to the part of the graph this run
        // computes: a node that leads to no wanted gradient (with `inputs` / `autograd.grad`) runs
        // none, unless its output is captured.
        let needed = self.is_needed(key);
        let captured_here = self
            .targets
            .iter()
            .any(|t| matches!(t, Target::Output { key: k, .. } if *k == key));
        type Retained = Vec<(usize, std::sync::Weak<crate::tensor::TensorImpl>)>;
        let (hooks, retained, pre_hooks, post_hooks) = {
            let state = node.state.lock();
            match state.extras.as_deref() {
                Some(x) if needed || captured_here => (
                    x.pre_hooks
                        .iter()
                        .map(|(_, nr, h)| (*nr, h.clone()))
                        .collect::<Vec<(usize, Hook)>>(),
                    x.retained.clone(),
                    if needed {
                        x.node_pre_hooks.iter().map(|(_, h)| h.clone()).collect()
                    } else {
                        Vec::new()
                    },
                    if needed {
                        x.post_hooks.iter().map(|(_, h)| h.clone()).collect()
                    } else {
                        Vec::new()
                    },
                ),
                _ => (Vec::new(), Retained::new(), Vec::new(), Vec::new()),
            }
        };
        for (nr, hook) in hooks {
            if let Some(g) = &grads[nr] {
                if let Some(replacement) = hook(g)? {
                    grads[nr] = Some(replacement);
                }
            }
        }
        for (nr, weak) in retained {
            if let (Some(g), Some(owner)) = (&grads[nr], weak.upgrade()) {
                if matches!(self.mode, Mode::Accumulate) {
                    accumulate(&Tensor(owner), g.clone(), self.create_graph)?;
                }
            }
        }
        for (i, target) in self.targets.iter().enumerate() {
            if let Target::Output {
                key: k,
                output_nr,
                tensor,
            } = target
            {
                if let (true, Some(g)) = (*k == key, &grads[*output_nr]) {
                    match self.mode {
                        Mode::Capture => {
                            self.captured[i] = Some(sum_opt(self.captured[i].take(), g)?)
                        }
                        Mode::Accumulate => accumulate(tensor, g.clone(), self.create_graph)?,
                    }
                }
            }
        }

        for hook in pre_hooks {
            if let Some(replacement) = hook(&grads)? {
                check_hook_count("prehook", node.num_outputs(), replacement.len())?;
                grads = replacement;
            }
        }

        let run_rule = needed && grads.iter().any(|g| g.is_some());
        let mut outputs = if run_rule {
            run_rule_checked(&node, node_ref, &grads, self.retain_graph)?
        } else {
            vec![None; node.edges().len()]
        };
        for hook in post_hooks {
            if let Some(replacement) = hook(&outputs, &grads)? {
                check_hook_count("hook", node.edges().len(), replacement.len())?;
                outputs = replacement;
            }
        }
        drop(grads);

        let mut ready = Vec::new();
        for (i, (edge, grad)) in node.edges().iter().zip(outputs).enumerate() {
            let grad = match grad {
                Some(g) if edge.is_some() => {
                    Some(fit_gradient(node.name(), i, g, &node.input_meta()[i])?)
                }
                _ => None,
            };
            match edge {
                Edge::None => {}
                Edge::Leaf(leaf) => self.leaf_arrives(leaf, grad)?,
                Edge::Node {
                    node: next,
                    output_nr,
                } => {
                    let nk = next.key();
                    if let Some(g) = grad {
                        let n_out = next.get()?.num_outputs();
                        let buf = self.buffers.entry(nk).or_insert_with(|| vec![None; n_out]);
                        buf[*output_nr] = Some(sum_opt(buf[*output_nr].take(), &g)?);
                    }
                    let d = self
                        .deps
                        .get_mut(&nk)
                        .ok_or_else(|| Error::internal("missing dependency count"))?;
                    *d -= 1;
                    if *d == 0 {
                        ready.push(nk);
                    }
                }
            }
        }
        Ok(ready)
    }

    /// A leaf's finished gradient: its hooks, then capture or accumulation.
    fn deliver_to_leaf(&mut self, leaf: &Tensor, g: Tensor) -> Result<()> {
        let target = self
            .targets
            .iter()
            .position(|t| matches!(t, Target::Leaf(l) if l.same_tensor(leaf)));
        if !self.targets.is_empty() && target.is_none() {
            return Ok(());
        }
        let _mode = GradModeGuard::new(self.create_graph);
        let g = run_leaf_hooks(leaf, g)?;
        match (&self.mode, target) {
            (Mode::Capture, Some(i)) => {
                self.captured[i] = Some(sum_opt(self.captured[i].take(), &g)?);
                Ok(())
            }
            (Mode::Capture, None) => Ok(()),
            (Mode::Accumulate, _) => {
                accumulate(leaf, g, self.create_graph)?;
                let hooks: Vec<PostAccumulateHook> = match leaf.lock_meta().extras.as_deref() {
                    Some(x) => x
                        .post_accumulate_hooks
                        .iter()
                        .map(|(_, h)| h.clone())
                        .collect(),
                    None => Vec::new(),
                };
                hooks.iter().try_for_each(|hook| hook(leaf))
            }
        }
    }
}

fn sum_opt(acc: Option<Tensor>, g: &Tensor) -> Result<Tensor> {
    match acc {
        Some(a) => a.add(g),
        None => Ok(g.clone()),
    }
}

/// Checks a returned gradient against the input it is for: reduces broadcast gradients to the
/// input's shape and casts to its dtype; a shape that cannot be fitted is an error.
fn fit_gradient(
    name: &str,
    index: usize,
    g: Tensor,
    meta: &crate::autograd::node::InputMeta,
) -> Result<Tensor> {
    let mut g = g;
    if g.shape() != meta.shape {
        let fits = broadcast_compatible(&meta.shape, &g.shape());
        if !fits {
            return Err(Error::runtime(format!(
                "Function {name} returned an invalid gradient at index {index} - got {} but expected shape compatible with {}",
                fmt_shape(&g.shape()),
                fmt_shape(&meta.shape)
            )));
        }
        g = g.sum_to_shape(&meta.shape)?;
    }
    if g.dtype() != meta.dtype {
        g = g.to_dtype(meta.dtype)?;
    }
    if g.device() != meta.device {
        return Err(Error::runtime(format!(
            "Function {name} returned an invalid gradient at index {index} - expected device {} but got {}",
            meta.device,
            g.device()
        )));
    }
    Ok(g)
}

fn broadcast_compatible(target: &[usize], from: &[usize]) -> bool {
    if from.len() < target.len() {
        return false;
    }
    let lead = from.len() - target.len();
    target
        .iter()
        .enumerate()
        .all(|(i, &t)| t == from[lead + i] || t == 1)
}

/// Runs a leaf's gradient hooks (each may replace the gradient), with no lock held.
fn run_leaf_hooks(leaf: &Tensor, g: Tensor) -> Result<Tensor> {
    let hooks: Vec<Hook> = match leaf.lock_meta().extras.as_deref() {
        Some(x) => x.hooks.iter().map(|(_, h)| h.clone()).collect(),
        None => return Ok(g),
    };
    let mut g = g;
    for hook in hooks {
        if let Some(r) = hook(&g)? {
            g = r;
        }
    }
    Ok(g)
}

/// Runs a node's rule on its unpacked saved tensors and checks what it returned; in anomaly mode
/// also checks for NaN and reports the forward traceback of a node that failed.
fn run_rule_checked(
    node: &Node,
    node_ref: &NodeRef,
    grads: &[Option<Tensor>],
    retain_graph: bool,
) -> Result<Vec<Option<Tensor>>> {
    let result = (|| {
        let saved = node.unpack_saved(node_ref)?;
        let needs: Vec<bool> = node.edges().iter().map(|e| e.is_some()).collect();
        let ctx = Ctx::new(&saved, &needs);
        let result = node.apply(&ctx, grads);
        drop(saved);
        if !retain_graph {
            node.release_saved();
        }
        let outputs = result?;
        if outputs.len() != node.edges().len() {
            return Err(Error::runtime(format!(
                "function {} returned an incorrect number of gradients (expected {}, got {})",
                node.name(),
                node.edges().len(),
                outputs.len()
            )));
        }
        if anomaly::is_enabled() && anomaly::check_nan() {
            for (i, g) in outputs.iter().enumerate() {
                if let Some(g) = g {
                    if has_nan(g)? {
                        return Err(Error::runtime(format!(
                            "Function '{}' returned nan values in its {i}th output.",
                            node.name()
                        )));
                    }
                }
            }
        }
        Ok(outputs)
    })();
    if result.is_err() && anomaly::is_enabled() {
        if let Some(trace) = node.trace() {
            anomaly::report(node.name(), trace);
        }
    }
    result
}

fn has_nan(g: &Tensor) -> Result<bool> {
    if !g.dtype().is_floating_point() {
        return Ok(false);
    }
    let _mode = GradModeGuard::new(false);
    Ok(g.isnan()?.any_dims(&[], false)?.item()?.to_f64() != 0.0)
}

fn check_hook_count(kind: &str, expected: usize, got: usize) -> Result<()> {
    if expected != got {
        return Err(Error::runtime(format!(
            "{kind} returned an incorrect number of values (expected {expected}, but got {got})"
        )));
    }
    Ok(())
}

/// Adds `g` into `leaf.grad`, under the leaf's lock.
pub(crate) fn accumulate(leaf: &Tensor, g: Tensor, create_graph: bool) -> Result<()> {
    let mut meta = leaf.lock_meta();
    match meta.grad.take() {
        None => {
            meta.grad = Some(if create_graph {
                g
            } else {
                owned_contiguous(g)?
            });
        }
        Some(old) => {
            if create_graph {
                let _mode = GradModeGuard::new(true);
                meta.grad = Some(old.add(&g)?);
            } else {
                let _mode = GradModeGuard::new(false);
                match old.add_(&g) {
                    Ok(()) => meta.grad = Some(old),
                    Err(e) => {
                        meta.grad = Some(old);
                        return Err(e);
                    }
                }
            }
        }
    }
    Ok(())
}

/// The gradient itself when nothing else can see it and it is contiguous, else a fresh copy:
/// a leaf's `.grad` must never alias another tensor.
fn owned_contiguous(g: Tensor) -> Result<Tensor> {
    let unique = Arc::strong_count(&g.0) == 1
        && Arc::strong_count(&g.storage()) == 2
        && g.view_base().is_none();
    let plain = g.is_contiguous() && g.storage_offset() == 0 && g.storage().len() == g.numel();
    if unique && plain {
        g.detach_()?;
        Ok(g)
    } else {
        let _mode = GradModeGuard::new(false);
        g.detach().copy()
    }
}
