//! Reverse-mode automatic differentiation: the graph arena, nodes, saved tensors, the engine,
//! grad mode and anomaly mode.

pub mod anomaly;
pub mod arena;
pub mod engine;
pub mod grad_mode;
pub mod node;
pub mod saved;

pub use arena::{live_nodes, NodeRef};
pub use engine::{backward, current_backward_leaves, grad, queue_callback};
pub use grad_mode::{is_grad_enabled, no_grad, set_grad_enabled, GradModeGuard};
pub use node::{grad0, record, Ctx, Hook, PostAccumulateHook};
pub use saved::Saved;
