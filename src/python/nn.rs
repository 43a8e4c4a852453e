//! Bindings of the neural-network ops (`rustgrad._C` functions used by `rustgrad.nn.functional`).
//!
//! Arguments arrive normalised by the Python layer (pairs as tuples, defaults resolved); the
//! bindings still accept a single int for a pair and refuse negative sizes with PyTorch's
//! messages, so that `_C` is safe to call directly. A convolution's checks are the op's: its
//! bindings refuse only a negative padding, which the op's unsigned arguments cannot hold.

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PySequence, PyString};
use pyo3::IntoPyObjectExt;

use super::convert;
use super::tensor::PyTensor;
use super::{compute, IntoPy};
use crate::ops::nn::interpolate::InterpolateMode;
use crate::ops::nn::{Padding2d, Reduction};

type R = PyResult<PyTensor>;

/// An int or a sequence of one or two ints, as a pair of i64 (`what` names it in errors).
fn pair_i64(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<[i64; 2]> {
    let v = convert::int_list(obj, what)?;
    match v.as_slice() {
        [a] => Ok([*a, *a]),
        [a, b] => Ok([*a, *b]),
        _ => Err(PyRuntimeError::new_err(format!(
            "{what} must either be a single int, or a tuple of two ints"
        ))),
    }
}

/// A pair of ints, or `default` when absent, None or an empty sequence.
fn pair_or(obj: Option<&Bound<'_, PyAny>>, what: &str, default: [i64; 2]) -> PyResult<[i64; 2]> {
    let Some(o) = obj.filter(|o| !o.is_none()) else {
        return Ok(default);
    };
    if let Ok(seq) = o.cast::<PySequence>() {
        if !o.is_instance_of::<PyString>() && seq.len()? == 0 {
            return Ok(default);
        }
    }
    pair_i64(o, what)
}

/// A pair of sizes (or `default` when absent/None); `negative` is the message for values below
/// `min`.
fn pair(
    obj: Option<&Bound<'_, PyAny>>,
    what: &str,
    default: [usize; 2],
    min: i64,
    negative: &str,
) -> PyResult<[usize; 2]> {
    let p = pair_or(obj, what, default.map(|v| v as i64))?;
    if p.iter().any(|&v| v < min) {
        return Err(PyRuntimeError::new_err(negative.to_string()));
    }
    Ok(p.map(|v| v as usize))
}

/// A convolution's stride, dilation and groups, for the op to check: a negative value becomes 0,
/// which the op refuses with PyTorch's message for every non-positive value.
fn conv_args(
    stride: Option<&Bound<'_, PyAny>>,
    dilation: Option<&Bound<'_, PyAny>>,
    groups: i64,
) -> PyResult<([usize; 2], [usize; 2], usize)> {
    let non_negative = |p: [i64; 2]| p.map(|v| v.max(0) as usize);
    let stride = non_negative(pair_or(stride, "stride", [1, 1])?);
    let dilation = non_negative(pair_or(dilation, "dilation", [1, 1])?);
    Ok((stride, dilation, groups.max(0) as usize))
}

fn reduction(s: &str) -> PyResult<Reduction> {
    Reduction::parse(s).py()
}

/// Rough amount of work, to decide whether to release the GIL.
fn work(t: &crate::Tensor) -> usize {
    t.numel()
}

/// `x @ weight^T + bias` as one fused op.
#[pyfunction]
#[pyo3(signature = (input, weight, bias=None))]
fn linear(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    weight: &Bound<'_, PyAny>,
    bias: Option<&Bound<'_, PyAny>>,
) -> R {
    let x = convert::tensor(input, "input")?;
    let w = convert::tensor(weight, "weight")?;
    let b = convert::opt_tensor(bias, "bias")?;
    let work = x.numel() * w.shape().first().copied().unwrap_or(1);
    Ok(compute(py, work, || x.linear(&w, b.as_ref())).py()?.into())
}

/// 2-D convolution; `padding` is a pair or `'same'` / `'valid'`.
#[pyfunction]
#[pyo3(signature = (input, weight, bias=None, stride=None, padding=None, dilation=None, groups=1))]
#[allow(clippy::too_many_arguments)]
fn conv2d(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    weight: &Bound<'_, PyAny>,
    bias: Option<&Bound<'_, PyAny>>,
    stride: Option<&Bound<'_, PyAny>>,
    padding: Option<&Bound<'_, PyAny>>,
    dilation: Option<&Bound<'_, PyAny>>,
    groups: i64,
) -> R {
    let x = convert::tensor(input, "input")?;
    let w = convert::tensor(weight, "weight")?;
    let b = convert::opt_tensor(bias, "bias")?;
    let (stride, dilation, groups) = conv_args(stride, dilation, groups)?;
    let padding = match padding {
        Some(p) if p.is_instance_of::<PyString>() => {
            Padding2d::parse(&p.extract::<String>()?).py()?
        }
        p => Padding2d::Explicit(pair(
            p,
            "padding",
            [0, 0],
            0,
            "negative padding is not supported",
        )?),
    };
    let work = work(&x).saturating_mul(w.numel().max(1));
    Ok(compute(py, work, || {
        x.conv2d(&w, b.as_ref(), stride, padding, dilation, groups)
    })
    .py()?
    .into())
}

/// Max pooling; returns the output, or `(output, indices)` with `return_indices`.
#[pyfunction]
#[pyo3(signature = (input, kernel_size, stride=None, padding=None, dilation=None, ceil_mode=false, return_indices=false))]
#[allow(clippy::too_many_arguments)]
fn max_pool2d<'py>(
    py: Python<'py>,
    input: &Bound<'py, PyAny>,
    kernel_size: &Bound<'py, PyAny>,
    stride: Option<&Bound<'py, PyAny>>,
    padding: Option<&Bound<'py, PyAny>>,
    dilation: Option<&Bound<'py, PyAny>>,
    ceil_mode: bool,
    return_indices: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let x = convert::tensor(input, "input")?;
    let k = pair_i64(kernel_size, "max_pool2d: kernel_size")?;
    if k.iter().any(|&v| v <= 0) {
        return Err(PyRuntimeError::new_err(format!(
            "kernel size should be greater than zero, but got kH: {} kW: {}",
            k[0], k[1]
        )));
    }
    let kernel = [k[0] as usize, k[1] as usize];
    let stride = pair(
        stride,
        "max_pool2d: stride",
        kernel,
        1,
        "stride should not be zero",
    )?;
    let padding = pair(
        padding,
        "max_pool2d: padding",
        [0, 0],
        0,
        "pad must be non-negative",
    )?;
    let dilation = pair(
        dilation,
        "max_pool2d: dilation",
        [1, 1],
        1,
        "dilation should be greater than zero",
    )?;
    let (out, idx) = compute(py, work(&x), || {
        x.max_pool2d(kernel, stride, padding, dilation, ceil_mode)
    })
    .py()?;
    if return_indices {
        (PyTensor::from(out), PyTensor::from(idx)).into_bound_py_any(py)
    } else {
        PyTensor::from(out).into_bound_py_any(py)
    }
}

