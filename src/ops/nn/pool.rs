//! Pooling: max_pool2d (with indices), avg_pool2d and adaptive_avg_pool2d, with PyTorch's
//! output-size rules and messages.

use std::sync::Arc;

use crate::autograd::{grad0, is_grad_enabled, record, Saved};
use crate::backend::geometry::{self, AvgGeom, MaxPoolGeom};
use crate::backend::{run, tensor};
use crate::error::{ensure, fmt_shape, Error, Result};
use crate::ops::nn::{apply_linear, kernel_operand, LinearMap};
use crate::tensor::{Dims, Tensor};

/// (planes, H, W) of a 3-D or 4-D pooling input, with PyTorch's message otherwise.
fn planes_of(x: &Tensor) -> Result<(usize, usize, usize)> {
    let s = x.shape();
    let nd = s.len();
    ensure!(
        nd == 3 || nd == 4,
        Error::runtime("non-empty 3D or 4D (batch mode) tensor expected for input")
    );
    let ok = (nd == 3 && s[0] != 0 && s[1] != 0 && s[2] != 0)
        || (nd == 4 && s[1] != 0 && s[2] != 0 && s[3] != 0);
    ensure!(
        ok,
        Error::runtime(format!(
            "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:{}",
            fmt_shape(&s)
        ))
    );
    Ok((s[..nd - 2].iter().product(), s[nd - 2], s[nd - 1]))
}

/// Output size along one axis (PyTorch's `pooling_output_shape`, with its padding check).
fn output_size(
    input: usize,
    kernel: usize,
    pad: usize,
    stride: usize,
    dilation: usize,
    ceil_mode: bool,
) -> Result<i64> {
    ensure!(
        pad <= ((kernel - 1) * dilation).div_ceil(2),
        Error::runtime(format!(
            "pad should be at most half of effective kernel size, but got pad={pad}, kernel_size={kernel} and dilation={dilation}"
        ))
    );
    Ok(geometry::pooling_output_size(
        input, kernel, pad, stride, dilation, ceil_mode,
    ))
}

/// Both output sizes, or PyTorch's "Output size is too small".
#[allow(clippy::too_many_arguments)]
fn output_hw(
    x: &Tensor,
    (h, w): (usize, usize),
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
) -> Result<(usize, usize)> {
    ensure!(
        kernel[0] > 0 && kernel[1] > 0,
        Error::runtime(format!(
            "kernel size should be greater than zero, but got kH: {} kW: {}",
            kernel[0], kernel[1]
        ))
    );
    ensure!(
        stride[0] > 0 && stride[1] > 0,
        Error::runtime("stride should not be zero")
    );
    ensure!(
        dilation[0] > 0 && dilation[1] > 0,
        Error::runtime(format!(
            "dilation should be greater than zero, but got dilationH: {} dilationW: {}",
            dilation[0], dilation[1]
        ))
    );
    let oh = output_size(h, kernel[0], padding[0], stride[0], dilation[0], ceil_mode)?;
    let ow = output_size(w, kernel[1], padding[1], stride[1], dilation[1], ceil_mode)?;
    if oh < 1 || ow < 1 {
        let s = x.shape();
        let c = if s.len() == 4 { s[1] } else { s[0] };
        return Err(Error::runtime(format!(
            "Given input size: ({c}x{h}x{w}). Calculated output size: ({c}x{oh}x{ow}). Output size is too small"
        )));
    }
    Ok((oh as usize, ow as usize))
}

/// The input's shape with the last two dims replaced.
fn pooled_shape(x: &Tensor, oh: usize, ow: usize) -> Dims {
    let mut s = x.shape();
    let nd = s.len();
    s[nd - 2] = oh;
    s[nd - 1] = ow;
    s
}

/// The max-pooling kernel (values and indices) on the operand's device.
fn max_pool_forward(xc: &Tensor, geom: &MaxPoolGeom, shape: &[usize]) -> Result<(Tensor, Tensor)> {
    let (v, i) = run!(B: x = xc => B::max_pool2d_forward(x, geom));
    Ok((tensor(v, shape), tensor(i, shape)))
}

