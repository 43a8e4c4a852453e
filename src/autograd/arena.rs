//! The graph arena: every autograd node lives in one concurrent slab, addressed by a generational
//! key (a stale key finds nothing instead of a reused slot).
//!
//! Nodes are reference counted by `NodeRef` handles held by tensors (their `grad_fn`), by other
//! nodes (edges) and by the engine while it runs. When the last handle goes, the node is removed
//! from the slab. Removing a node drops its edges, which may release more nodes: that cascade runs
//! from a thread-local work list rather than by recursion, so a chain of a million nodes is freed
//! in constant stack depth.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

use sharded_slab::Slab;

use crate::autograd::node::Node;
use crate::error::{Error, Result};

static ARENA: LazyLock<Slab<Node>> = LazyLock::new(Slab::new);
static LIVE_NODES: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static PENDING_RELEASE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    static RELEASING: Cell<bool> = const { Cell::new(false) };
}

/// Number of graph nodes alive in the arena (all threads).
pub fn live_nodes() -> usize {
    LIVE_NODES.load(Ordering::Acquire)
}

/// A counted handle to a node in the arena.
pub struct NodeRef {
    key: usize,
}

/// A borrowed view of a node, valid while the guard lives.
pub type NodeGuard<'a> = sharded_slab::Entry<'a, Node>;

impl NodeRef {
    /// Moves `node` into the arena with one reference (the returned handle).
    pub(crate) fn insert(node: Node) -> Result<NodeRef> {
        node.refs.store(1, Ordering::Relaxed);
        let key = ARENA
            .insert(node)
            .ok_or_else(|| Error::runtime("autograd graph arena is full"))?;
        LIVE_NODES.fetch_add(1, Ordering::AcqRel);
        Ok(NodeRef { key })
    }

    /// The node. A live handle keeps its node in the arena, so this only fails on an internal bug.
    pub fn get(&self) -> Result<NodeGuard<'_>> {
        ARENA
            .get(self.key)
            .ok_or_else(|| Error::internal("autograd node was released while referenced"))
    }

    /// The node's generational key: unique among live nodes, never reused for a live one.
    pub fn key(&self) -> usize {
        self.key
    }

    pub fn ptr_eq(&self, other: &NodeRef) -> bool {
        self.key == other.key
    }
}

impl Clone for NodeRef {
    fn clone(&self) -> Self {
        if let Some(node) = ARENA.get(self.key) {
            node.refs.fetch_add(1, Ordering::Relaxed);
        }
        NodeRef { key: self.key }
    }
}

impl Drop for NodeRef {
    fn drop(&mut self) {
        let last = match ARENA.get(self.key) {
            Some(node) => node.refs.fetch_sub(1, Ordering::AcqRel) == 1,
            None => false,
        };
        if last {
            release(self.key);
        }
    }
}

impl std::fmt::Debug for NodeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.get().map(|n| n.name()).unwrap_or("<released>");
        write!(f, "NodeRef({name}, key={:#x})", self.key)
    }
}

/// Removes a node whose count reached zero, and every node that this frees in turn.
fn release(key: usize) {
    PENDING_RELEASE.with(|p| p.borrow_mut().push(key));
    if RELEASING.with(|r| r.replace(true)) {
        // An outer call on this thread is draining the list; it will take this key too.
        return;
    }
    while let Some(next) = PENDING_RELEASE.with(|p| p.borrow_mut().pop()) {
        if let Some(node) = ARENA.take(next) {
            LIVE_NODES.fetch_sub(1, Ordering::AcqRel);
            // Dropping the node drops its edges and saved tensors; nodes they free are queued.
            drop(node);
        }
    }
    RELEASING.with(|r| r.set(false));
}