/// Average pooling.
#[pyfunction]
#[pyo3(signature = (input, kernel_size, stride=None, padding=None, ceil_mode=false, count_include_pad=true, divisor_override=None))]
#[allow(clippy::too_many_arguments)]
fn avg_pool2d(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    kernel_size: &Bound<'_, PyAny>,
    stride: Option<&Bound<'_, PyAny>>,
    padding: Option<&Bound<'_, PyAny>>,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Option<i64>,
) -> R {
    let x = convert::tensor(input, "input")?;
    let k = pair_i64(kernel_size, "avg_pool2d: kernel_size")?;
    if k.iter().any(|&v| v <= 0) {
        return Err(PyRuntimeError::new_err(format!(
            "kernel size should be greater than zero, but got kH: {} kW: {}",
            k[0], k[1]
        )));
    }
    let kernel = [k[0] as usize, k[1] as usize];
    let stride = pair(
        stride,
        "avg_pool2d: stride",
        kernel,
        1,
        "stride should not be zero",
    )?;
    let padding = pair(
        padding,
        "avg_pool2d: padding",
        [0, 0],
        0,
        "pad must be non-negative",
    )?;
    Ok(compute(py, work(&x), || {
        x.avg_pool2d(
            kernel,
            stride,
            padding,
            ceil_mode,
            count_include_pad,
            divisor_override,
        )
    })
    .py()?
    .into())
}

/// Average pooling to a fixed output size.
#[pyfunction]
#[pyo3(signature = (input, output_size))]
fn adaptive_avg_pool2d(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    output_size: &Bound<'_, PyAny>,
) -> R {
    let x = convert::tensor(input, "input")?;
    let size = pair_i64(output_size, "adaptive_avg_pool2d: output_size")?;
    if size.iter().any(|&v| v < 0) {
        return Err(PyRuntimeError::new_err(format!(
            "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received {{{}, {}}}",
            size[0], size[1]
        )));
    }
    let size = [size[0] as usize, size[1] as usize];
    Ok(compute(py, work(&x), || x.adaptive_avg_pool2d(size))
        .py()?
        .into())
}