/// The fused max-pooling backward: each gradient added at its argmax.
fn max_pool_backward(
    gc: &Tensor,
    ic: &Tensor,
    geom: &MaxPoolGeom,
    in_shape: &[usize],
) -> Result<Tensor> {
    let d = run!(B: g = gc, i = ic => B::max_pool2d_backward(g, i, geom));
    Ok(tensor(d, in_shape))
}

impl Tensor {
    /// Max pooling over the last two dims of a `(N, C, H, W)` or `(C, H, W)` input; returns the
    /// maxima and, as int64, the flat index of each maximum within its `H * W` plane.
    pub fn max_pool2d(
        &self,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        ceil_mode: bool,
    ) -> Result<(Tensor, Tensor)> {
        let (planes, h, w) = planes_of(self)?;
        let (oh, ow) = output_hw(self, (h, w), kernel, stride, padding, dilation, ceil_mode)?;
        ensure!(
            self.dtype().is_floating_point(),
            Error::not_implemented_for("max_pool2d", self.dtype())
        );
        let geom = MaxPoolGeom {
            planes,
            h,
            w,
            oh,
            ow,
            kernel,
            stride,
            pad: padding,
            dilation,
        };
        let xc = kernel_operand(self)?;
        let shape = pooled_shape(self, oh, ow);
        let (out, idx) = max_pool_forward(&xc, &geom, &shape)?;
        let in_shape = self.shape();
        let saved_idx = idx.clone();
        record(
            "MaxPool2DWithIndicesBackward0",
            &[self],
            &[&out, &idx],
            || vec![Saved::Aux(saved_idx)],
            move |ctx, grads| {
                let g = grad0(grads)?;
                let idx = ctx.saved(0);
                let gx = if is_grad_enabled() {
                    // Differentiable form: scatter-add into each plane (its backward is a gather).
                    let (hw, ohw) = (geom.h * geom.w, geom.oh * geom.ow);
                    let z = Tensor::zeros(&[geom.planes, hw], g.dtype(), g.device())?;
                    z.scatter_add(
                        1,
                        &idx.reshape_dims(&[geom.planes, ohw])?,
                        &g.reshape_dims(&[geom.planes, ohw])?,
                    )?
                    .reshape_dims(&in_shape)?
                } else {
                    let (gc, ic) = (kernel_operand(g)?, kernel_operand(idx)?);
                    max_pool_backward(&gc, &ic, &geom, &in_shape)?
                };
                Ok(vec![Some(gx)])
            },
        )?;
        Ok((out, idx))
    }

    /// Average pooling over the last two dims, as `torch.nn.functional.avg_pool2d`.
    pub fn avg_pool2d(
        &self,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        ceil_mode: bool,
        count_include_pad: bool,
        divisor_override: Option<i64>,
    ) -> Result<Tensor> {
        ensure!(
            divisor_override != Some(0),
            Error::runtime("divisor must be not zero")
        );
        let (planes, h, w) = planes_of(self)?;
        let (oh, ow) = output_hw(self, (h, w), kernel, stride, padding, [1, 1], ceil_mode)?;
        ensure!(
            self.dtype().is_floating_point(),
            Error::not_implemented_for("avg_pool2d_out_frame", self.dtype())
        );
        let geom = AvgGeom {
            planes,
            h,
            w,
            rows: geometry::avg_windows(h, kernel[0], stride[0], padding[0], oh, count_include_pad),
            cols: geometry::avg_windows(w, kernel[1], stride[1], padding[1], ow, count_include_pad),
            divisor: divisor_override.map(|d| d as f64),
        };
        apply_linear(
            AvgMap::new(geom, self.shape(), pooled_shape(self, oh, ow), false),
            self,
        )
    }

