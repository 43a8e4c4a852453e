//! Module-level functions: creation, random numbers, cat/stack/where, isclose and the CPU threads.

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PySequence, PyTuple};

use super::convert::{self, Arg};
use super::dtype::PyGenerator;
use super::memory_format;
use super::tensor::{check_device, PyTensor};
use super::{compute, IntoPy};
use crate::ops::Operand;
use crate::storage::{DType, Device};
use crate::tensor::random::default_generator;
use crate::tensor::{Scalar, Tensor};

type R = PyResult<PyTensor>;

/// A list/tuple of tensors (or one tensor) as a Vec.
pub fn tensor_list(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Tensor>> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Ok(vec![t.get().t.clone()]);
    }
    let seq = obj.cast::<PySequence>().map_err(|_| {
        let name = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!("{what} must be a tuple of Tensors, not {name}"))
    })?;
    (0..seq.len()?)
        .map(|i| convert::tensor(&seq.get_item(i)?, what))
        .collect()
}

pub fn tensor_list_opt(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<Tensor>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => tensor_list(o, "inputs").map(Some),
    }
}

/// Applies the common keyword arguments of factories.
fn finish(t: Tensor, device: Option<Device>, requires_grad: bool) -> R {
    let t = match device {
        Some(d) if d != t.device() => t.to_device(check_device(d).py()?).py()?,
        _ => t,
    };
    if requires_grad {
        t.set_requires_grad(true).py()?;
    }
    Ok(t.into())
}

fn default_dtype(dtype: Option<&Bound<'_, PyAny>>) -> PyResult<DType> {
    Ok(convert::dtype(dtype)?.unwrap_or_else(DType::default_float))
}

