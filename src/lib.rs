//! rustgrad: tensors, a thread-safe autograd engine and neural-network ops, with a Rust core and a
//! PyTorch-style Python face.
//!
//! ```
//! use rustgrad::{DType, Device, Tensor};
//! let x = Tensor::randn(&[3, 4], DType::F32, Device::Cpu, None)?.requires_grad_(true)?;
//! let w = Tensor::randn(&[4, 2], DType::F32, Device::Cpu, None)?.requires_grad_(true)?;
//! let loss = x.matmul(&w)?.relu()?.sum()?;
//! loss.backward()?;
//! assert_eq!(w.grad().unwrap().shape().as_slice(), &[4, 2]);
//! # Ok::<(), rustgrad::Error>(())
//! ```

pub mod autograd;
pub mod backend;
pub mod error;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod serialize;
pub mod storage;
pub mod tensor;

#[cfg(feature = "python")]
mod python;

pub use autograd::{no_grad, GradModeGuard};
pub use error::{Error, Result};
pub use ops::index::TensorIndex;
pub use storage::{DType, Device};
pub use tensor::random::manual_seed;
pub use tensor::{Scalar, Tensor};