    /// Average pooling to a fixed `(OH, OW)`, as `torch.nn.functional.adaptive_avg_pool2d`.
    pub fn adaptive_avg_pool2d(&self, output_size: [usize; 2]) -> Result<Tensor> {
        let s = self.shape();
        ensure!(
            s.len() == 3 || s.len() == 4,
            Error::runtime(format!(
                "adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {}",
                fmt_shape(&s)
            ))
        );
        for (d, &size) in s.iter().enumerate().skip(s.len() - 3) {
            ensure!(
                size > 0 || (d == 0 && s.len() == 4),
                Error::runtime(format!(
                    "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has sizes {} with dimension {d} being empty",
                    fmt_shape(&s)
                ))
            );
        }
        ensure!(
            self.dtype().is_floating_point(),
            Error::not_implemented_for("adaptive_avg_pool2d", self.dtype())
        );
        let nd = s.len();
        let (h, w) = (s[nd - 2], s[nd - 1]);
        let [oh, ow] = output_size;
        let geom = AvgGeom {
            planes: s[..nd - 2].iter().product(),
            h,
            w,
            rows: geometry::adaptive_windows(h, oh),
            cols: geometry::adaptive_windows(w, ow),
            divisor: None,
        };
        apply_linear(
            AvgMap::new(geom, s.clone(), pooled_shape(self, oh, ow), true),
            self,
        )
    }
}

/// avg_pool2d / adaptive_avg_pool2d as a linear map (its adjoint spreads gradients back).
#[derive(Clone)]
struct AvgMap {
    geom: Arc<AvgGeom>,
    in_shape: Dims,
    out_shape: Dims,
    adaptive: bool,
}

impl AvgMap {
    fn new(geom: AvgGeom, in_shape: Dims, out_shape: Dims, adaptive: bool) -> Self {
        AvgMap {
            geom: Arc::new(geom),
            in_shape,
            out_shape,
            adaptive,
        }
    }

    fn run(&self, t: &Tensor, forward: bool) -> Result<Tensor> {
        let tc = kernel_operand(t)?;
        let geom = &self.geom;
        let shape = if forward {
            &self.out_shape
        } else {
            &self.in_shape
        };
        let data = run!(B: x = &tc => B::avg_pool2d(x, geom, forward));
        Ok(tensor(data, shape))
    }
}

impl LinearMap for AvgMap {
    fn name(&self) -> &'static str {
        if self.adaptive {
            "AdaptiveAvgPool2DBackward0"
        } else {
            "AvgPool2DBackward0"
        }
    }
    fn adjoint_name(&self) -> &'static str {
        if self.adaptive {
            "AdaptiveAvgPool2DBackwardBackward0"
        } else {
            "AvgPool2DBackwardBackward0"
        }
    }
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, true)
    }
    fn adjoint(&self, g: &Tensor) -> Result<Tensor> {
        self.run(g, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, Device};

    #[test]
    fn pool_messages() {
        let x = Tensor::zeros(&[1, 3, 9, 10], DType::F32, Device::Cpu).unwrap();
        let err = x
            .max_pool2d([3, 3], [1, 1], [2, 2], [1, 1], false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and dilation=1"
        );
        let small = Tensor::zeros(&[3, 2, 2], DType::F32, Device::Cpu).unwrap();
        let err = small
            .avg_pool2d([3, 3], [1, 1], [0, 0], false, true, None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Given input size: (3x2x2). Calculated output size: (3x0x0). Output size is too small"
        );
    }

    #[test]
    fn max_pool_values_and_indices() {
        let x = Tensor::from_slice(
            &(0..16).map(|v| v as f32).collect::<Vec<_>>(),
            &[1, 1, 4, 4],
        )
        .unwrap();
        let (v, i) = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false).unwrap();
        assert_eq!(v.to_vec::<f32>().unwrap(), vec![5.0, 7.0, 13.0, 15.0]);
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![5, 7, 13, 15]);
        assert_eq!(i.dtype(), DType::I64);
    }
}