/// A factory's `out=` tensor, or TypeError in PyTorch's words.
fn out_tensor<'py>(
    fn_name: &str,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyTensor>>> {
    match out {
        Some(o) if !o.is_none() => o.cast::<PyTensor>().map(|t| Some(t.clone())).map_err(|_| {
            PyTypeError::new_err(format!(
                "{fn_name}(): argument 'out' must be Tensor, not {}",
                o.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        }),
        _ => Ok(None),
    }
}

/// The dtype a factory makes: `dtype=`, else the `out=` tensor's, else the default float dtype. A
/// `dtype=` that differs from `out=`'s is PyTorch's RuntimeError.
fn factory_dtype(dtype: Option<&Bound<'_, PyAny>>, out: Option<&Tensor>) -> PyResult<DType> {
    match (convert::dtype(dtype)?, out) {
        (Some(d), Some(o)) if d != o.dtype() => Err(PyRuntimeError::new_err(format!(
            "dtype {} does not match dtype of out parameter ({})",
            d.scalar_name(),
            o.dtype().scalar_name()
        ))),
        (Some(d), _) => Ok(d),
        (None, Some(o)) => Ok(o.dtype()),
        (None, None) => default_dtype(None),
    }
}

/// Writes a factory's result into `out=` and returns `out` itself: in place when the shapes
/// agree (views of `out` see the values), else `out` takes the new tensor's data, as PyTorch's
/// resize of an out tensor.
fn fill_out<'py>(
    out: Bound<'py, PyTensor>,
    value: Tensor,
    requires_grad: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let t = &out.get().t;
    if t.shape() == value.shape() {
        crate::autograd::no_grad(|| t.copy_(&value)).py()?;
    } else {
        t.set_data(&value);
    }
    if requires_grad {
        t.set_requires_grad(true).py()?;
    }
    Ok(out.into_any())
}

/// `pin_memory=True` asks for page-locked host memory, which only exists with a CUDA device;
/// without one PyTorch refuses, and so do we.
fn check_pin_memory(pin_memory: bool) -> PyResult<()> {
    if pin_memory && crate::backend::cuda::check_available(Device::Cuda(0)).is_err() {
        return Err(PyRuntimeError::new_err(
            "Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed \
             a driver from http://www.nvidia.com/Download/index.aspx",
        ));
    }
    Ok(())
}

#[pyfunction]
#[pyo3(signature = (data, *, dtype=None, device=None, requires_grad=false, pin_memory=false))]
fn tensor(
    data: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
    pin_memory: bool,
) -> R {
    let _ = pin_memory;
    let t = convert::tensor_from_data(data, convert::dtype(dtype)?)?;
    finish(t, convert::device(device)?, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (data, dtype=None, device=None))]
fn as_tensor(
    data: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
) -> R {
    let dtype = convert::dtype(dtype)?;
    let device = convert::device(device)?;
    if let Ok(t) = data.cast::<PyTensor>() {
        let t = t.get().t.clone();
        let t = match dtype {
            Some(d) => t.to_dtype(d).py()?,
            None => t,
        };
        return finish(t, device, false);
    }
    if let Ok(t) = convert::from_numpy_shared(data) {
        if dtype.is_none_or(|d| d == t.dtype()) {
            return finish(t, device, false);
        }
    }
    finish(convert::tensor_from_data(data, dtype)?, device, false)
}

#[pyfunction]
fn from_numpy(array: &Bound<'_, PyAny>) -> R {
    Ok(convert::from_numpy_shared(array)?.into())
}

macro_rules! factory {
    ($name:ident, $value:expr) => {
        #[pyfunction]
        #[pyo3(signature = (*size, dtype=None, device=None, requires_grad=false, out=None, layout=None, pin_memory=false))]
        fn $name<'py>(
            py: Python<'py>,
            size: &Bound<'py, PyTuple>,
            dtype: Option<&Bound<'py, PyAny>>,
            device: Option<&Bound<'py, PyAny>>,
            requires_grad: bool,
            out: Option<&Bound<'py, PyAny>>,
            layout: Option<&Bound<'py, PyAny>>,
            pin_memory: bool,
        ) -> PyResult<Bound<'py, PyAny>> {
            let name = stringify!($name);
            super::layout::check_layout(name, layout)?;
            check_pin_memory(pin_memory)?;
            let out = out_tensor(name, out)?;
            let shape = convert::sizes(&convert::shape_args(size)?)?;
            let dtype = factory_dtype(dtype, out.as_ref().map(|o| &o.get().t))?;
            let device = convert::device(device)?
                .or(out.as_ref().map(|o| o.get().t.device()))
                .map(check_device)
                .transpose()
                .py()?
                .unwrap_or(Device::Cpu);
            let n: usize = shape.iter().product();
            let t = compute(py, n, || Tensor::full(&shape, $value, dtype, device)).py()?;
            match out {
                None => Ok(Bound::new(py, finish(t, None, requires_grad)?)?.into_any()),
                Some(out) => fill_out(out, t, requires_grad),
            }
        }
    };
}
factory!(zeros, Scalar::Int(0));
factory!(ones, Scalar::Int(1));
factory!(empty, Scalar::Int(0));

#[pyfunction]
#[pyo3(signature = (size, fill_value, *, dtype=None, device=None, requires_grad=false))]
fn full(
    size: &Bound<'_, PyAny>,
    fill_value: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    let shape = convert::sizes(&convert::int_list(size, "size")?)?;
    let value = match convert::arg_or_err(fill_value, "fill_value")? {
        Arg::Scalar(s) => s,
        Arg::Tensor(t) => t.item().py()?,
    };
    let dtype = convert::dtype(dtype)?.unwrap_or(value.default_dtype());
    let device = convert::device(device)?
        .map(check_device)
        .transpose()
        .py()?
        .unwrap_or(Device::Cpu);
    finish(
        Tensor::full(&shape, value, dtype, device).py()?,
        None,
        requires_grad,
    )
}

/// The dtype/device of a `*_like` call: given, else the source's.
fn like_opts(
    src: &Tensor,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
) -> PyResult<(DType, Device)> {
    let dtype = convert::dtype(dtype)?.unwrap_or(src.dtype());
    let device = convert::device(device)?.unwrap_or(src.device());
    Ok((dtype, check_device(device).py()?))
}