/// A pair of floats (a number or a sequence of one or two numbers).
fn float_pair(obj: &Bound<'_, PyAny>) -> PyResult<[f64; 2]> {
    if obj.is_instance_of::<PyFloat>() || obj.is_instance_of::<PyInt>() {
        let v: f64 = obj.extract()?;
        return Ok([v, v]);
    }
    let seq = obj
        .cast::<PySequence>()
        .map_err(|_| PyTypeError::new_err("scale_factor must be a float or a tuple of floats"))?;
    let v: Vec<f64> = (0..seq.len()?)
        .map(|i| seq.get_item(i)?.extract::<f64>())
        .collect::<PyResult<_>>()?;
    match v.as_slice() {
        [a] => Ok([*a, *a]),
        [a, b] => Ok([*a, *b]),
        _ => Err(PyRuntimeError::new_err(
            "scale_factor must be a float or a tuple of two floats",
        )),
    }
}

/// Nearest or bilinear resampling of `(N, C, H, W)` input to `size`.
#[pyfunction]
#[pyo3(signature = (input, size, mode="nearest", align_corners=None, scale_factor=None))]
fn interpolate(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    size: &Bound<'_, PyAny>,
    mode: &str,
    align_corners: Option<bool>,
    scale_factor: Option<&Bound<'_, PyAny>>,
) -> R {
    let x = convert::tensor(input, "input")?;
    let s = pair_i64(size, "size")?;
    if s.iter().any(|&v| v < 0) {
        return Err(PyRuntimeError::new_err(format!(
            "Input and output sizes should be greater than 0, but got output (H: {}, W: {})",
            s[0], s[1]
        )));
    }
    let size = [s[0] as usize, s[1] as usize];
    let mode = InterpolateMode::parse(mode).py()?;
    let scale = scale_factor
        .filter(|o| !o.is_none())
        .map(float_pair)
        .transpose()?;
    let work = work(&x).max(size[0] * size[1]);
    Ok(
        compute(py, work, || x.interpolate(size, mode, align_corners, scale))
            .py()?
            .into(),
    )
}

/// Batch normalisation over dim 1 (running statistics updated in place when training).
#[pyfunction]
#[pyo3(signature = (input, running_mean, running_var, weight=None, bias=None, training=false, momentum=0.1, eps=1e-5))]
#[allow(clippy::too_many_arguments)]
fn batch_norm(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    running_mean: Option<&Bound<'_, PyAny>>,
    running_var: Option<&Bound<'_, PyAny>>,
    weight: Option<&Bound<'_, PyAny>>,
    bias: Option<&Bound<'_, PyAny>>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> R {
    let x = convert::tensor(input, "input")?;
    let rm = convert::opt_tensor(running_mean, "running_mean")?;
    let rv = convert::opt_tensor(running_var, "running_var")?;
    let w = convert::opt_tensor(weight, "weight")?;
    let b = convert::opt_tensor(bias, "bias")?;
    Ok(compute(py, work(&x), || {
        x.batch_norm(
            rm.as_ref(),
            rv.as_ref(),
            w.as_ref(),
            b.as_ref(),
            training,
            momentum,
            eps,
        )
    })
    .py()?
    .into())
}

/// 2-D transposed convolution (the input gradient of a convolution).
#[pyfunction]
#[pyo3(signature = (input, weight, bias=None, stride=None, padding=None, output_padding=None, groups=1, dilation=None))]
#[allow(clippy::too_many_arguments)]
fn conv_transpose2d(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    weight: &Bound<'_, PyAny>,
    bias: Option<&Bound<'_, PyAny>>,
    stride: Option<&Bound<'_, PyAny>>,
    padding: Option<&Bound<'_, PyAny>>,
    output_padding: Option<&Bound<'_, PyAny>>,
    groups: i64,
    dilation: Option<&Bound<'_, PyAny>>,
) -> R {
    let x = convert::tensor(input, "input")?;
    let w = convert::tensor(weight, "weight")?;
    let b = convert::opt_tensor(bias, "bias")?;
    let (stride, dilation, groups) = conv_args(stride, dilation, groups)?;
    let padding = pair(
        padding,
        "padding",
        [0, 0],
        0,
        "negative padding is not supported",
    )?;
    let output_padding = pair(
        output_padding,
        "output_padding",
        [0, 0],
        0,
        "negative output_padding is not supported",
    )?;
    let work = work(&x).saturating_mul(w.numel().max(1));
    Ok(compute(py, work, || {
        x.conv_transpose2d(
            &w,
            b.as_ref(),
            stride,
            padding,
            output_padding,
            groups,
            dilation,
        )
    })
    .py()?
    .into())
}

