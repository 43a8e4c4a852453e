//! The NN ops as free functions with PyTorch's defaults (`torch.nn.functional`).

use super::{Padding2d, Reduction};
use crate::error::Result;
use crate::tensor::Tensor;

pub fn relu(x: &Tensor) -> Result<Tensor> {
    x.relu()
}

pub fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    x.linear(weight, bias)
}

/// `conv2d(x, w, b, stride=1, padding=padding, dilation=1, groups=1)`.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
) -> Result<Tensor> {
    x.conv2d(
        weight,
        bias,
        [1, 1],
        Padding2d::Explicit([padding; 2]),
        [1, 1],
        1,
    )
}

/// `max_pool2d(x, k)`: stride `k`, no padding.
pub fn max_pool2d(x: &Tensor, kernel_size: usize) -> Result<Tensor> {
    Ok(
        x.max_pool2d([kernel_size; 2], [kernel_size; 2], [0, 0], [1, 1], false)?
            .0,
    )
}

pub fn softmax(x: &Tensor, dim: i64) -> Result<Tensor> {
    x.softmax(dim)
}

pub fn log_softmax(x: &Tensor, dim: i64) -> Result<Tensor> {
    x.log_softmax(dim)
}

/// Mean cross-entropy of scores against int64 class indices.
pub fn cross_entropy(input: &Tensor, target: &Tensor) -> Result<Tensor> {
    input.cross_entropy(target, None, -100, Reduction::Mean, 0.0)
}

/// Mean squared error.
pub fn mse_loss(input: &Tensor, target: &Tensor) -> Result<Tensor> {
    input.mse_loss(target, Reduction::Mean)
}

pub fn dropout(x: &Tensor, p: f64, training: bool) -> Result<Tensor> {
    x.dropout(p, training)
}
