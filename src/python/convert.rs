//! Python objects to Rust arguments: tensors, numbers, shapes, dims, dtypes, devices, and the
//! data accepted by `rustgrad.tensor(...)`.

use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PySequence, PyString, PyTuple};

use super::dtype::{PyDType, PyDevice};
use super::tensor::PyTensor;
use super::IntoPy;
use crate::ops::Operand;
use crate::storage::{Buffer, DType, Device};
use crate::tensor::{Scalar, Tensor};

/// A binary operand owned by the binding (a tensor or a number).
pub enum Arg {
    Tensor(Tensor),
    Scalar(Scalar),
}

impl Arg {
    pub fn operand(&self) -> Operand<'_> {
        match self {
            Arg::Tensor(t) => Operand::Tensor(t),
            Arg::Scalar(s) => Operand::Scalar(*s),
        }
    }
}

/// The tensor inside a Python object, or TypeError naming what was passed.
pub fn tensor(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Tensor> {
    match obj.cast::<PyTensor>() {
        Ok(t) => Ok(t.get().t.clone()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be Tensor, not {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "object".into())
        ))),
    }
}

/// An optional tensor argument (None allowed).
pub fn opt_tensor(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Tensor>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => tensor(o, what).map(Some),
    }
}

/// `Tensor | None` values as a Python tuple (gradients handed to Python code).
pub fn opt_tensor_tuple<'py>(
    py: Python<'py>,
    ts: &[Option<Tensor>],
) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, ts.iter().map(|g| g.clone().map(PyTensor::from)))
}

/// What Python code returned as gradients: an iterable of `Tensor | None`; anything else is a
/// TypeError with the message `not_iterable`.
pub fn opt_tensor_seq(
    obj: &Bound<'_, PyAny>,
    what: &str,
    not_iterable: &str,
) -> PyResult<Vec<Option<Tensor>>> {
    let items: Vec<Bound<'_, PyAny>> = obj
        .try_iter()
        .map_err(|_| PyTypeError::new_err(not_iterable.to_string()))?
        .collect::<PyResult<_>>()?;
    items.iter().map(|o| opt_tensor(Some(o), what)).collect()
}

/// A Python number as a Scalar (bool before int: bool is an int subclass); None otherwise.
pub fn scalar(obj: &Bound<'_, PyAny>) -> Option<Scalar> {
    if let Ok(b) = obj.cast::<PyBool>() {
        return Some(Scalar::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj.extract::<i64>().ok().map(Scalar::Int);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Some(Scalar::Float(f.value()));
    }
    numpy_scalar(obj)
}

/// NumPy scalars (np.float32(1), np.int64(2), np.bool_(True)) through their `item()`.
fn numpy_scalar(obj: &Bound<'_, PyAny>) -> Option<Scalar> {
    let ty = obj.get_type();
    let module = ty.module().ok()?;
    if module.to_cow().ok()? != "numpy"
        || !obj.hasattr("item").ok()?
        || obj.hasattr("shape").ok()? && obj.getattr("ndim").ok()?.extract::<usize>().ok()? != 0
    {
        return None;
    }
    let item = obj.call_method0("item").ok()?;
    if item.is_instance_of::<PyFloat>()
        || item.is_instance_of::<PyInt>()
        || item.is_instance_of::<PyBool>()
    {
        scalar(&item)
    } else {
        None
    }
}

/// A tensor or number; None for anything else (operators then return NotImplemented).
pub fn arg(obj: &Bound<'_, PyAny>) -> Option<Arg> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Some(Arg::Tensor(t.get().t.clone()));
    }
    scalar(obj).map(Arg::Scalar)
}

/// A tensor or number, or TypeError.
pub fn arg_or_err(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Arg> {
    arg(obj).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "{what} must be Tensor or Number, not {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })
}

/// Sizes given as varargs (`view(2, 3)`) or one sequence (`view((2, 3))`).
pub fn shape_args(args: &Bound<'_, PyTuple>) -> PyResult<Vec<i64>> {
    if args.len() == 1 {
        let first = args.get_item(0)?;
        if !first.is_instance_of::<PyInt>() {
            return int_list(&first, "size");
        }
    }
    args.iter().map(|a| int(&a, "size")).collect()
}

/// One integer (ints and 0-d integer tensors; bools and floats are refused).
pub fn int(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        return obj.extract::<i64>();
    }
    if let Ok(t) = obj.cast::<PyTensor>() {
        let t = &t.get().t;
        if t.numel() == 1 && !t.dtype().is_floating_point() {
            return Ok(t.item().py()?.to_i64());
        }
    }
    if let Some(Scalar::Int(i)) = numpy_scalar(obj) {
        return Ok(i);
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be int or a sequence of ints, but got {}",
        obj.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    )))
}

