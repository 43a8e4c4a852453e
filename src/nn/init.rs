//! Parameter initialisation with PyTorch's distributions (`torch.nn.init`).

use crate::autograd::no_grad;
use crate::error::Result;
use crate::storage::{DType, Device};
use crate::tensor::Tensor;

/// Uniform samples in `[low, high)`.
pub fn uniform(shape: &[usize], low: f64, high: f64) -> Result<Tensor> {
    no_grad(|| {
        Tensor::rand(shape, DType::F32, Device::Cpu, None)?
            .mul_scalar(high - low)?
            .add_scalar(low)
    })
}

/// (fan_in, fan_out) of a weight of `shape`, as PyTorch computes them.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    let receptive: usize = shape.iter().skip(2).product();
    let fan_in = shape.get(1).copied().unwrap_or(1) * receptive;
    let fan_out = shape.first().copied().unwrap_or(1) * receptive;
    (fan_in, fan_out)
}

/// `kaiming_uniform_(w, a=sqrt(5))`, the default init of Linear and Conv2d weights:
/// bound = sqrt(6 / ((1 + a^2) fan_in)) = 1 / sqrt(fan_in).
pub fn default_weight(shape: &[usize]) -> Result<Tensor> {
    let (fan_in, _) = fans(shape);
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    uniform(shape, -bound, bound)
}

/// The default bias init of Linear and Conv2d: uniform in `±1 / sqrt(fan_in)`.
pub fn default_bias(len: usize, fan_in: usize) -> Result<Tensor> {
    let bound = if fan_in > 0 {
        1.0 / (fan_in as f64).sqrt()
    } else {
        0.0
    };
    uniform(&[len], -bound, bound)
}