macro_rules! like_factory {
    ($name:ident, $value:expr) => {
        #[pyfunction]
        #[pyo3(signature = (input, *, dtype=None, device=None, requires_grad=false, memory_format=None))]
        fn $name(input: &Bound<'_, PyAny>, dtype: Option<&Bound<'_, PyAny>>, device: Option<&Bound<'_, PyAny>>, requires_grad: bool, memory_format: Option<&Bound<'_, PyAny>>) -> R {
            let src = convert::tensor(input, "input")?;
            memory_format::check(memory_format, stringify!($name), src.ndim())?;
            let (dtype, device) = like_opts(&src, dtype, device)?;
            finish(Tensor::full(&src.shape(), $value, dtype, device).py()?, None, requires_grad)
        }
    };
}
like_factory!(zeros_like, Scalar::Int(0));
like_factory!(ones_like, Scalar::Int(1));
like_factory!(empty_like, Scalar::Int(0));

#[pyfunction]
#[pyo3(signature = (input, fill_value, *, dtype=None, device=None, requires_grad=false, memory_format=None))]
fn full_like(
    input: &Bound<'_, PyAny>,
    fill_value: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
    memory_format: Option<&Bound<'_, PyAny>>,
) -> R {
    let src = convert::tensor(input, "input")?;
    memory_format::check(memory_format, "full_like", src.ndim())?;
    let (dtype, device) = like_opts(&src, dtype, device)?;
    let value = convert::scalar(fill_value)
        .ok_or_else(|| PyTypeError::new_err("fill_value must be a number"))?;
    finish(
        Tensor::full(&src.shape(), value, dtype, device).py()?,
        None,
        requires_grad,
    )
}

/// Uniform or normal samples with the shape, dtype and device of `t`.
pub fn random_like(
    t: &Tensor,
    normal: bool,
    generator: Option<&Bound<'_, PyGenerator>>,
) -> PyResult<Tensor> {
    let dtype = if t.dtype().is_floating_point() {
        t.dtype()
    } else {
        DType::default_float()
    };
    let shape = t.shape();
    let draw = |g: Option<&mut crate::tensor::random::Generator>| {
        if normal {
            Tensor::randn(&shape, dtype, t.device(), g)
        } else {
            Tensor::rand(&shape, dtype, t.device(), g)
        }
    };
    match generator {
        Some(g) => draw(Some(&mut g.get().inner.lock())),
        None => draw(None),
    }
    .py()
}

macro_rules! random_factory {
    ($name:ident, $normal:expr) => {
        #[pyfunction]
        #[pyo3(signature = (*size, generator=None, dtype=None, device=None, requires_grad=false))]
        fn $name(
            py: Python<'_>,
            size: &Bound<'_, PyTuple>,
            generator: Option<&Bound<'_, PyGenerator>>,
            dtype: Option<&Bound<'_, PyAny>>,
            device: Option<&Bound<'_, PyAny>>,
            requires_grad: bool,
        ) -> R {
            let shape = convert::sizes(&convert::shape_args(size)?)?;
            let dtype = default_dtype(dtype)?;
            let device = convert::device(device)?
                .map(check_device)
                .transpose()
                .py()?
                .unwrap_or(Device::Cpu);
            let n: usize = shape.iter().product();
            let t = match generator {
                Some(g) => {
                    let mut g = g.get().inner.lock();
                    if $normal {
                        Tensor::randn(&shape, dtype, device, Some(&mut g))
                    } else {
                        Tensor::rand(&shape, dtype, device, Some(&mut g))
                    }
                }
                None => compute(py, n, || {
                    if $normal {
                        Tensor::randn(&shape, dtype, device, None)
                    } else {
                        Tensor::rand(&shape, dtype, device, None)
                    }
                }),
            }
            .py()?;
            finish(t, None, requires_grad)
        }
    };
}
random_factory!(rand, false);
random_factory!(randn, true);

#[pyfunction]
#[pyo3(signature = (input, *, dtype=None, device=None, requires_grad=false, memory_format=None))]
fn rand_like(
    input: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
    memory_format: Option<&Bound<'_, PyAny>>,
) -> R {
    let src = convert::tensor(input, "input")?;
    memory_format::check(memory_format, "rand_like", src.ndim())?;
    let (dtype, device) = like_opts(&src, dtype, device)?;
    finish(
        Tensor::rand(&src.shape(), dtype, device, None).py()?,
        None,
        requires_grad,
    )
}

