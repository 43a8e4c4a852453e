//! Layers for Rust users: the seed networks' building blocks (`Linear`, `Conv2d`, `MaxPool2d`),
//! initialised as PyTorch initialises them, and `functional`: the NN ops as free functions with
//! PyTorch's defaults.
//!
//! ```
//! use rustgrad::nn::{Linear, Module};
//! use rustgrad::{DType, Device, Tensor};
//! let layer = Linear::new(4, 2, true)?;
//! let y = layer.forward(&Tensor::randn(&[3, 4], DType::F32, Device::Cpu, None)?)?;
//! assert_eq!(y.shape().as_slice(), &[3, 2]);
//! # Ok::<(), rustgrad::Error>(())
//! ```

pub mod functional;
pub mod init;
mod layers;

pub use crate::ops::nn::conv::Padding2d;
pub use crate::ops::nn::interpolate::InterpolateMode;
pub use crate::ops::nn::Reduction;
pub use layers::{Conv2d, Linear, MaxPool2d, ReLU, Sequential};

use crate::error::Result;
use crate::tensor::Tensor;

/// A layer: a forward function and the parameters an optimizer updates.
pub trait Module: Send + Sync {
    fn forward(&self, input: &Tensor) -> Result<Tensor>;
    /// The trainable tensors (leaves with `requires_grad`), in registration order.
    fn parameters(&self) -> Vec<Tensor> {
        Vec::new()
    }
}