/// Layer normalisation over the trailing `normalized_shape` dims.
#[pyfunction]
#[pyo3(signature = (input, normalized_shape, weight=None, bias=None, eps=1e-5))]
fn layer_norm(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    normalized_shape: Vec<usize>,
    weight: Option<&Bound<'_, PyAny>>,
    bias: Option<&Bound<'_, PyAny>>,
    eps: f64,
) -> R {
    let x = convert::tensor(input, "input")?;
    let w = convert::opt_tensor(weight, "weight")?;
    let b = convert::opt_tensor(bias, "bias")?;
    Ok(compute(py, work(&x), || {
        x.layer_norm(&normalized_shape, w.as_ref(), b.as_ref(), eps)
    })
    .py()?
    .into())
}

/// Cross-entropy as one fused log-softmax + NLL op.
#[pyfunction]
#[pyo3(signature = (input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0))]
fn cross_entropy(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    weight: Option<&Bound<'_, PyAny>>,
    ignore_index: i64,
    reduction: &str,
    label_smoothing: f64,
) -> R {
    let x = convert::tensor(input, "input")?;
    let t = convert::tensor(target, "target")?;
    let w = convert::opt_tensor(weight, "weight")?;
    let r = self::reduction(reduction)?;
    Ok(compute(py, work(&x), || {
        x.cross_entropy(&t, w.as_ref(), ignore_index, r, label_smoothing)
    })
    .py()?
    .into())
}

/// Negative log-likelihood of log-probabilities.
#[pyfunction]
#[pyo3(signature = (input, target, weight=None, ignore_index=-100, reduction="mean"))]
fn nll_loss(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    weight: Option<&Bound<'_, PyAny>>,
    ignore_index: i64,
    reduction: &str,
) -> R {
    let x = convert::tensor(input, "input")?;
    let t = convert::tensor(target, "target")?;
    let w = convert::opt_tensor(weight, "weight")?;
    let r = self::reduction(reduction)?;
    Ok(
        compute(py, work(&x), || x.nll_loss(&t, w.as_ref(), ignore_index, r))
            .py()?
            .into(),
    )
}

/// Mean squared error.
#[pyfunction]
#[pyo3(signature = (input, target, reduction="mean"))]
fn mse_loss(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    reduction: &str,
) -> R {
    let x = convert::tensor(input, "input")?;
    let t = convert::tensor(target, "target")?;
    let r = self::reduction(reduction)?;
    Ok(compute(py, work(&x), || x.mse_loss(&t, r)).py()?.into())
}

/// Mean absolute error.
#[pyfunction]
#[pyo3(signature = (input, target, reduction="mean"))]
fn l1_loss(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    reduction: &str,
) -> R {
    let x = convert::tensor(input, "input")?;
    let t = convert::tensor(target, "target")?;
    let r = self::reduction(reduction)?;
    Ok(compute(py, work(&x), || x.l1_loss(&t, r)).py()?.into())
}

/// Binary cross-entropy of logits.
#[pyfunction]
#[pyo3(signature = (input, target, weight=None, pos_weight=None, reduction="mean"))]
fn binary_cross_entropy_with_logits(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    weight: Option<&Bound<'_, PyAny>>,
    pos_weight: Option<&Bound<'_, PyAny>>,
    reduction: &str,
) -> R {
    let x = convert::tensor(input, "input")?;
    let t = convert::tensor(target, "target")?;
    let w = convert::opt_tensor(weight, "weight")?;
    let pw = convert::opt_tensor(pos_weight, "pos_weight")?;
    let r = self::reduction(reduction)?;
    Ok(compute(py, work(&x), || {
        x.binary_cross_entropy_with_logits(&t, w.as_ref(), pw.as_ref(), r)
    })
    .py()?
    .into())
}