#[pyfunction]
#[pyo3(signature = (input, *, dtype=None, device=None, requires_grad=false, memory_format=None))]
fn randn_like(
    input: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
    memory_format: Option<&Bound<'_, PyAny>>,
) -> R {
    let src = convert::tensor(input, "input")?;
    memory_format::check(memory_format, "randn_like", src.ndim())?;
    let (dtype, device) = like_opts(&src, dtype, device)?;
    finish(
        Tensor::randn(&src.shape(), dtype, device, None).py()?,
        None,
        requires_grad,
    )
}

/// `randint(high, size)` or `randint(low, high, size)`.
#[pyfunction]
#[pyo3(signature = (*args, size=None, generator=None, dtype=None, device=None, requires_grad=false))]
fn randint(
    args: &Bound<'_, PyTuple>,
    size: Option<&Bound<'_, PyAny>>,
    generator: Option<&Bound<'_, PyGenerator>>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    let n = args.len();
    let (low, high, size_obj) = match (n, size) {
        (3, None) => (convert::int(&args.get_item(0)?, "low")?, convert::int(&args.get_item(1)?, "high")?, args.get_item(2)?),
        (2, None) => (0, convert::int(&args.get_item(0)?, "high")?, args.get_item(1)?),
        (2, Some(s)) => (convert::int(&args.get_item(0)?, "low")?, convert::int(&args.get_item(1)?, "high")?, s.clone()),
        (1, Some(s)) => (0, convert::int(&args.get_item(0)?, "high")?, s.clone()),
        _ => return Err(PyTypeError::new_err("randint() received an invalid combination of arguments - expected (int high, tuple of ints size) or (int low, int high, tuple of ints size)")),
    };
    let shape = convert::sizes(&convert::int_list(&size_obj, "size")?)?;
    let dtype = convert::dtype(dtype)?.unwrap_or(DType::I64);
    let device = convert::device(device)?
        .map(check_device)
        .transpose()
        .py()?
        .unwrap_or(Device::Cpu);
    let t = match generator {
        Some(g) => Tensor::randint(
            low,
            high,
            &shape,
            dtype,
            device,
            Some(&mut g.get().inner.lock()),
        ),
        None => Tensor::randint(low, high, &shape, dtype, device, None),
    }
    .py()?;
    finish(t, None, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (n, *, generator=None, dtype=None, device=None, requires_grad=false))]
fn randperm(
    n: i64,
    generator: Option<&Bound<'_, PyGenerator>>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    if n < 0 {
        return Err(PyRuntimeError::new_err(format!(
            "n must be non-negative, got{n}"
        )));
    }
    let dtype = convert::dtype(dtype)?.unwrap_or(DType::I64);
    let device = convert::device(device)?
        .map(check_device)
        .transpose()
        .py()?
        .unwrap_or(Device::Cpu);
    let t = match generator {
        Some(g) => Tensor::randperm(n as usize, dtype, device, Some(&mut g.get().inner.lock())),
        None => Tensor::randperm(n as usize, dtype, device, None),
    }
    .py()?;
    finish(t, None, requires_grad)
}

/// `arange(end)`, `arange(start, end)`, `arange(start, end, step)`.
#[pyfunction]
#[pyo3(signature = (*args, dtype=None, device=None, requires_grad=false))]
fn arange(
    args: &Bound<'_, PyTuple>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    let nums: Vec<Scalar> = args
        .iter()
        .map(|a| {
            convert::scalar(&a).ok_or_else(|| {
                PyTypeError::new_err("arange() received an invalid combination of arguments")
            })
        })
        .collect::<PyResult<_>>()?;
    let (start, end, step) = match nums.as_slice() {
        [e] => (Scalar::Int(0), *e, Scalar::Int(1)),
        [s, e] => (*s, *e, Scalar::Int(1)),
        [s, e, st] => (*s, *e, *st),
        _ => {
            return Err(PyTypeError::new_err(
                "arange() received an invalid combination of arguments",
            ))
        }
    };
    let inferred = if nums.iter().any(|s| matches!(s, Scalar::Float(_))) {
        DType::default_float()
    } else {
        DType::I64
    };
    let dtype = convert::dtype(dtype)?.unwrap_or(inferred);
    let device = convert::device(device)?
        .map(check_device)
        .transpose()
        .py()?
        .unwrap_or(Device::Cpu);
    finish(
        Tensor::arange(start, end, step, dtype, device).py()?,
        None,
        requires_grad,
    )
}

