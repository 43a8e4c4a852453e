//! CPU kernels. Generic over the element type; parallel (threads.rs) above a size threshold.

pub mod elementwise;
pub mod index;
mod interface;
pub mod math;
pub mod matmul;
pub mod nn;
mod optim;
pub mod peak;
pub mod random;
pub mod reduce;
pub mod simd;
pub mod special;
pub mod strided;
pub mod threads;