/// An int or a sequence of ints.
pub fn int_list(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<i64>> {
    if obj.is_instance_of::<PyInt>() {
        return Ok(vec![int(obj, what)?]);
    }
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a sequence of ints, not str"
        )));
    }
    let seq = obj.cast::<PySequence>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a tuple of ints, not {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    (0..seq.len()?)
        .map(|i| int(&seq.get_item(i)?, what))
        .collect()
}

/// Non-negative sizes (factories): negative sizes are PyTorch's RuntimeError.
pub fn sizes(v: &[i64]) -> PyResult<Vec<usize>> {
    v.iter()
        .map(|&d| {
            if d < 0 {
                Err(PyRuntimeError::new_err(format!(
                    "Trying to create tensor with negative dimension {d}: {:?}",
                    v
                )))
            } else {
                Ok(d as usize)
            }
        })
        .collect()
}

/// Optional dims (None, an int, or a sequence).
pub fn dims(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<i64>> {
    match obj {
        None => Ok(vec![]),
        Some(o) if o.is_none() => Ok(vec![]),
        Some(o) => int_list(o, "dim"),
    }
}

/// A dtype argument (a rustgrad dtype, or the Python types float/int/bool as PyTorch accepts).
pub fn dtype(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<DType>> {
    let Some(o) = obj else { return Ok(None) };
    if o.is_none() {
        return Ok(None);
    }
    if let Ok(d) = o.cast::<PyDType>() {
        return Ok(Some(d.get().dtype));
    }
    let py = o.py();
    if o.is(py.get_type::<PyFloat>()) {
        return Ok(Some(DType::F64));
    }
    if o.is(py.get_type::<PyBool>()) {
        return Ok(Some(DType::Bool));
    }
    if o.is(py.get_type::<PyInt>()) {
        return Ok(Some(DType::I64));
    }
    if let Ok(s) = o.extract::<String>() {
        if let Some(d) = DType::from_name(
            s.trim_start_matches("torch.")
                .trim_start_matches("rustgrad."),
        ) {
            return Ok(Some(d));
        }
    }
    Err(PyTypeError::new_err(format!(
        "dtype must be rustgrad.dtype, not {}",
        o.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    )))
}

/// A device argument (a device, a string, or a CUDA ordinal).
pub fn device(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Device>> {
    let Some(o) = obj else { return Ok(None) };
    if o.is_none() {
        return Ok(None);
    }
    if let Ok(d) = o.cast::<PyDevice>() {
        return Ok(Some(d.get().device));
    }
    if let Ok(s) = o.cast::<PyString>() {
        return Device::parse(&s.to_cow()?).py().map(Some);
    }
    if o.is_instance_of::<PyInt>() && !o.is_instance_of::<PyBool>() {
        let i: i64 = o.extract()?;
        if i < 0 {
            return Err(PyRuntimeError::new_err("Device index must not be negative"));
        }
        return Ok(Some(Device::Cuda(i as usize)));
    }
    Err(PyTypeError::new_err(format!(
        "device must be a str, int or rustgrad.device, not {}",
        o.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    )))
}

// ----- rustgrad.tensor(data) -------------------------------------------------------------------

/// What a nested Python sequence holds, flattened, and its shape.
struct Nested {
    shape: Vec<usize>,
    values: Vec<Scalar>,
}

const MAX_DEPTH: usize = 64;

fn is_sequence(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>()
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

fn element(obj: &Bound<'_, PyAny>) -> PyResult<Scalar> {
    if let Some(s) = scalar(obj) {
        return Ok(s);
    }
    if let Ok(t) = obj.cast::<PyTensor>() {
        let t = &t.get().t;
        if t.numel() != 1 {
            return Err(PyValueError::new_err(
                "only one element tensors can be converted to Python scalars",
            ));
        }
        return t.item().py();
    }
    Err(PyTypeError::new_err(format!(
        "new(): invalid data type '{}'",
        type_name(obj)
    )))
}

fn walk(obj: &Bound<'_, PyAny>, depth: usize, out: &mut Nested) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(
            "too many dimensions in nested sequence",
        ));
    }
    if !is_sequence(obj) {
        if depth != out.shape.len() {
            return Err(PyValueError::new_err(format!(
                "expected sequence of length {} at dim {} (got a scalar)",
                out.shape.get(depth).copied().unwrap_or(0),
                depth
            )));
        }
        out.values.push(element(obj)?);
        return Ok(());
    }
    let seq = obj.cast::<PySequence>()?;
    let n = seq.len()?;
    if depth == out.shape.len() {
        if !out.values.is_empty() {
            // Elements at this depth were scalars before: a ragged list.
            return Err(PyValueError::new_err(format!(
                "expected a scalar at dim {depth} (got a sequence of length {n})"
            )));
        }
        out.shape.push(n);
    } else if out.shape[depth] != n {
        return Err(PyValueError::new_err(format!(
            "expected sequence of length {} at dim {} (got {n})",
            out.shape[depth], depth
        )));
    }
    for i in 0..n {
        walk(&seq.get_item(i)?, depth + 1, out)?;
    }
    Ok(())
}

/// The dtype PyTorch infers for a list of Python numbers.
fn infer_dtype(values: &[Scalar]) -> DType {
    let mut d = DType::Bool;
    for v in values {
        d = d.promote(v.default_dtype());
    }
    if values.is_empty() {
        DType::default_float()
    } else {
        d
    }
}

fn from_scalars(values: &[Scalar], shape: &[usize], dtype: DType) -> PyResult<Tensor> {
    let t = crate::with_dtype!(dtype, T => {
        let buf = Buffer::<T>::from_iter_exact(values.len(), values.iter().map(|v| v.cast::<T>())).py()?;
        Tensor::from_buffer(buf, shape)
    });
    Ok(t)
}

/// The numpy dtype name mapped to ours (None for unsupported kinds).
fn numpy_dtype(arr: &Bound<'_, PyUntypedArray>) -> Option<DType> {
    let d = arr.dtype();
    match (d.kind(), d.itemsize()) {
        (b'f', 4) => Some(DType::F32),
        (b'f', 8) => Some(DType::F64),
        (b'f', 2) => Some(DType::F16),
        (b'i', 1) => Some(DType::I8),
        (b'i', 2) => Some(DType::I16),
        (b'i', 4) => Some(DType::I32),
        (b'u', 1) => Some(DType::U8),
        // Wider unsigned types have no dtype here: copies hold them as int64.
        (b'i', _) | (b'u', _) => Some(DType::I64),
        (b'b', 1) => Some(DType::Bool),
        _ => None,
    }
}

/// A copy of a NumPy array as a tensor (of its own dtype, or `dtype`).
fn from_numpy_copy(arr: &Bound<'_, PyUntypedArray>, dtype: Option<DType>) -> PyResult<Tensor> {
    let ours = numpy_dtype(arr).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "can't convert np.ndarray of type {}. The only supported types are: float64, float32, float16, int64, int32, int16, int8, uint8, and bool.",
            arr.dtype().str().map(|s| s.to_string()).unwrap_or_default()
        ))
    })?;
    let np = arr.py().import("numpy")?;
    let target = dtype.unwrap_or(ours);
    let np_name = numpy_name(ours)?;
    // np.array keeps 0-d arrays 0-d (ascontiguousarray would make them 1-d).
    let kwargs = pyo3::types::PyDict::new(arr.py());
    kwargs.set_item("dtype", np_name)?;
    kwargs.set_item("order", "C")?;
    let contiguous = np.call_method("array", (arr,), Some(&kwargs))?;
    let shared = from_numpy_shared(&contiguous)?;
    let copy = shared.to_dtype(target).py()?;
    if copy.shares_storage(&shared) {
        copy.copy().py()
    } else {
        Ok(copy)
    }
}

