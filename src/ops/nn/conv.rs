//! conv2d and conv_transpose2d: PyTorch's argument checks and messages, the geometry, and the
//! autograd rules; the forward kernel and a backward kernel that computes the input, weight and
//! bias gradients in one pass are each backend's (ConvKernels in backend/kernels.rs).
//!
//! For higher-order gradients the two halves of the backward are ops of their own
//! ([`conv_input_grad`], [`conv_weight_grad`]); the three ops are bilinear and each one's
//! derivatives are the other two, so gradients of any order stay exact.

use crate::autograd::{grad0, is_grad_enabled, record, Saved};
use crate::backend::geometry::{ConvGeom, ConvNeeds};
use crate::backend::{run, tensor};
use crate::error::{ensure, fmt_shape, Error, Result};
use crate::ops::common_device;
use crate::ops::nn::kernel_operand;
use crate::tensor::Tensor;

/// Padding of a 2-D convolution.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Padding2d {
    /// Zero padding of (height, width) on both sides.
    Explicit([usize; 2]),
    /// Output the size of the input (stride 1 only); odd totals pad one more at the end.
    Same,
    /// No padding.
    Valid,
}

impl Padding2d {
    /// `"same"` or `"valid"`, with PyTorch's message for anything else.
    pub fn parse(s: &str) -> Result<Padding2d> {
        match s {
            "same" => Ok(Padding2d::Same),
            "valid" => Ok(Padding2d::Valid),
            other => Err(Error::runtime(format!("Invalid padding string: '{other}'"))),
        }
    }
}

impl Tensor {
    /// 2-D convolution (cross-correlation) of `(N, C, H, W)` or unbatched `(C, H, W)` input with
    /// `weight` `(O, C / groups, kh, kw)`, as `torch.nn.functional.conv2d`.
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: [usize; 2],
        padding: Padding2d,
        dilation: [usize; 2],
        groups: usize,
    ) -> Result<Tensor> {
        batched("conv2d", self, weight, bias, |x| {
            let geom = conv_geometry(x, weight, bias, stride, padding, dilation, groups)?;
            conv_forward(x, weight, bias, geom)
        })
    }

    /// 2-D transposed convolution of `(N, C_in, H, W)` or unbatched `(C_in, H, W)` input with
    /// `weight` `(C_in, C_out / groups, kh, kw)`, as `torch.nn.functional.conv_transpose2d`:
    /// the input gradient of the convolution whose output it takes, so it runs on the conv
    /// backward kernels (and its own backward on the forward and weight-gradient ones).
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: [usize; 2],
        padding: [usize; 2],
        output_padding: [usize; 2],
        groups: usize,
        dilation: [usize; 2],
    ) -> Result<Tensor> {
        batched("conv_transpose2d", self, weight, bias, |x| {
            let geom = transpose_geometry(
                x,
                weight,
                bias,
                stride,
                padding,
                output_padding,
                groups,
                dilation,
            )?;
            let out = conv_input_grad(x, weight, geom)?;
            match bias {
                Some(b) => out.add(&b.reshape_dims(&[1, geom.c, 1, 1])?),
                None => Ok(out),
            }
        })
    }
}