#[pyfunction]
#[pyo3(signature = (start, end, steps, *, dtype=None, device=None, requires_grad=false))]
fn linspace(
    start: f64,
    end: f64,
    steps: i64,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    if steps < 0 {
        return Err(PyRuntimeError::new_err(
            "number of steps must be non-negative",
        ));
    }
    let dtype = default_dtype(dtype)?;
    let device = convert::device(device)?
        .map(check_device)
        .transpose()
        .py()?
        .unwrap_or(Device::Cpu);
    finish(
        Tensor::linspace(start, end, steps as usize, dtype, device).py()?,
        None,
        requires_grad,
    )
}

#[pyfunction]
#[pyo3(signature = (n, m=None, *, dtype=None, device=None, requires_grad=false))]
fn eye(
    n: i64,
    m: Option<i64>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    let m = m.unwrap_or(n);
    if n < 0 || m < 0 {
        return Err(PyRuntimeError::new_err(format!(
            "n must be greater or equal to 0, got {}",
            n.min(m)
        )));
    }
    let dtype = default_dtype(dtype)?;
    let device = convert::device(device)?
        .map(check_device)
        .transpose()
        .py()?
        .unwrap_or(Device::Cpu);
    finish(
        Tensor::eye(n as usize, m as usize, dtype, device).py()?,
        None,
        requires_grad,
    )
}

#[pyfunction]
fn manual_seed(seed: i64) {
    crate::tensor::random::manual_seed(seed as u64);
}

#[pyfunction]
fn initial_seed() -> u64 {
    default_generator().lock().seed()
}

#[pyfunction]
fn _get_rng_state() -> (u64, u64) {
    default_generator().lock().state()
}

#[pyfunction]
fn _set_rng_state(state: (u64, u64)) {
    default_generator().lock().set_state(state.0, state.1);
}

#[pyfunction]
#[pyo3(signature = (tensors, dim=0))]
fn cat(py: Python<'_>, tensors: &Bound<'_, PyAny>, dim: i64) -> R {
    let ts = tensor_list(tensors, "tensors")?;
    let n: usize = ts.iter().map(|t| t.numel()).sum();
    Ok(compute(py, n, || Tensor::cat(&ts, dim)).py()?.into())
}

#[pyfunction]
#[pyo3(signature = (tensors, dim=0))]
fn stack(py: Python<'_>, tensors: &Bound<'_, PyAny>, dim: i64) -> R {
    let ts = tensor_list(tensors, "tensors")?;
    let n: usize = ts.iter().map(|t| t.numel()).sum();
    Ok(compute(py, n, || Tensor::stack(&ts, dim)).py()?.into())
}

#[pyfunction]
#[pyo3(name = "where", signature = (condition, input=None, other=None))]
fn where_<'py>(
    py: Python<'py>,
    condition: &Bound<'py, PyAny>,
    input: Option<&Bound<'py, PyAny>>,
    other: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let c = convert::tensor(condition, "condition")?;
    match (input, other) {
        (Some(a), Some(b)) => {
            let (a, b) = (
                convert::arg_or_err(a, "input")?,
                convert::arg_or_err(b, "other")?,
            );
            let out = crate::ops::binary::where_operands(&c, a.operand(), b.operand()).py()?;
            Ok(Bound::new(py, PyTensor::from(out))?.into_any())
        }
        (None, None) => {
            let nz = c.nonzero().py()?;
            let cols: Vec<PyTensor> = nz.unbind(1).py()?.into_iter().map(PyTensor::from).collect();
            Ok(PyTuple::new(py, cols)?.into_any())
        }
        _ => Err(PyTypeError::new_err(
            "where() expects either 1 or 3 arguments",
        )),
    }
}

