//! CPU kernels of the neural-network ops.

pub mod softmax;
