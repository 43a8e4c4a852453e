//! Reverse-mode automatic differentiation: the graph arena, nodes, the engine and grad mode.

pub mod arena;
pub mod engine;
pub mod grad_mode;
pub mod node;

pub use arena::{live_nodes, NodeRef};
pub use engine::{backward, grad};
pub use grad_mode::{is_grad_enabled, no_grad, set_grad_enabled, GradModeGuard};
pub use node::{grad0, record, Ctx, Hook, Saved};