/// The checks a convolution and a transposed one share, in PyTorch's order.
fn check_args(
    xs: &[usize],
    ws: &[usize],
    stride: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> Result<()> {
    ensure!(
        stride.iter().all(|&s| s > 0),
        Error::runtime("non-positive stride is not supported")
    );
    ensure!(
        dilation.iter().all(|&d| d > 0),
        Error::runtime("dilation should be greater than zero")
    );
    ensure!(
        groups > 0,
        Error::runtime("non-positive groups is not supported")
    );
    ensure!(
        ws.len() == xs.len(),
        Error::runtime(format!(
            "Expected {}-dimensional input for {}-dimensional weight {}, but got {}-dimensional input of size {} instead",
            ws.len(),
            ws.len(),
            fmt_shape(ws),
            xs.len(),
            fmt_shape(xs)
        ))
    );
    Ok(())
}

/// Runs `f` on `x` with a batch dim: the device check, PyTorch's 3D-or-4D check, and an unbatched
/// `(C, H, W)` input given a batch of one (removed again from the result).
fn batched(
    op: &str,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    f: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let mut all = vec![x, weight];
    all.extend(bias);
    common_device(&all)?;
    let xs = x.shape();
    ensure!(
        xs.len() == 3 || xs.len() == 4,
        Error::runtime(format!(
            "Expected 3D (unbatched) or 4D (batched) input to {op}, but got input of size: {}",
            fmt_shape(&xs)
        ))
    );
    if xs.len() == 3 {
        f(&x.unsqueeze(0)?)?.squeeze(Some(0))
    } else {
        f(x)
    }
}

/// PyTorch's checks for a transposed convolution, in its order, and the geometry of the
/// convolution it is the input gradient of (whose input is the transposed one's output).
#[allow(clippy::too_many_arguments)]
fn transpose_geometry(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: [usize; 2],
    padding: [usize; 2],
    output_padding: [usize; 2],
    groups: usize,
    dilation: [usize; 2],
) -> Result<ConvGeom> {
    let (xs, ws) = (x.shape(), weight.shape());
    check_args(&xs, &ws, stride, dilation, groups)?;
    ensure!(
        (0..2).all(|i| output_padding[i] < stride[i] || output_padding[i] < dilation[i]),
        Error::runtime(format!(
            "output padding must be smaller than either stride or dilation, but got \
             output_padding_height: {} output_padding_width: {} stride_height: {} stride_width: {} \
             dilation_height: {} dilation_width: {}",
            output_padding[0], output_padding[1], stride[0], stride[1], dilation[0], dilation[1]
        ))
    );
    ensure!(
        ws[0] % groups == 0,
        Error::runtime(format!(
            "Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight of size [{}] instead",
            fmt_shape(&ws)
        ))
    );
    ensure!(
        xs[1] == ws[0],
        Error::runtime(format!(
            "Given transposed=1, weight of size {}, expected input{} to have {} channels, but got {} channels instead",
            fmt_shape(&ws),
            fmt_shape(&xs),
            ws[0],
            xs[1]
        ))
    );
    let c_out = ws[1] * groups;
    if let Some(b) = bias {
        ensure!(
            b.shape()[..] == [c_out],
            Error::runtime(format!(
                "Given transposed=1, weight of size {}, expected bias to be 1-dimensional with {c_out} elements, but got bias of size {} instead",
                fmt_shape(&ws),
                fmt_shape(&b.shape())
            ))
        );
    }
    // (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
    let size = |i: usize| -> i64 {
        (xs[2 + i] as i64 - 1) * stride[i] as i64 - 2 * padding[i] as i64
            + dilation[i] as i64 * (ws[2 + i] as i64 - 1)
            + output_padding[i] as i64
            + 1
    };
    let (oh, ow) = (size(0), size(1));
    ensure!(
        oh > 0 && ow > 0,
        Error::runtime(format!(
            "Given input size per channel: ({} x {}). Calculated output size per channel: ({oh} x {ow}). Output size is too small",
            xs[2], xs[3]
        ))
    );
    for t in std::iter::once(weight).chain(bias) {
        ensure!(
            t.dtype() == x.dtype(),
            Error::runtime(format!(
                "expected scalar type {} but found {}",
                x.dtype().scalar_name(),
                t.dtype().scalar_name()
            ))
        );
    }
    ensure!(
        x.dtype().is_floating_point(),
        Error::not_implemented_for("slow_conv_transpose2d_cpu", x.dtype())
    );
    Ok(ConvGeom {
        n: xs[0],
        c: c_out,
        h: oh as usize,
        w: ow as usize,
        o: ws[0],
        kh: ws[2],
        kw: ws[3],
        oh: xs[2],
        ow: xs[3],
        stride,
        pad: padding,
        dilation,
        groups,
    })
}

/// PyTorch's checks (`check_shape_forward` and friends), in its order, and the geometry.
fn conv_geometry(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: [usize; 2],
    padding: Padding2d,
    dilation: [usize; 2],
    groups: usize,
) -> Result<ConvGeom> {
    let (xs, ws) = (x.shape(), weight.shape());
    check_args(&xs, &ws, stride, dilation, groups)?;
    ensure!(
        ws[0] >= groups,
        Error::runtime(format!(
            "Given groups={groups}, expected weight to be at least {groups} at dimension 0, but got weight of size {} instead",
            fmt_shape(&ws)
        ))
    );
    ensure!(
        ws[0] % groups == 0,
        Error::runtime(format!(
            "Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight of size [{}] instead",
            fmt_shape(&ws)
        ))
    );
    ensure!(
        xs[1] == ws[1] * groups,
        Error::runtime(format!(
            "Given groups={groups}, weight of size {}, expected input{} to have {} channels, but got {} channels instead",
            fmt_shape(&ws),
            fmt_shape(&xs),
            ws[1] * groups,
            xs[1]
        ))
    );
    if let Some(b) = bias {
        let bs = b.shape();
        ensure!(
            bs.len() == 1 && bs[0] == ws[0],
            Error::runtime(format!(
                "Given weight of size {}, expected bias to be 1-dimensional with {} elements, but got bias of size {} instead",
                fmt_shape(&ws),
                ws[0],
                fmt_shape(&bs)
            ))
        );
    }
    let eff = [dilation[0] * (ws[2] - 1) + 1, dilation[1] * (ws[3] - 1) + 1];
    // (before, after) padding per axis.
    let pads: [[usize; 2]; 2] = match padding {
        Padding2d::Explicit(p) => [[p[0], p[0]], [p[1], p[1]]],
        Padding2d::Valid => [[0, 0], [0, 0]],
        Padding2d::Same => {
            ensure!(
                stride == [1, 1],
                Error::runtime("padding='same' is not supported for strided convolutions")
            );
            let total = [eff[0] - 1, eff[1] - 1];
            [
                [total[0] / 2, total[0] - total[0] / 2],
                [total[1] / 2, total[1] - total[1] / 2],
            ]
        }
    };
    let padded = [
        xs[2] + pads[0][0] + pads[0][1],
        xs[3] + pads[1][0] + pads[1][1],
    ];
    if padded[0] < eff[0] || padded[1] < eff[1] {
        return Err(Error::runtime(format!(
            "Calculated padded input size per channel: ({} x {}). Kernel size: ({} x {}). Kernel size can't be greater than actual input size",
            padded[0], padded[1], eff[0], eff[1]
        )));
    }
    ensure!(
        x.dtype() == weight.dtype(),
        Error::runtime(format!(
            "Input type ({}) and weight type ({}) should be the same",
            x.dtype().legacy_name(),
            weight.dtype().legacy_name()
        ))
    );
    if let Some(b) = bias {
        ensure!(
            b.dtype() == x.dtype(),
            Error::runtime(format!(
                "Input type ({}) and bias type ({}) should be the same",
                x.dtype().legacy_name(),
                b.dtype().legacy_name()
            ))
        );
    }
    ensure!(
        x.dtype().is_floating_point(),
        Error::not_implemented_for("slow_conv2d_cpu", x.dtype())
    );
    Ok(ConvGeom {
        n: xs[0],
        c: xs[1],
        h: xs[2],
        w: xs[3],
        o: ws[0],
        kh: ws[2],
        kw: ws[3],
        oh: (padded[0] - eff[0]) / stride[0] + 1,
        ow: (padded[1] - eff[1]) / stride[1] + 1,
        stride,
        pad: [pads[0][0], pads[1][0]],
        dilation,
        groups,
    })
}

fn out_shape(g: &ConvGeom) -> [usize; 4] {
    [g.n, g.o, g.oh, g.ow]
}

fn in_shape(g: &ConvGeom) -> [usize; 4] {
    [g.n, g.c, g.h, g.w]
}

fn weight_shape(g: &ConvGeom) -> [usize; 4] {
    [g.o, g.cg(), g.kh, g.kw]
}

/// The forward op on a checked geometry (also the derivative of the two backward ops).
/// The forward kernel (no autograd) on the device of the operands.
fn forward_kernel(x: &Tensor, w: &Tensor, b: Option<&Tensor>, geom: &ConvGeom) -> Result<Tensor> {
    let (xc, wc) = (kernel_operand(x)?, kernel_operand(w)?);
    let bc = b.map(kernel_operand).transpose()?;
    let out = run!(B: x = &xc, w = &wc, b = bc.as_ref() => B::conv2d_forward(x, w, b, geom));
    Ok(tensor(out, &out_shape(geom)))
}

fn conv_forward(x: &Tensor, w: &Tensor, b: Option<&Tensor>, geom: ConvGeom) -> Result<Tensor> {
    let out = forward_kernel(x, w, b, &geom)?;
    let mut inputs = vec![x, w];
    inputs.extend(b);
    let has_bias = b.is_some();
    record(
        "ConvolutionBackward0",
        &inputs,
        &[&out],
        || vec![Saved::Input(0), Saved::Input(1)],
        move |ctx, grads| {
            let (x, w) = (ctx.saved(0), ctx.saved(1));
            let g = grad0(grads)?.to_dtype(x.dtype())?;
            let needs = ConvNeeds {
                input: ctx.needs_input_grad(0),
                weight: ctx.needs_input_grad(1),
                bias: has_bias && ctx.needs_input_grad(2),
            };
            let (gx, gw, gb) = if is_grad_enabled() {
                (
                    needs
                        .input
                        .then(|| conv_input_grad(&g, w, geom))
                        .transpose()?,
                    needs
                        .weight
                        .then(|| conv_weight_grad(&g, x, geom))
                        .transpose()?,
                    needs
                        .bias
                        .then(|| g.sum_dims(&[0, 2, 3], false))
                        .transpose()?,
                )
            } else {
                backward_kernel(&g, Some(x), Some(w), geom, needs)?
            };
            let mut out = vec![gx, gw];
            if has_bias {
                out.push(gb);
            }
            Ok(out)
        },
    )?;
    Ok(out)
}

type Grads = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

/// The fused backward kernel: whichever of the three gradients `needs` asks for.
fn backward_kernel(
    g: &Tensor,
    x: Option<&Tensor>,
    w: Option<&Tensor>,
    geom: ConvGeom,
    needs: ConvNeeds,
) -> Result<Grads> {
    let gc = kernel_operand(g)?;
    let xc = match x {
        Some(x) if needs.weight => Some(kernel_operand(x)?),
        _ => None,
    };
    let wc = match w {
        Some(w) if needs.input => Some(kernel_operand(w)?),
        _ => None,
    };
    let (gx, gw, gb) = run!(B: g = &gc, x = xc.as_ref(), w = wc.as_ref() =>
        B::conv2d_backward(g, x, w, &geom, needs));
    Ok((
        gx.map(|d| tensor(d, &in_shape(&geom))),
        gw.map(|d| tensor(d, &weight_shape(&geom))),
        gb.map(|d| tensor(d, &[geom.o])),
    ))
}

/// The input gradient `conv_transpose(g, w)` as an op of `(g, w)`.
fn conv_input_grad(g: &Tensor, w: &Tensor, geom: ConvGeom) -> Result<Tensor> {
    let needs = ConvNeeds {
        input: true,
        ..Default::default()
    };
    let (gx, _, _) = backward_kernel(g, None, Some(w), geom, needs)?;
    let out = gx.ok_or_else(|| Error::internal("conv2d input gradient missing"))?;
    record(
        "ConvolutionBackwardBackward0",
        &[g, w],
        &[&out],
        || vec![Saved::Input(0), Saved::Input(1)],
        move |ctx, grads| {
            // <u, dx(g, w)> = <conv(u, w), g>
            let (g, w) = (ctx.saved(0), ctx.saved(1));
            let u = grad0(grads)?.to_dtype(g.dtype())?;
            let dg = ctx
                .needs_input_grad(0)
                .then(|| conv_forward(&u, w, None, geom))
                .transpose()?;
            let dw = ctx
                .needs_input_grad(1)
                .then(|| conv_weight_grad(g, &u, geom))
                .transpose()?;
            Ok(vec![dg, dw])
        },
    )?;
    Ok(out)
}

/// The weight gradient `sum_n g_n @ cols(x_n)^T` as an op of `(g, x)`.
fn conv_weight_grad(g: &Tensor, x: &Tensor, geom: ConvGeom) -> Result<Tensor> {
    let needs = ConvNeeds {
        weight: true,
        ..Default::default()
    };
    let (_, gw, _) = backward_kernel(g, Some(x), None, geom, needs)?;
    let out = gw.ok_or_else(|| Error::internal("conv2d weight gradient missing"))?;
    record(
        "ConvolutionBackwardBackward0",
        &[g, x],
        &[&out],
        || vec![Saved::Input(0), Saved::Input(1)],
        move |ctx, grads| {
            // <v, dw(g, x)> = <g, conv(x, v)>
            let (g, x) = (ctx.saved(0), ctx.saved(1));
            let v = grad0(grads)?.to_dtype(g.dtype())?;
            let dg = ctx
                .needs_input_grad(0)
                .then(|| conv_forward(x, &v, None, geom))
                .transpose()?;
            let dx = ctx
                .needs_input_grad(1)
                .then(|| conv_input_grad(g, &v, geom))
                .transpose()?;
            Ok(vec![dg, dx])
        },
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, Device};

    fn t(shape: &[usize]) -> Tensor {
        Tensor::zeros(shape, DType::F32, Device::Cpu).unwrap()
    }

    #[test]
    fn channel_mismatch_message() {
        let err = t(&[8, 3, 28, 28])
            .conv2d(
                &t(&[32, 1, 3, 3]),
                None,
                [1, 1],
                Padding2d::Explicit([0, 0]),
                [1, 1],
                1,
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Given groups=1, weight of size [32, 1, 3, 3], expected input[8, 3, 28, 28] to have 1 channels, but got 3 channels instead"
        );
    }

    #[test]
    fn same_padding_output_and_errors() {
        let y = t(&[1, 2, 8, 8])
            .conv2d(&t(&[3, 2, 4, 4]), None, [1, 1], Padding2d::Same, [1, 1], 1)
            .unwrap();
        assert_eq!(y.shape().as_slice(), &[1, 3, 8, 8]);
        let err = t(&[1, 2, 8, 8])
            .conv2d(&t(&[3, 2, 3, 3]), None, [2, 2], Padding2d::Same, [1, 1], 1)
            .unwrap_err();
        assert!(err.to_string().contains("not supported for strided"));
        let err = t(&[1, 2, 2, 2])
            .conv2d(&t(&[3, 2, 3, 3]), None, [1, 1], Padding2d::Valid, [1, 1], 1)
            .unwrap_err();
        assert!(err
            .to_string()
            .ends_with("Kernel size can't be greater than actual input size"));
    }
}