/// NumPy's name for `dtype`; bfloat16 has none (PyTorch's TypeError).
pub fn numpy_name(dtype: DType) -> PyResult<&'static str> {
    Ok(match dtype {
        DType::BF16 => return Err(PyTypeError::new_err("Got unsupported ScalarType BFloat16")),
        DType::Bool => "bool",
        other => other.name(),
    })
}

/// Keeps the NumPy array alive as long as our storage uses its memory.
struct NumpyOwner(#[allow(dead_code)] Py<PyAny>);

/// A tensor sharing memory with a NumPy array (`rustgrad.from_numpy`).
pub fn from_numpy_shared(obj: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let arr = obj.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!("expected np.ndarray (got {})", type_name(obj)))
    })?;
    let dtype = match numpy_dtype(arr) {
        Some(d) if d.size_in_bytes() == arr.dtype().itemsize() => d,
        _ => {
            return Err(PyTypeError::new_err(format!(
                "can't convert np.ndarray of type numpy.{}. The only supported types are: float64, float32, float16, complex64, complex128, int64, int32, int16, int8, uint64, uint32, uint16, uint8, and bool.",
                arr.dtype().typeobj().name().map(|n| n.to_string()).unwrap_or_default()
            )))
        }
    };
    if arr.dtype().is_native_byteorder() == Some(false) {
        return Err(PyValueError::new_err("given numpy array has byte order different from the native byte order. Conversion between byte orders is currently not supported."));
    }
    let item = dtype.size_in_bytes() as isize;
    let shape: Vec<usize> = arr.shape().to_vec();
    let strides = arr.strides();
    let mut elem_strides = Vec::with_capacity(strides.len());
    for (&s, &d) in strides.iter().zip(&shape) {
        if s < 0 {
            return Err(PyValueError::new_err("At least one stride in the given numpy array is negative, and tensors with negative strides are not currently supported. (You can probably work around this by making a copy of your array  with array.copy().) "));
        }
        if s % item != 0 {
            return Err(PyValueError::new_err("given numpy array strides not a multiple of the element byte size. Copy the numpy array to reallocate the memory."));
        }
        elem_strides.push(if d == 1 { 0 } else { (s / item) as usize });
    }
    // SAFETY: PyArrayObject's data pointer is valid while the array lives (kept by the owner).
    let data = unsafe { (*arr.as_array_ptr()).fields.data };
    if !(data as usize).is_multiple_of(dtype.size_in_bytes()) {
        return Err(PyValueError::new_err("given numpy array is not aligned"));
    }
    let numel: usize = shape.iter().product();
    let span = if numel == 0 {
        0
    } else {
        shape
            .iter()
            .zip(&elem_strides)
            .map(|(&d, &s)| (d - 1) * s)
            .sum::<usize>()
            + 1
    };
    let owner: Box<dyn std::any::Any + Send + Sync> = Box::new(NumpyOwner(obj.clone().unbind()));
    let storage = crate::with_dtype!(dtype, T => {
        // SAFETY: `span` elements from `data` lie inside the array's buffer, kept alive by `owner`.
        let buf = unsafe { Buffer::<T>::from_external(data as *mut T, span, owner) }.py()?;
        crate::storage::Storage::cpu(<T as crate::storage::CpuElement>::wrap(buf))
    });
    let strides: crate::tensor::Dims = elem_strides.iter().copied().collect();
    let layout = crate::tensor::Layout::from_parts(shape.iter().copied().collect(), strides, 0);
    Ok(Tensor::from_body(
        std::sync::Arc::new(storage),
        layout,
        None,
    ))
}

/// `rustgrad.tensor(data, dtype=...)`: always a copy.
pub fn tensor_from_data(data: &Bound<'_, PyAny>, dtype: Option<DType>) -> PyResult<Tensor> {
    if let Ok(t) = data.cast::<PyTensor>() {
        let t = t.get().t.detach();
        let out = t.to_dtype(dtype.unwrap_or(t.dtype())).py()?;
        return if out.shares_storage(&t) {
            out.copy().py()
        } else {
            Ok(out)
        };
    }
    if let Ok(arr) = data.cast::<PyUntypedArray>() {
        return from_numpy_copy(arr, dtype);
    }
    if let Some(s) = scalar(data) {
        return from_scalars(&[s], &[], dtype.unwrap_or(s.default_dtype()));
    }
    if data.is_instance_of::<PyString>() || !is_sequence(data) {
        return Err(PyTypeError::new_err(format!(
            "new(): invalid data type '{}'",
            type_name(data)
        )));
    }
    let mut nested = Nested {
        shape: vec![],
        values: vec![],
    };
    walk(data, 0, &mut nested)?;
    let dtype = dtype.unwrap_or_else(|| infer_dtype(&nested.values));
    from_scalars(&nested.values, &nested.shape, dtype)
}
