//! Linear, Conv2d, MaxPool2d, ReLU and Sequential.

use super::{init, Module, Padding2d};
use crate::error::{ensure, Error, Result};
use crate::tensor::Tensor;

/// `y = x W^T + b`.
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn new(in_features: usize, out_features: usize, bias: bool) -> Result<Linear> {
        let weight = init::default_weight(&[out_features, in_features])?.requires_grad_(true)?;
        let bias = if bias {
            Some(init::default_bias(out_features, in_features)?.requires_grad_(true)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }
}

impl Module for Linear {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.linear(&self.weight, self.bias.as_ref())
    }
    fn parameters(&self) -> Vec<Tensor> {
        std::iter::once(self.weight.clone())
            .chain(self.bias.clone())
            .collect()
    }
}

/// 2-D convolution over `(N, C, H, W)` input.
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub stride: [usize; 2],
    pub padding: Padding2d,
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Conv2d {
    /// A square-kernel convolution with stride 1, `padding` on each side, no dilation, one group.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        padding: usize,
    ) -> Result<Conv2d> {
        Conv2d::with_options(
            in_channels,
            out_channels,
            [kernel_size; 2],
            [1, 1],
            Padding2d::Explicit([padding; 2]),
            [1, 1],
            1,
            true,
        )
    }

    /// Every option of `nn.Conv2d`.
    #[allow(clippy::too_many_arguments)]
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: Padding2d,
        dilation: [usize; 2],
        groups: usize,
        bias: bool,
    ) -> Result<Conv2d> {
        ensure!(
            groups > 0,
            Error::value("groups must be a positive integer")
        );
        ensure!(
            in_channels.is_multiple_of(groups),
            Error::value("in_channels must be divisible by groups")
        );
        ensure!(
            out_channels.is_multiple_of(groups),
            Error::value("out_channels must be divisible by groups")
        );
        let shape = [
            out_channels,
            in_channels / groups,
            kernel_size[0],
            kernel_size[1],
        ];
        let weight = init::default_weight(&shape)?.requires_grad_(true)?;
        let fan_in = init::fans(&shape).0;
        let bias = if bias {
            Some(init::default_bias(out_channels, fan_in)?.requires_grad_(true)?)
        } else {
            None
        };
        Ok(Conv2d {
            weight,
            bias,
            stride,
            padding,
            dilation,
            groups,
        })
    }
}

impl Module for Conv2d {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.conv2d(
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )
    }
    fn parameters(&self) -> Vec<Tensor> {
        std::iter::once(self.weight.clone())
            .chain(self.bias.clone())
            .collect()
    }
}

/// Max pooling over the last two dims.
pub struct MaxPool2d {
    pub kernel_size: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub ceil_mode: bool,
}

impl MaxPool2d {
    /// A square window with stride equal to the window (PyTorch's default).
    pub fn new(kernel_size: usize) -> MaxPool2d {
        MaxPool2d {
            kernel_size: [kernel_size; 2],
            stride: [kernel_size; 2],
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
        }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Ok(input
            .max_pool2d(
                self.kernel_size,
                self.stride,
                self.padding,
                self.dilation,
                self.ceil_mode,
            )?
            .0)
    }
}

/// `max(x, 0)`.
pub struct ReLU;

impl Module for ReLU {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.relu()
    }
}

/// Layers applied in order.
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential::default()
    }
    /// Appends a layer (builder style).
    pub fn push(mut self, layer: impl Module + 'static) -> Sequential {
        self.layers.push(Box::new(layer));
        self
    }
    pub fn len(&self) -> usize {
        self.layers.len()
    }
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Module for Sequential {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        let mut x = input.clone();
        for layer in &self.layers {
            x = layer.forward(&x)?;
        }
        Ok(x)
    }
    fn parameters(&self) -> Vec<Tensor> {
        self.layers.iter().flat_map(|l| l.parameters()).collect()
    }
}