/// Elementwise closeness, as `torch.isclose`.
#[pyfunction]
#[pyo3(signature = (input, other, rtol=1e-05, atol=1e-08, equal_nan=false))]
fn isclose(
    input: &Bound<'_, PyAny>,
    other: &Bound<'_, PyAny>,
    rtol: f64,
    atol: f64,
    equal_nan: bool,
) -> R {
    let a = convert::tensor(input, "input")?;
    let b = convert::tensor(other, "other")?;
    let out = crate::autograd::no_grad(|| -> crate::Result<Tensor> {
        let dt = crate::ops::result_type(&[Operand::Tensor(&a), Operand::Tensor(&b)]);
        let dt = if dt.is_floating_point() {
            dt
        } else {
            DType::F64
        };
        let (x, y) = (a.to_dtype(dt)?, b.to_dtype(dt)?);
        let diff = x.sub(&y)?.abs()?;
        let tol = y.abs()?.mul_scalar(rtol)?.add_scalar(atol)?;
        let close = diff.le(&tol)?.logical_or(&x.eq(&y)?)?;
        if equal_nan {
            close.logical_or(&x.isnan()?.logical_and(&y.isnan()?)?)
        } else {
            Ok(close)
        }
    })
    .py()?;
    Ok(out.into())
}

/// Sets the number of threads CPU ops use; takes effect with the next op, as in PyTorch.
#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<()> {
    if n == 0 {
        return Err(PyValueError::new_err(
            "set_num_threads expects a positive integer",
        ));
    }
    crate::backend::set_num_threads(n);
    Ok(())
}

#[pyfunction]
fn get_num_threads() -> usize {
    crate::backend::num_threads()
}

/// The float32 multiply-add peak of `threads` threads in FLOP/s, measured over `seconds` (None
/// where no vector FMA is known); benchmarks quote matmul's throughput as a share of it.
#[pyfunction]
fn _cpu_peak_flops(py: Python<'_>, threads: usize, seconds: f64) -> Option<f64> {
    let seconds = if seconds.is_finite() {
        seconds.clamp(0.0, 10.0)
    } else {
        0.0
    };
    let time = std::time::Duration::from_secs_f64(seconds);
    py.detach(|| crate::backend::fma_peak_flops(threads, time))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tensor, m)?)?;
    m.add_function(wrap_pyfunction!(as_tensor, m)?)?;
    m.add_function(wrap_pyfunction!(from_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(zeros, m)?)?;
    m.add_function(wrap_pyfunction!(ones, m)?)?;
    m.add_function(wrap_pyfunction!(empty, m)?)?;
    m.add_function(wrap_pyfunction!(full, m)?)?;
    m.add_function(wrap_pyfunction!(zeros_like, m)?)?;
    m.add_function(wrap_pyfunction!(ones_like, m)?)?;
    m.add_function(wrap_pyfunction!(empty_like, m)?)?;
    m.add_function(wrap_pyfunction!(full_like, m)?)?;
    m.add_function(wrap_pyfunction!(rand, m)?)?;
    m.add_function(wrap_pyfunction!(randn, m)?)?;
    m.add_function(wrap_pyfunction!(rand_like, m)?)?;
    m.add_function(wrap_pyfunction!(randn_like, m)?)?;
    m.add_function(wrap_pyfunction!(randint, m)?)?;
    m.add_function(wrap_pyfunction!(randperm, m)?)?;
    m.add_function(wrap_pyfunction!(arange, m)?)?;
    m.add_function(wrap_pyfunction!(linspace, m)?)?;
    m.add_function(wrap_pyfunction!(eye, m)?)?;
    m.add_function(wrap_pyfunction!(manual_seed, m)?)?;
    m.add_function(wrap_pyfunction!(initial_seed, m)?)?;
    m.add_function(wrap_pyfunction!(_get_rng_state, m)?)?;
    m.add_function(wrap_pyfunction!(_set_rng_state, m)?)?;
    m.add_function(wrap_pyfunction!(cat, m)?)?;
    m.add_function(wrap_pyfunction!(stack, m)?)?;
    m.add_function(wrap_pyfunction!(where_, m)?)?;
    m.add_function(wrap_pyfunction!(isclose, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(_cpu_peak_flops, m)?)?;
    Ok(())
}