/// Binary cross-entropy of probabilities.
#[pyfunction]
#[pyo3(signature = (input, target, weight=None, reduction="mean"))]
fn binary_cross_entropy(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    weight: Option<&Bound<'_, PyAny>>,
    reduction: &str,
) -> R {
    let x = convert::tensor(input, "input")?;
    let t = convert::tensor(target, "target")?;
    let w = convert::opt_tensor(weight, "weight")?;
    let r = self::reduction(reduction)?;
    Ok(
        compute(py, work(&x), || x.binary_cross_entropy(&t, w.as_ref(), r))
            .py()?
            .into(),
    )
}

/// Dropout (the input itself when not training).
#[pyfunction]
#[pyo3(signature = (input, p=0.5, training=true))]
fn dropout(py: Python<'_>, input: &Bound<'_, PyAny>, p: f64, training: bool) -> R {
    let x = convert::tensor(input, "input")?;
    Ok(compute(py, work(&x), || x.dropout(p, training))
        .py()?
        .into())
}

/// GELU (`approximate` is `'none'` or `'tanh'`).
#[pyfunction]
#[pyo3(signature = (input, approximate="none"))]
fn gelu(py: Python<'_>, input: &Bound<'_, PyAny>, approximate: &str) -> R {
    let x = convert::tensor(input, "input")?;
    Ok(compute(py, work(&x), || x.gelu(approximate)).py()?.into())
}

#[pyfunction]
#[pyo3(signature = (input, negative_slope=0.01))]
fn leaky_relu(py: Python<'_>, input: &Bound<'_, PyAny>, negative_slope: f64) -> R {
    let x = convert::tensor(input, "input")?;
    Ok(compute(py, work(&x), || x.leaky_relu(negative_slope))
        .py()?
        .into())
}

#[pyfunction]
#[pyo3(signature = (input, alpha=1.0))]
fn elu(py: Python<'_>, input: &Bound<'_, PyAny>, alpha: f64) -> R {
    let x = convert::tensor(input, "input")?;
    Ok(compute(py, work(&x), || x.elu(alpha)).py()?.into())
}

#[pyfunction]
#[pyo3(signature = (input,))]
fn silu(py: Python<'_>, input: &Bound<'_, PyAny>) -> R {
    let x = convert::tensor(input, "input")?;
    Ok(compute(py, work(&x), || x.silu()).py()?.into())
}

#[pyfunction]
#[pyo3(signature = (input, beta=1.0, threshold=20.0))]
fn softplus(py: Python<'_>, input: &Bound<'_, PyAny>, beta: f64, threshold: f64) -> R {
    let x = convert::tensor(input, "input")?;
    Ok(compute(py, work(&x), || x.softplus(beta, threshold))
        .py()?
        .into())
}

/// `clamp(x, min_val, max_val)`.
#[pyfunction]
#[pyo3(signature = (input, min_val=-1.0, max_val=1.0))]
fn hardtanh(py: Python<'_>, input: &Bound<'_, PyAny>, min_val: f64, max_val: f64) -> R {
    let x = convert::tensor(input, "input")?;
    Ok(
        compute(py, work(&x), || x.clamp(Some(min_val), Some(max_val)))
            .py()?
            .into(),
    )
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(linear, m)?)?;
    m.add_function(wrap_pyfunction!(conv2d, m)?)?;
    m.add_function(wrap_pyfunction!(conv_transpose2d, m)?)?;
    m.add_function(wrap_pyfunction!(max_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(adaptive_avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(interpolate, m)?)?;
    m.add_function(wrap_pyfunction!(batch_norm, m)?)?;
    m.add_function(wrap_pyfunction!(layer_norm, m)?)?;
    m.add_function(wrap_pyfunction!(cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(nll_loss, m)?)?;
    m.add_function(wrap_pyfunction!(mse_loss, m)?)?;
    m.add_function(wrap_pyfunction!(l1_loss, m)?)?;
    m.add_function(wrap_pyfunction!(binary_cross_entropy_with_logits, m)?)?;
    m.add_function(wrap_pyfunction!(binary_cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(dropout, m)?)?;
    m.add_function(wrap_pyfunction!(gelu, m)?)?;
    m.add_function(wrap_pyfunction!(leaky_relu, m)?)?;
    m.add_function(wrap_pyfunction!(elu, m)?)?;
    m.add_function(wrap_pyfunction!(silu, m)?)?;
    m.add_function(wrap_pyfunction!(softplus, m)?)?;
    m.add_function(wrap_pyfunction!(hardtanh, m)?)?;
    Ok(())
}
