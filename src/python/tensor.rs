//! `rustgrad.Tensor`: the Python face of `crate::Tensor`.
//!
//! Hot paths (operators, common methods) are defined here so a call is one PyO3 dispatch; the
//! printing and a few conveniences are added to the class from Python (`rustgrad/_tensor.py`).

use std::sync::Arc;

use numpy::ndarray::{ArrayViewD, IxDyn, ShapeBuilder};
use numpy::PyArray;
use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyEllipsis, PyList, PySlice, PyTuple};
use pyo3::IntoPyObjectExt;

use super::convert::{self, Arg};
use super::dtype::{PyDType, PyDevice};
use super::{compute, IntoPy};
use crate::autograd::NodeRef;
use crate::backend::{BinaryOp, UnaryOp};
use crate::ops::binary::binary_op;
use crate::ops::index::TensorIndex;
use crate::ops::Operand;
use crate::storage::{DType, Device, Storage, StorageData};
use crate::tensor::{Scalar, Tensor};

/// A tensor.
#[pyclass(name = "Tensor", module = "rustgrad", subclass, frozen, weakref)]
pub struct PyTensor {
    pub t: Tensor,
}

impl From<Tensor> for PyTensor {
    fn from(t: Tensor) -> Self {
        PyTensor { t }
    }
}

type R = PyResult<PyTensor>;

/// Keeps a storage alive for a NumPy array that views it.
#[pyclass(name = "_StorageRef", module = "rustgrad._C", frozen)]
struct StorageRef {
    #[allow(dead_code)]
    storage: Arc<Storage>,
}

/// A graph node as Python sees it (`tensor.grad_fn`).
#[pyclass(name = "Node", module = "rustgrad.autograd", frozen)]
pub struct PyNode {
    node: Option<NodeRef>,
    /// For `AccumulateGrad` nodes: the leaf.
    leaf: Option<Tensor>,
}

#[pymethods]
impl PyNode {
    fn name(&self) -> String {
        match (&self.node, &self.leaf) {
            (Some(n), _) => n
                .get()
                .map(|n| n.name().to_string())
                .unwrap_or_else(|_| "<released>".into()),
            _ => "AccumulateGrad".into(),
        }
    }
    #[getter]
    fn next_functions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let mut items: Vec<Bound<'py, PyAny>> = Vec::new();
        if let Some(n) = &self.node {
            let node = n.get().py()?;
            for e in node.edges() {
                let item = match e {
                    crate::autograd::node::Edge::None => {
                        (py.None(), 0usize).into_bound_py_any(py)?
                    }
                    crate::autograd::node::Edge::Node { node, output_nr } => (
                        PyNode {
                            node: Some(node.clone()),
                            leaf: None,
                        },
                        *output_nr,
                    )
                        .into_bound_py_any(py)?,
                    crate::autograd::node::Edge::Leaf(t) => (
                        PyNode {
                            node: None,
                            leaf: Some(t.clone()),
                        },
                        0usize,
                    )
                        .into_bound_py_any(py)?,
                };
                items.push(item);
            }
        }
        PyTuple::new(py, items)
    }
    #[getter]
    fn variable(&self) -> Option<PyTensor> {
        self.leaf.clone().map(PyTensor::from)
    }
    fn __repr__(slf: &Bound<'_, Self>) -> String {
        format!(
            "<{} object at {:#x}>",
            slf.get().name(),
            slf.as_ptr() as usize
        )
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<PyNode>() {
            Ok(o) => {
                let o = o.get();
                match (&self.node, &o.node, &self.leaf, &o.leaf) {
                    (Some(a), Some(b), _, _) => a.ptr_eq(b),
                    (None, None, Some(a), Some(b)) => a.same_tensor(b),
                    _ => false,
                }
            }
            Err(_) => false,
        }
    }
    fn __hash__(&self) -> u64 {
        match (&self.node, &self.leaf) {
            (Some(n), _) => n.key() as u64,
            (_, Some(t)) => t.id() as u64,
            _ => 0,
        }
    }
}

/// Parses a Python index (`x[key]`) into index entries.
fn parse_index(key: &Bound<'_, PyAny>) -> PyResult<Vec<TensorIndex>> {
    if let Ok(tuple) = key.cast::<PyTuple>() {
        return tuple.iter().map(|k| parse_one_index(&k)).collect();
    }
    Ok(vec![parse_one_index(key)?])
}

fn opt_i64(obj: Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    if obj.is_none() {
        Ok(None)
    } else {
        convert::int(&obj, "slice indices").map(Some).map_err(|_| {
            PyTypeError::new_err(
                "slice indices must be integers or None or have an __index__ method",
            )
        })
    }
}

fn parse_one_index(k: &Bound<'_, PyAny>) -> PyResult<TensorIndex> {
    if k.is_none() {
        return Ok(TensorIndex::NewAxis);
    }
    if k.is_instance_of::<PyEllipsis>() {
        return Ok(TensorIndex::Ellipsis);
    }
    if let Ok(s) = k.cast::<PySlice>() {
        return Ok(TensorIndex::Slice {
            start: opt_i64(s.getattr("start")?)?,
            stop: opt_i64(s.getattr("stop")?)?,
            step: opt_i64(s.getattr("step")?)?,
        });
    }
    if let Ok(t) = k.cast::<PyTensor>() {
        let t = &t.get().t;
        if t.ndim() == 0 && t.dtype() == DType::I64 {
            return Ok(TensorIndex::Int(t.item().py()?.to_i64()));
        }
        return Ok(TensorIndex::Tensor(t.clone()));
    }
    if k.is_instance_of::<pyo3::types::PyBool>() {
        return Ok(TensorIndex::Tensor(
            Tensor::scalar(k.extract::<bool>()?, DType::Bool, Device::Cpu).py()?,
        ));
    }
    if let Ok(i) = convert::int(k, "index") {
        return Ok(TensorIndex::Int(i));
    }
    if k.is_instance_of::<PyList>() || k.hasattr("__array__")? {
        let t = convert::tensor_from_data(k, None)?;
        let t = if t.dtype() == DType::Bool || t.dtype() == DType::I64 || t.numel() > 0 {
            t
        } else {
            t.to_dtype(DType::I64).py()?
        };
        return Ok(TensorIndex::Tensor(t));
    }
    Err(PyIndexError::new_err(
        "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices",
    ))
}

/// Builds nested Python lists from row-major values.
fn nested_list<'py, T: Copy + IntoPyObject<'py>>(
    py: Python<'py>,
    values: &[T],
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    if shape.is_empty() {
        return values[0].into_bound_py_any(py);
    }
    let n = shape[0];
    let inner: usize = shape[1..].iter().product();
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        items.push(nested_list(
            py,
            &values[i * inner..(i + 1) * inner],
            &shape[1..],
        )?);
    }
    Ok(PyList::new(py, items)?.into_any())
}

fn return_type<'py>(
    py: Python<'py>,
    name: &str,
    values: Tensor,
    indices: Tensor,
) -> PyResult<Bound<'py, PyAny>> {
    let cls = py.import("rustgrad.return_types")?.getattr(name)?;
    cls.call1((PyTensor::from(values), PyTensor::from(indices)))
}

impl PyTensor {
    /// Elements touched by an op on this tensor (decides whether to release the GIL).
    fn work(&self) -> usize {
        self.t.numel()
    }

    /// `op(self, other)` for operators: NotImplemented for unsupported operand types.
    fn binop(
        &self,
        py: Python<'_>,
        op: BinaryOp,
        other: &Bound<'_, PyAny>,
        reflected: bool,
    ) -> PyResult<Py<PyAny>> {
        let Some(arg) = convert::arg(other) else {
            return Ok(py.NotImplemented());
        };
        let me = Operand::Tensor(&self.t);
        let (a, b) = if reflected {
            (arg.operand(), me)
        } else {
            (me, arg.operand())
        };
        let out = compute(py, self.work(), || binary_op(op, a, b)).py()?;
        PyTensor::from(out).into_py_any(py)
    }

    /// `self op= other` in place; returns self.
    fn inplace(slf: &Bound<'_, Self>, op: BinaryOp, other: &Bound<'_, PyAny>) -> PyResult<()> {
        inplace_arg(slf, op, convert::arg_or_err(other, "other")?)
    }

    fn unary(&self, py: Python<'_>, op: UnaryOp) -> R {
        Ok(
            compute(py, self.work(), || crate::ops::unary::unary_op(op, &self.t))
                .py()?
                .into(),
        )
    }
}

/// Scales `other` by `alpha` (for add/sub's `alpha=`).
fn scaled(arg: Arg, alpha: Option<&Bound<'_, PyAny>>) -> PyResult<Arg> {
    let Some(alpha) = alpha.and_then(convert::scalar) else {
        return Ok(arg);
    };
    if alpha == Scalar::Int(1) || alpha == Scalar::Float(1.0) {
        return Ok(arg);
    }
    Ok(match arg {
        Arg::Tensor(t) => Arg::Tensor(t.mul_scalar(alpha).py()?),
        Arg::Scalar(s) => Arg::Scalar(match (s, alpha) {
            (Scalar::Int(a), Scalar::Int(b)) => Scalar::Int(a * b),
            _ => Scalar::Float(s.to_f64() * alpha.to_f64()),
        }),
    })
}

#[pymethods]
impl PyTensor {
    /// `Tensor(data)`: a tensor over the same data as `data` when it is a tensor, else a new one.
    /// (Subclasses such as Parameter are built through here.)
    #[new]
    #[pyo3(signature = (data=None, requires_grad=false))]
    fn py_new(data: Option<&Bound<'_, PyAny>>, requires_grad: bool) -> PyResult<Self> {
        let t = match data {
            None => Tensor::zeros(&[0], DType::F32, Device::Cpu).py()?,
            Some(d) => match d.cast::<PyTensor>() {
                Ok(t) => t.get().t.detach(),
                Err(_) => convert::tensor_from_data(d, None)?,
            },
        };
        if requires_grad {
            t.set_requires_grad(true).py()?;
        }
        Ok(PyTensor { t })
    }

    // ----- metadata ------------------------------------------------------------------------------

    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        size_object(py, &self.t.shape())
    }
    #[pyo3(signature = (dim=None))]
    fn size<'py>(&self, py: Python<'py>, dim: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        match dim {
            None => size_object(py, &self.t.shape()),
            Some(d) => self.t.size(d).py()?.into_bound_py_any(py),
        }
    }
    fn dim(&self) -> usize {
        self.t.ndim()
    }
    #[getter]
    fn ndim(&self) -> usize {
        self.t.ndim()
    }
    fn ndimension(&self) -> usize {
        self.t.ndim()
    }
    fn numel(&self) -> usize {
        self.t.numel()
    }
    fn nelement(&self) -> usize {
        self.t.numel()
    }
    fn element_size(&self) -> usize {
        self.t.dtype().size_in_bytes()
    }
    #[getter]
    fn itemsize(&self) -> usize {
        self.t.dtype().size_in_bytes()
    }
    #[getter]
    fn nbytes(&self) -> usize {
        self.t.dtype().size_in_bytes() * self.t.numel()
    }
    #[getter]
    fn dtype(&self) -> PyDType {
        PyDType {
            dtype: self.t.dtype(),
        }
    }
    #[getter]
    fn device(&self) -> PyDevice {
        PyDevice::from(self.t.device())
    }
    #[getter]
    fn is_cuda(&self) -> bool {
        self.t.device().is_cuda()
    }
    #[getter]
    fn is_cpu(&self) -> bool {
        !self.t.device().is_cuda()
    }
    #[pyo3(signature = (dim=None))]
    fn stride<'py>(&self, py: Python<'py>, dim: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.t.strides();
        match dim {
            None => PyTuple::new(py, s.iter())?.into_bound_py_any(py),
            Some(d) => {
                s[crate::tensor::normalize_existing_dim(d, s.len()).py()?].into_bound_py_any(py)
            }
        }
    }
    fn storage_offset(&self) -> usize {
        self.t.storage_offset()
    }
    #[pyo3(signature = (memory_format=None))]
    fn is_contiguous(&self, memory_format: Option<&Bound<'_, PyAny>>) -> bool {
        let _ = memory_format;
        self.t.is_contiguous()
    }
    fn is_floating_point(&self) -> bool {
        self.t.dtype().is_floating_point()
    }
    fn data_ptr(&self) -> usize {
        self.t.data_ptr().unwrap_or(0)
    }
    #[getter]
    fn _version(&self) -> u64 {
        self.t.version()
    }
    #[getter]
    fn _base(&self) -> Option<PyTensor> {
        self.t.view_base().cloned().map(PyTensor::from)
    }
    fn _is_view(&self) -> bool {
        self.t.view_base().is_some()
    }
    /// Identity of the underlying tensor (two Python handles may wrap one tensor).
    fn _cdata(&self) -> usize {
        self.t.id()
    }
    fn __hash__(slf: &Bound<'_, Self>) -> isize {
        slf.as_ptr() as isize
    }

    // ----- autograd ------------------------------------------------------------------------------

    #[getter]
    fn requires_grad(&self) -> bool {
        self.t.requires_grad()
    }
    #[setter]
    fn set_requires_grad(&self, value: bool) -> PyResult<()> {
        self.t.set_requires_grad(value).py()
    }
    #[pyo3(signature = (requires_grad=true))]
    fn requires_grad_<'py>(
        slf: Bound<'py, Self>,
        requires_grad: bool,
    ) -> PyResult<Bound<'py, Self>> {
        slf.get().t.set_requires_grad(requires_grad).py()?;
        Ok(slf)
    }
    #[getter]
    fn is_leaf(&self) -> bool {
        self.t.is_leaf()
    }
    #[getter]
    fn grad(&self) -> Option<PyTensor> {
        self.t.grad().map(PyTensor::from)
    }
    #[setter]
    fn set_grad(&self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let g = convert::opt_tensor(value, "grad")?;
        self.t.set_grad(g).py()
    }
    #[getter]
    fn grad_fn(&self) -> Option<PyNode> {
        self.t.grad_fn().map(|n| PyNode {
            node: Some(n),
            leaf: None,
        })
    }
    #[getter]
    fn retains_grad(&self) -> bool {
        self.t.retains_grad()
    }
    fn retain_grad(&self) -> PyResult<()> {
        self.t.retain_grad().py()
    }
    #[getter]
    fn data(&self) -> PyTensor {
        self.t.detach().into()
    }
    #[setter]
    fn set_data(&self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let other = convert::tensor(value, "data")?;
        self.t.set_data(&other);
        Ok(())
    }
    fn detach(&self) -> PyTensor {
        self.t.detach().into()
    }
    fn detach_<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        slf.get().t.detach_().py()?;
        Ok(slf)
    }
    #[pyo3(signature = (gradient=None, retain_graph=None, create_graph=false, inputs=None))]
    fn backward(
        &self,
        py: Python<'_>,
        gradient: Option<&Bound<'_, PyAny>>,
        retain_graph: Option<bool>,
        create_graph: bool,
        inputs: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let g = convert::opt_tensor(gradient, "gradient")?;
        let inputs = super::functions::tensor_list_opt(inputs)?;
        let retain = retain_graph.unwrap_or(create_graph);
        let root = self.t.clone();
        py.detach(move || {
            crate::autograd::backward(&[root], &[g], retain, create_graph, inputs.as_deref())
        })
        .py()
    }
    /// Registers a gradient hook; returns its id (the Python wrapper makes a removable handle).
    fn _register_hook(&self, hook: Py<PyAny>) -> PyResult<u64> {
        let hook: crate::autograd::Hook = Arc::new(move |g: &Tensor| {
            Python::attach(|py| {
                let out = hook
                    .call1(py, (PyTensor::from(g.clone()),))
                    .map_err(|e| crate::Error::runtime(e.to_string()))?;
                if out.is_none(py) {
                    return Ok(None);
                }
                let t = out
                    .cast_bound::<PyTensor>(py)
                    .map_err(|_| crate::Error::runtime("hook must return None or a Tensor"))?;
                Ok(Some(t.get().t.clone()))
            })
        });
        self.t.register_hook(hook).py()
    }
    fn _remove_hook(&self, id: u64) -> bool {
        self.t.remove_hook(id)
    }

    // ----- data out --------------------------------------------------------------------------------

    fn item<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.t.item().py()? {
            Scalar::Bool(b) => b.into_bound_py_any(py),
            Scalar::Int(i) => i.into_bound_py_any(py),
            Scalar::Float(f) => f.into_bound_py_any(py),
        }
    }
    fn tolist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shape = self.t.shape();
        match self.t.dtype() {
            DType::F32 | DType::F64 => nested_list(py, &self.t.to_vec::<f64>().py()?, &shape),
            DType::I64 => nested_list(py, &self.t.to_vec::<i64>().py()?, &shape),
            DType::Bool => {
                let v: Vec<bool> = self
                    .t
                    .to_vec::<u8>()
                    .py()?
                    .into_iter()
                    .map(|b| b != 0)
                    .collect();
                nested_list(py, &v, &shape)
            }
        }
    }
    /// A NumPy array sharing this tensor's memory (CPU tensors only).
    #[pyo3(signature = (force=false))]
    fn numpy<'py>(&self, py: Python<'py>, force: bool) -> PyResult<Bound<'py, PyAny>> {
        let t = if force {
            self.t.detach().to_device(Device::Cpu).py()?
        } else {
            self.t.clone()
        };
        if t.device().is_cuda() {
            return Err(PyTypeError::new_err(format!(
                "can't convert {} device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.",
                t.device()
            )));
        }
        if t.requires_grad() {
            return Err(PyRuntimeError::new_err(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.",
            ));
        }
        numpy_view(py, &t)
    }
    #[pyo3(signature = (dtype=None, copy=None))]
    fn __array__<'py>(
        &self,
        py: Python<'py>,
        dtype: Option<&Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let t = self.t.detach().to_device(Device::Cpu).py()?;
        let arr = numpy_view(py, &t)?;
        let arr = if copy == Some(true) {
            arr.call_method0("copy")?
        } else {
            arr
        };
        match dtype {
            Some(d) if !d.is_none() => arr.call_method1("astype", (d,)),
            _ => Ok(arr),
        }
    }
    fn __len__(&self) -> PyResult<usize> {
        let shape = self.t.shape();
        shape
            .first()
            .copied()
            .ok_or_else(|| PyTypeError::new_err("len() of a 0-d tensor"))
    }
    fn __bool__(&self) -> PyResult<bool> {
        let n = self.t.numel();
        if n != 1 {
            return Err(PyRuntimeError::new_err(if n == 0 {
                "Boolean value of Tensor with no values is ambiguous"
            } else {
                "Boolean value of Tensor with more than one value is ambiguous"
            }));
        }
        Ok(self.t.item().py()?.to_f64() != 0.0)
    }
    fn __float__(&self) -> PyResult<f64> {
        Ok(self.t.item().py()?.to_f64())
    }
    fn __int__(&self) -> PyResult<i64> {
        Ok(self.t.item().py()?.to_i64())
    }
    fn __index__(&self) -> PyResult<i64> {
        if self.t.dtype().is_floating_point() || self.t.numel() != 1 {
            return Err(PyTypeError::new_err(
                "only integer tensors of a single element can be converted to an index",
            ));
        }
        Ok(self.t.item().py()?.to_i64())
    }
    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> R {
        // Fast path: one integer.
        if key.is_exact_instance_of::<pyo3::types::PyInt>() {
            let i: i64 = key.extract()?;
            if self.t.ndim() == 0 {
                return Err(PyIndexError::new_err("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in C++ to convert a 0-dim tensor to a number"));
            }
            return Ok(self.t.select(0, i).py()?.into());
        }
        let spec = parse_index(key)?;
        Ok(compute(py, self.work(), || self.t.index(&spec))
            .py()?
            .into())
    }
    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let spec = parse_index(key)?;
        let value = match convert::arg(value) {
            Some(Arg::Tensor(t)) => t,
            Some(Arg::Scalar(s)) => Tensor::scalar(s, self.t.dtype(), self.t.device()).py()?,
            None => convert::tensor_from_data(value, Some(self.t.dtype()))?,
        };
        compute(py, self.work(), || self.t.index_assign(&spec, &value)).py()
    }
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.t.ndim() == 0 {
            return Err(PyTypeError::new_err("iteration over a 0-d tensor"));
        }
        let parts: Vec<PyTensor> = self
            .t
            .unbind(0)
            .py()?
            .into_iter()
            .map(PyTensor::from)
            .collect();
        PyList::new(py, parts)?.try_iter().map(|i| i.into_any())
    }

    // ----- operators -----------------------------------------------------------------------------

    fn __add__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Add, o, false)
    }
    fn __radd__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Add, o, true)
    }
    fn __sub__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Sub, o, false)
    }
    fn __rsub__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Sub, o, true)
    }
    fn __mul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Mul, o, false)
    }
    fn __rmul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Mul, o, true)
    }
    fn __truediv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Div, o, false)
    }
    fn __rtruediv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Div, o, true)
    }
    fn __floordiv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::FloorDivide, o, false)
    }
    fn __rfloordiv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::FloorDivide, o, true)
    }
    fn __mod__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Remainder, o, false)
    }
    fn __rmod__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Remainder, o, true)
    }
    fn __pow__(
        &self,
        py: Python<'_>,
        o: &Bound<'_, PyAny>,
        modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let _ = modulo;
        if let Some(Scalar::Float(e)) = convert::scalar(o) {
            return PyTensor::from(compute(py, self.work(), || self.t.pow_scalar(e)).py()?)
                .into_py_any(py);
        }
        if let (Some(Scalar::Int(e)), true) =
            (convert::scalar(o), self.t.dtype().is_floating_point())
        {
            return PyTensor::from(compute(py, self.work(), || self.t.pow_scalar(e as f64)).py()?)
                .into_py_any(py);
        }
        self.binop(py, BinaryOp::Pow, o, false)
    }
    fn __rpow__(
        &self,
        py: Python<'_>,
        o: &Bound<'_, PyAny>,
        modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let _ = modulo;
        self.binop(py, BinaryOp::Pow, o, true)
    }
    fn __matmul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let Ok(other) = o.cast::<PyTensor>() else {
            return Ok(py.NotImplemented());
        };
        let other = other.get().t.clone();
        let work = self.work().max(other.numel()) * 8;
        PyTensor::from(compute(py, work, || self.t.matmul(&other)).py()?).into_py_any(py)
    }
    fn __rmatmul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let Ok(other) = o.cast::<PyTensor>() else {
            return Ok(py.NotImplemented());
        };
        let other = other.get().t.clone();
        PyTensor::from(compute(py, self.work(), || other.matmul(&self.t)).py()?).into_py_any(py)
    }
    fn __and__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::LogicalAnd, o, false)
    }
    fn __rand__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::LogicalAnd, o, true)
    }
    fn __or__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::LogicalOr, o, false)
    }
    fn __ror__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::LogicalOr, o, true)
    }
    fn __xor__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::LogicalXor, o, false)
    }
    fn __rxor__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::LogicalXor, o, true)
    }
    fn __eq__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Eq, o, false)
    }
    fn __ne__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Ne, o, false)
    }
    fn __lt__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Lt, o, false)
    }
    fn __le__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Le, o, false)
    }
    fn __gt__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Gt, o, false)
    }
    fn __ge__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Ge, o, false)
    }
    fn __iadd__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        PyTensor::inplace(slf, BinaryOp::Add, o)
    }
    fn __isub__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        PyTensor::inplace(slf, BinaryOp::Sub, o)
    }
    fn __imul__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        PyTensor::inplace(slf, BinaryOp::Mul, o)
    }
    fn __itruediv__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        PyTensor::inplace(slf, BinaryOp::Div, o)
    }
    fn __ipow__(
        slf: &Bound<'_, Self>,
        o: &Bound<'_, PyAny>,
        modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = modulo;
        PyTensor::inplace(slf, BinaryOp::Pow, o)
    }
    fn __neg__(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Neg)
    }
    fn __pos__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }
    fn __abs__(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Abs)
    }
    fn __invert__(&self, py: Python<'_>) -> R {
        if self.t.dtype() != DType::Bool {
            return Err(PyTypeError::new_err(
                "~ (bitwise_not) is only supported on bool tensors",
            ));
        }
        self.unary(py, UnaryOp::LogicalNot)
    }

    // ----- arithmetic methods --------------------------------------------------------------------

    #[pyo3(signature = (other, *, alpha=None))]
    fn add(&self, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> R {
        let arg = scaled(convert::arg_or_err(other, "other")?, alpha)?;
        Ok(compute(py, self.work(), || {
            binary_op(BinaryOp::Add, Operand::Tensor(&self.t), arg.operand())
        })
        .py()?
        .into())
    }
    #[pyo3(signature = (other, *, alpha=None))]
    fn sub(&self, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> R {
        let arg = scaled(convert::arg_or_err(other, "other")?, alpha)?;
        Ok(compute(py, self.work(), || {
            binary_op(BinaryOp::Sub, Operand::Tensor(&self.t), arg.operand())
        })
        .py()?
        .into())
    }
    #[pyo3(signature = (other, *, rounding_mode=None))]
    fn div(&self, py: Python<'_>, other: &Bound<'_, PyAny>, rounding_mode: Option<&str>) -> R {
        let arg = convert::arg_or_err(other, "other")?;
        let out = compute(py, self.work(), || -> crate::Result<Tensor> {
            let q = binary_op(BinaryOp::Div, Operand::Tensor(&self.t), arg.operand())?;
            match rounding_mode {
                None => Ok(q),
                Some("floor") => binary_op(BinaryOp::FloorDivide, Operand::Tensor(&self.t), arg.operand()),
                Some("trunc") => {
                    let t = q.trunc()?;
                    let dt = crate::ops::result_type(&[Operand::Tensor(&self.t), arg.operand()]);
                    t.to_dtype(dt)
                }
                Some(other) => Err(crate::Error::value(format!(
                    "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{other}'"
                ))),
            }
        })
        .py()?;
        Ok(out.into())
    }
    fn mul(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let arg = convert::arg_or_err(other, "other")?;
        Ok(compute(py, self.work(), || {
            binary_op(BinaryOp::Mul, Operand::Tensor(&self.t), arg.operand())
        })
        .py()?
        .into())
    }
    fn pow(&self, py: Python<'_>, exponent: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__pow__(py, exponent, None)
    }
    fn true_divide(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        self.div(py, other, None)
    }
    fn floor_divide(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::FloorDivide, other, false)
    }
    fn remainder(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Remainder, other, false)
    }
    fn fmod(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Fmod, other, false)
    }
    fn maximum(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "other")?;
        Ok(compute(py, self.work(), || self.t.maximum(&o)).py()?.into())
    }
    fn minimum(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "other")?;
        Ok(compute(py, self.work(), || self.t.minimum(&o)).py()?.into())
    }
    fn eq(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Eq, o, false)
    }
    fn ne(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Ne, o, false)
    }
    fn lt(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Lt, o, false)
    }
    fn le(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Le, o, false)
    }
    fn gt(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Gt, o, false)
    }
    fn ge(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Ge, o, false)
    }
    fn logical_and(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::LogicalAnd, o, false)
    }
    fn logical_or(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::LogicalOr, o, false)
    }
    fn logical_xor(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::LogicalXor, o, false)
    }
    fn equal(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let o = convert::tensor(other, "other")?;
        if o.shape() != self.t.shape() {
            return Ok(false);
        }
        Ok(self.t.eq(&o).py()?.all_dims(&[], false).py()?.item().py()? == Scalar::Bool(true))
    }

    fn neg(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Neg)
    }
    fn negative(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Neg)
    }
    fn abs(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Abs)
    }
    fn sign(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Sign)
    }
    fn square(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Square)
    }
    fn exp(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Exp)
    }
    fn log(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Log)
    }
    fn sqrt(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Sqrt)
    }
    fn rsqrt(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Rsqrt)
    }
    fn sin(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Sin)
    }
    fn cos(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Cos)
    }
    fn tanh(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Tanh)
    }
    fn sigmoid(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Sigmoid)
    }
    fn relu(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Relu)
    }
    fn log1p(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Log1p)
    }
    fn expm1(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Expm1)
    }
    fn reciprocal(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Reciprocal)
    }
    fn floor(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Floor)
    }
    fn ceil(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Ceil)
    }
    fn round(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Round)
    }
    fn trunc(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Trunc)
    }
    fn erf(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Erf)
    }
    fn logical_not(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::LogicalNot)
    }
    fn isnan(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::IsNan)
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clamp(&self, py: Python<'_>, min: Option<f64>, max: Option<f64>) -> R {
        Ok(compute(py, self.work(), || self.t.clamp(min, max))
            .py()?
            .into())
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clip(&self, py: Python<'_>, min: Option<f64>, max: Option<f64>) -> R {
        self.clamp(py, min, max)
    }
    fn clamp_min(&self, py: Python<'_>, min: f64) -> R {
        self.clamp(py, Some(min), None)
    }
    fn clamp_max(&self, py: Python<'_>, max: f64) -> R {
        self.clamp(py, None, Some(max))
    }

    // ----- reductions ----------------------------------------------------------------------------

    #[pyo3(signature = (dim, *, dtype=None))]
    fn cumsum(&self, py: Python<'_>, dim: i64, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let dtype = convert::dtype(dtype)?;
        Ok(compute(py, self.work(), || self.t.cumsum(dim, dtype))
            .py()?
            .into())
    }

    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn sum(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> R {
        let dims = convert::dims(dim)?;
        let dtype = convert::dtype(dtype)?;
        let out = compute(py, self.work(), || {
            let x = match dtype {
                Some(d) => self.t.to_dtype(d)?,
                None => self.t.clone(),
            };
            x.sum_dims(&dims, keepdim)
        })
        .py()?;
        Ok(out.into())
    }
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn mean(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> R {
        let dims = convert::dims(dim)?;
        let dtype = convert::dtype(dtype)?;
        let out = compute(py, self.work(), || {
            let x = match dtype {
                Some(d) => self.t.to_dtype(d)?,
                None => self.t.clone(),
            };
            x.mean_dims(&dims, keepdim)
        })
        .py()?;
        Ok(out.into())
    }
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn prod(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> R {
        let dims = convert::dims(dim)?;
        let dtype = convert::dtype(dtype)?;
        let x = match dtype {
            Some(d) => self.t.to_dtype(d).py()?,
            None => self.t.clone(),
        };
        Ok(compute(py, self.work(), || x.prod_dims(&dims, keepdim))
            .py()?
            .into())
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn var(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<bool>,
        keepdim: bool,
        correction: Option<f64>,
    ) -> R {
        let dims = convert::dims(dim)?;
        let c = correction.unwrap_or(if unbiased.unwrap_or(true) { 1.0 } else { 0.0 });
        Ok(
            compute(py, self.work(), || self.t.var_dims(&dims, c, keepdim))
                .py()?
                .into(),
        )
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn std(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<bool>,
        keepdim: bool,
        correction: Option<f64>,
    ) -> R {
        let dims = convert::dims(dim)?;
        let c = correction.unwrap_or(if unbiased.unwrap_or(true) { 1.0 } else { 0.0 });
        Ok(
            compute(py, self.work(), || self.t.std_dims(&dims, c, keepdim))
                .py()?
                .into(),
        )
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn max<'py>(
        &self,
        py: Python<'py>,
        dim: Option<&Bound<'py, PyAny>>,
        keepdim: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.extreme(py, dim, keepdim, true)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn min<'py>(
        &self,
        py: Python<'py>,
        dim: Option<&Bound<'py, PyAny>>,
        keepdim: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.extreme(py, dim, keepdim, false)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmax(&self, py: Python<'_>, dim: Option<i64>, keepdim: bool) -> R {
        Ok(compute(py, self.work(), || self.t.argmax(dim, keepdim))
            .py()?
            .into())
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmin(&self, py: Python<'_>, dim: Option<i64>, keepdim: bool) -> R {
        Ok(compute(py, self.work(), || self.t.argmin(dim, keepdim))
            .py()?
            .into())
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn all(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> R {
        Ok(self.t.all_dims(&convert::dims(dim)?, keepdim).py()?.into())
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn any(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> R {
        Ok(self.t.any_dims(&convert::dims(dim)?, keepdim).py()?.into())
    }
    #[pyo3(signature = (dim, keepdim=false))]
    fn logsumexp(&self, py: Python<'_>, dim: &Bound<'_, PyAny>, keepdim: bool) -> R {
        let dims = convert::dims(Some(dim))?;
        Ok(
            compute(py, self.work(), || self.t.logsumexp(&dims, keepdim))
                .py()?
                .into(),
        )
    }
    #[pyo3(signature = (p=None, dim=None, keepdim=false))]
    fn norm(
        &self,
        p: Option<&Bound<'_, PyAny>>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> R {
        let p = match p {
            None => 2.0,
            Some(v) if v.is_none() => 2.0,
            Some(v) => match v.extract::<String>() {
                Ok(s) if s == "fro" => 2.0,
                Ok(s) => return Err(PyValueError::new_err(format!("unsupported norm type {s}"))),
                Err(_) => v.extract::<f64>()?,
            },
        };
        Ok(self.t.norm(p, &convert::dims(dim)?, keepdim).py()?.into())
    }
    #[pyo3(signature = (dim, dtype=None))]
    fn softmax(&self, py: Python<'_>, dim: i64, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let x = match convert::dtype(dtype)? {
            Some(d) => self.t.to_dtype(d).py()?,
            None => self.t.clone(),
        };
        Ok(compute(py, self.work(), || x.softmax(dim)).py()?.into())
    }
    #[pyo3(signature = (dim, dtype=None))]
    fn log_softmax(&self, py: Python<'_>, dim: i64, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let x = match convert::dtype(dtype)? {
            Some(d) => self.t.to_dtype(d).py()?,
            None => self.t.clone(),
        };
        Ok(compute(py, self.work(), || x.log_softmax(dim)).py()?.into())
    }

    // ----- matrix products -----------------------------------------------------------------------

    fn matmul(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "other")?;
        Ok(compute(py, self.work() * 8, || self.t.matmul(&o))
            .py()?
            .into())
    }
    fn mm(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "mat2")?;
        Ok(compute(py, self.work() * 8, || self.t.mm(&o)).py()?.into())
    }
    fn bmm(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "mat2")?;
        Ok(compute(py, self.work() * 8, || self.t.bmm(&o)).py()?.into())
    }
    fn dot(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "tensor")?;
        if self.t.ndim() != 1 || o.ndim() != 1 {
            return Err(PyRuntimeError::new_err(format!(
                "1D tensors expected, but got {}D and {}D tensors",
                self.t.ndim(),
                o.ndim()
            )));
        }
        Ok(compute(py, self.work(), || self.t.matmul(&o)).py()?.into())
    }

    // ----- views and shapes ----------------------------------------------------------------------

    #[pyo3(signature = (*shape))]
    fn view(&self, shape: &Bound<'_, PyTuple>) -> R {
        if shape.len() == 1 {
            if let Ok(Some(d)) = convert::dtype(Some(&shape.get_item(0)?)) {
                if d != self.t.dtype() {
                    return Err(PyRuntimeError::new_err(
                        "view(dtype) is only supported for the tensor's own dtype",
                    ));
                }
                return Ok(self.t.clone().into());
            }
        }
        Ok(self.t.view(&convert::shape_args(shape)?).py()?.into())
    }
    fn view_as(&self, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "other")?;
        let s: Vec<i64> = o.shape().iter().map(|&d| d as i64).collect();
        Ok(self.t.view(&s).py()?.into())
    }
    #[pyo3(signature = (*shape))]
    fn reshape(&self, shape: &Bound<'_, PyTuple>) -> R {
        Ok(self.t.reshape(&convert::shape_args(shape)?).py()?.into())
    }
    fn reshape_as(&self, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "other")?;
        Ok(self.t.reshape_dims(&o.shape()).py()?.into())
    }
    #[pyo3(signature = (*dims))]
    fn permute(&self, dims: &Bound<'_, PyTuple>) -> R {
        Ok(self.t.permute(&convert::shape_args(dims)?).py()?.into())
    }
    fn transpose(&self, dim0: i64, dim1: i64) -> R {
        Ok(self.t.transpose(dim0, dim1).py()?.into())
    }
    fn swapaxes(&self, axis0: i64, axis1: i64) -> R {
        self.transpose(axis0, axis1)
    }
    fn t(&self) -> R {
        Ok(self.t.t().py()?.into())
    }
    #[getter(T)]
    fn big_t(&self) -> R {
        let n = self.t.ndim() as i64;
        let perm: Vec<i64> = (0..n).rev().collect();
        Ok(self.t.permute(&perm).py()?.into())
    }
    #[getter(mT)]
    fn matrix_t(&self) -> R {
        if self.t.ndim() < 2 {
            return Err(PyRuntimeError::new_err(
                "tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.",
            ));
        }
        Ok(self.t.transpose(-2, -1).py()?.into())
    }
    #[pyo3(signature = (*sizes))]
    fn expand(&self, sizes: &Bound<'_, PyTuple>) -> R {
        Ok(self.t.expand(&convert::shape_args(sizes)?).py()?.into())
    }
    fn expand_as(&self, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "other")?;
        Ok(self.t.broadcast_to(&o.shape()).py()?.into())
    }
    #[pyo3(signature = (dim=None))]
    fn squeeze(&self, dim: Option<&Bound<'_, PyAny>>) -> R {
        let dims = convert::dims(dim)?;
        if dims.is_empty() {
            return Ok(self.t.squeeze(None).py()?.into());
        }
        let nd = self.t.ndim();
        let mut ds: Vec<usize> = dims
            .iter()
            .map(|&d| crate::tensor::normalize_dim(d, nd))
            .collect::<crate::Result<_>>()
            .py()?;
        ds.sort_unstable();
        let mut out = self.t.clone();
        for &d in ds.iter().rev() {
            out = out.squeeze(Some(d as i64)).py()?;
        }
        Ok(out.into())
    }
    fn unsqueeze(&self, dim: i64) -> R {
        Ok(self.t.unsqueeze(dim).py()?.into())
    }
    #[pyo3(signature = (start_dim=0, end_dim=-1))]
    fn flatten(&self, start_dim: i64, end_dim: i64) -> R {
        Ok(self.t.flatten(start_dim, end_dim).py()?.into())
    }
    fn unflatten(&self, dim: i64, sizes: &Bound<'_, PyAny>) -> R {
        Ok(self
            .t
            .unflatten(dim, &convert::int_list(sizes, "sizes")?)
            .py()?
            .into())
    }
    fn narrow(&self, dim: i64, start: i64, length: usize) -> R {
        Ok(self.t.narrow(dim, start, length).py()?.into())
    }
    fn select(&self, dim: i64, index: i64) -> R {
        Ok(self.t.select(dim, index).py()?.into())
    }
    #[pyo3(signature = (split_size_or_sections, dim=0))]
    fn split<'py>(
        &self,
        py: Python<'py>,
        split_size_or_sections: &Bound<'py, PyAny>,
        dim: i64,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let parts = if split_size_or_sections.is_instance_of::<pyo3::types::PyInt>() {
            self.t
                .split(split_size_or_sections.extract::<usize>()?, dim)
                .py()?
        } else {
            let sizes: Vec<usize> =
                convert::sizes(&convert::int_list(split_size_or_sections, "split_sizes")?)?;
            self.t.split_sizes(&sizes, dim).py()?
        };
        PyTuple::new(py, parts.into_iter().map(PyTensor::from))
    }
    #[pyo3(signature = (chunks, dim=0))]
    fn chunk<'py>(
        &self,
        py: Python<'py>,
        chunks: usize,
        dim: i64,
    ) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(
            py,
            self.t
                .chunk(chunks, dim)
                .py()?
                .into_iter()
                .map(PyTensor::from),
        )
    }
    #[pyo3(signature = (dim=0))]
    fn unbind<'py>(&self, py: Python<'py>, dim: i64) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.t.unbind(dim).py()?.into_iter().map(PyTensor::from))
    }
    #[pyo3(signature = (*sizes))]
    fn repeat(&self, sizes: &Bound<'_, PyTuple>) -> R {
        let r = convert::sizes(&convert::shape_args(sizes)?)?;
        Ok(self.t.repeat(&r).py()?.into())
    }
    #[pyo3(signature = (*dims))]
    fn flip(&self, dims: &Bound<'_, PyTuple>) -> R {
        Ok(self.t.flip(&convert::shape_args(dims)?).py()?.into())
    }
    #[pyo3(signature = (memory_format=None))]
    fn contiguous(&self, memory_format: Option<&Bound<'_, PyAny>>) -> R {
        let _ = memory_format;
        Ok(self.t.contiguous().py()?.into())
    }
    #[pyo3(signature = (*, memory_format=None))]
    fn clone(&self, py: Python<'_>, memory_format: Option<&Bound<'_, PyAny>>) -> R {
        let _ = memory_format;
        Ok(compute(py, self.work(), || self.t.copy()).py()?.into())
    }

    // ----- dtype and device ----------------------------------------------------------------------

    /// `to(dtype)`, `to(device)`, `to(device, dtype)`, `to(other)`, with `copy=`.
    #[pyo3(signature = (*args, **kwargs))]
    fn to(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> R {
        let (mut dtype, mut device, mut copy) = (None, None, false);
        for a in args.iter() {
            if let Ok(t) = a.cast::<PyTensor>() {
                dtype = Some(t.get().t.dtype());
                device = Some(t.get().t.device());
            } else if let Ok(Some(d)) = convert::dtype(Some(&a)) {
                dtype = Some(d);
            } else if let Ok(Some(d)) = convert::device(Some(&a)) {
                device = Some(d);
            } else if a.is_instance_of::<pyo3::types::PyBool>() {
                // to(dtype, non_blocking) legacy positional flag.
            } else {
                return Err(PyTypeError::new_err(format!(
                    "to() received an invalid combination of arguments - got ({})",
                    a.get_type().name()?
                )));
            }
        }
        if let Some(kw) = kwargs {
            if let Some(d) = kw.get_item("dtype")? {
                dtype = convert::dtype(Some(&d))?;
            }
            if let Some(d) = kw.get_item("device")? {
                device = convert::device(Some(&d))?;
            }
            if let Some(c) = kw.get_item("copy")? {
                copy = c.extract()?;
            }
        }
        let out = compute(py, self.work(), || -> crate::Result<Tensor> {
            let mut t = self.t.clone();
            if let Some(d) = device {
                t = t.to_device(check_device(d)?)?;
            }
            if let Some(d) = dtype {
                t = t.to_dtype(d)?;
            }
            if copy && t.same_tensor(&self.t) {
                t = t.copy()?;
            }
            Ok(t)
        })
        .py()?;
        Ok(out.into())
    }
    fn float(&self) -> R {
        Ok(self.t.to_dtype(DType::F32).py()?.into())
    }
    fn double(&self) -> R {
        Ok(self.t.to_dtype(DType::F64).py()?.into())
    }
    fn long(&self) -> R {
        Ok(self.t.to_dtype(DType::I64).py()?.into())
    }
    fn int(&self) -> R {
        Ok(self.t.to_dtype(DType::I64).py()?.into())
    }
    fn bool(&self) -> R {
        Ok(self.t.to_dtype(DType::Bool).py()?.into())
    }
    fn type_as(&self, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "other")?;
        Ok(self
            .t
            .to_dtype(o.dtype())
            .py()?
            .to_device(o.device())
            .py()?
            .into())
    }
    #[pyo3(signature = (memory_format=None))]
    fn cpu(&self, memory_format: Option<&Bound<'_, PyAny>>) -> R {
        let _ = memory_format;
        Ok(self.t.to_device(Device::Cpu).py()?.into())
    }
    #[pyo3(signature = (device=None, non_blocking=false))]
    fn cuda(&self, device: Option<&Bound<'_, PyAny>>, non_blocking: bool) -> R {
        let _ = non_blocking;
        let d = match convert::device(device)? {
            Some(Device::Cpu) => {
                return Err(PyRuntimeError::new_err(
                    "Invalid device, must be cuda device",
                ))
            }
            Some(d) => d,
            None => Device::Cuda(0),
        };
        Ok(self.t.to_device(check_device(d).py()?).py()?.into())
    }

    // ----- in place ------------------------------------------------------------------------------

    #[pyo3(signature = (other, *, alpha=None))]
    fn add_<'py>(
        slf: Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
        alpha: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Self>> {
        let arg = scaled(convert::arg_or_err(other, "other")?, alpha)?;
        inplace_arg(&slf, BinaryOp::Add, arg)?;
        Ok(slf)
    }
    #[pyo3(signature = (other, *, alpha=None))]
    fn sub_<'py>(
        slf: Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
        alpha: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Self>> {
        let arg = scaled(convert::arg_or_err(other, "other")?, alpha)?;
        inplace_arg(&slf, BinaryOp::Sub, arg)?;
        Ok(slf)
    }
    fn mul_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        inplace_arg(&slf, BinaryOp::Mul, convert::arg_or_err(other, "other")?)?;
        Ok(slf)
    }
    fn div_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        inplace_arg(&slf, BinaryOp::Div, convert::arg_or_err(other, "other")?)?;
        Ok(slf)
    }
    fn pow_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        inplace_arg(&slf, BinaryOp::Pow, convert::arg_or_err(other, "exponent")?)?;
        Ok(slf)
    }
    fn zero_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        let t = &slf.get().t;
        compute(slf.py(), t.numel(), || t.zero_()).py()?;
        Ok(slf)
    }
    fn fill_<'py>(slf: Bound<'py, Self>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let v = match convert::arg_or_err(value, "value")? {
            Arg::Scalar(s) => s,
            Arg::Tensor(t) => t.item().py()?,
        };
        let t = &slf.get().t;
        compute(slf.py(), t.numel(), || t.fill_(v)).py()?;
        Ok(slf)
    }
    #[pyo3(signature = (src, non_blocking=false))]
    fn copy_<'py>(
        slf: Bound<'py, Self>,
        src: &Bound<'py, PyAny>,
        non_blocking: bool,
    ) -> PyResult<Bound<'py, Self>> {
        let _ = non_blocking;
        let s = convert::tensor(src, "src")?;
        let t = &slf.get().t;
        compute(slf.py(), t.numel(), || t.copy_(&s)).py()?;
        Ok(slf)
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clamp_(
        slf: Bound<'_, Self>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> PyResult<Bound<'_, Self>> {
        slf.get().t.clamp_(min, max).py()?;
        Ok(slf)
    }
    fn relu_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.relu_().py()?;
        Ok(slf)
    }
    fn neg_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.unary_(UnaryOp::Neg).py()?;
        Ok(slf)
    }
    fn exp_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.unary_(UnaryOp::Exp).py()?;
        Ok(slf)
    }
    fn sqrt_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.unary_(UnaryOp::Sqrt).py()?;
        Ok(slf)
    }
    fn sigmoid_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.unary_(UnaryOp::Sigmoid).py()?;
        Ok(slf)
    }
    fn tanh_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.unary_(UnaryOp::Tanh).py()?;
        Ok(slf)
    }
    fn abs_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.unary_(UnaryOp::Abs).py()?;
        Ok(slf)
    }
    fn masked_fill_<'py>(
        slf: Bound<'py, Self>,
        mask: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Self>> {
        let m = convert::tensor(mask, "mask")?;
        let v = match convert::arg_or_err(value, "value")? {
            Arg::Scalar(s) => s,
            Arg::Tensor(t) => t.item().py()?,
        };
        slf.get().t.masked_fill_(&m, v).py()?;
        Ok(slf)
    }
    #[pyo3(signature = (a=0.0, b=1.0, *, generator=None))]
    fn uniform_<'py>(
        slf: Bound<'py, Self>,
        a: f64,
        b: f64,
        generator: Option<&Bound<'py, super::dtype::PyGenerator>>,
    ) -> PyResult<Bound<'py, Self>> {
        let t = &slf.get().t;
        let r = super::functions::random_like(t, false, generator)?;
        let v = r.mul_scalar(b - a).py()?.add_scalar(a).py()?;
        crate::autograd::no_grad(|| t.copy_(&v)).py()?;
        Ok(slf)
    }
    #[pyo3(signature = (mean=0.0, std=1.0, *, generator=None))]
    fn normal_<'py>(
        slf: Bound<'py, Self>,
        mean: f64,
        std: f64,
        generator: Option<&Bound<'py, super::dtype::PyGenerator>>,
    ) -> PyResult<Bound<'py, Self>> {
        let t = &slf.get().t;
        let r = super::functions::random_like(t, true, generator)?;
        let v = r.mul_scalar(std).py()?.add_scalar(mean).py()?;
        crate::autograd::no_grad(|| t.copy_(&v)).py()?;
        Ok(slf)
    }

    // ----- indexing ops --------------------------------------------------------------------------

    fn index_select(&self, dim: i64, index: &Bound<'_, PyAny>) -> R {
        Ok(self
            .t
            .index_select(dim, &convert::tensor(index, "index")?)
            .py()?
            .into())
    }
    fn gather(&self, dim: i64, index: &Bound<'_, PyAny>) -> R {
        Ok(self
            .t
            .gather(dim, &convert::tensor(index, "index")?)
            .py()?
            .into())
    }
    fn scatter(&self, dim: i64, index: &Bound<'_, PyAny>, src: &Bound<'_, PyAny>) -> R {
        let index = convert::tensor(index, "index")?;
        let src = match convert::arg_or_err(src, "src")? {
            Arg::Tensor(t) => t,
            Arg::Scalar(s) => {
                Tensor::full(&index.shape(), s, self.t.dtype(), self.t.device()).py()?
            }
        };
        Ok(self.t.scatter(dim, &index, &src).py()?.into())
    }
    fn scatter_add(&self, dim: i64, index: &Bound<'_, PyAny>, src: &Bound<'_, PyAny>) -> R {
        Ok(self
            .t
            .scatter_add(
                dim,
                &convert::tensor(index, "index")?,
                &convert::tensor(src, "src")?,
            )
            .py()?
            .into())
    }
    fn index_add(&self, dim: i64, index: &Bound<'_, PyAny>, source: &Bound<'_, PyAny>) -> R {
        Ok(self
            .t
            .index_add(
                dim,
                &convert::tensor(index, "index")?,
                &convert::tensor(source, "source")?,
            )
            .py()?
            .into())
    }
    fn masked_fill(&self, mask: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> R {
        let m = convert::tensor(mask, "mask")?;
        let v = match convert::arg_or_err(value, "value")? {
            Arg::Scalar(s) => s,
            Arg::Tensor(t) => t.item().py()?,
        };
        Ok(self.t.masked_fill(&m, v).py()?.into())
    }
    fn masked_select(&self, mask: &Bound<'_, PyAny>) -> R {
        Ok(self
            .t
            .masked_select(&convert::tensor(mask, "mask")?)
            .py()?
            .into())
    }
    #[pyo3(signature = (*, as_tuple=false))]
    fn nonzero<'py>(&self, py: Python<'py>, as_tuple: bool) -> PyResult<Bound<'py, PyAny>> {
        let nz = self.t.nonzero().py()?;
        if as_tuple {
            let cols: Vec<PyTensor> = nz.unbind(1).py()?.into_iter().map(PyTensor::from).collect();
            return PyTuple::new(py, cols)?.into_bound_py_any(py);
        }
        PyTensor::from(nz).into_bound_py_any(py)
    }
    #[pyo3(name = "where")]
    fn where_(&self, condition: &Bound<'_, PyAny>, other: &Bound<'_, PyAny>) -> R {
        let c = convert::tensor(condition, "condition")?;
        let o = convert::arg_or_err(other, "other")?;
        Ok(
            crate::ops::binary::where_operands(&c, Operand::Tensor(&self.t), o.operand())
                .py()?
                .into(),
        )
    }
}

impl PyTensor {
    fn extreme<'py>(
        &self,
        py: Python<'py>,
        dim: Option<&Bound<'py, PyAny>>,
        keepdim: bool,
        want_max: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        match dim {
            None => {
                let out = if want_max { self.t.max() } else { self.t.min() };
                PyTensor::from(out.py()?).into_bound_py_any(py)
            }
            Some(d) if d.is_none() => self.extreme(py, None, keepdim, want_max),
            Some(d) => {
                if let Ok(other) = d.cast::<PyTensor>() {
                    // max(other) is maximum(self, other).
                    let o = other.get().t.clone();
                    let out = if want_max {
                        self.t.maximum(&o)
                    } else {
                        self.t.minimum(&o)
                    };
                    return PyTensor::from(out.py()?).into_bound_py_any(py);
                }
                let d: i64 = convert::int(d, "dim")?;
                let (v, i) = if want_max {
                    self.t.max_dim(d, keepdim)
                } else {
                    self.t.min_dim(d, keepdim)
                }
                .py()?;
                return_type(py, if want_max { "max" } else { "min" }, v, i)
            }
        }
    }
}

fn inplace_arg(slf: &Bound<'_, PyTensor>, op: BinaryOp, arg: Arg) -> PyResult<()> {
    let t = &slf.get().t;
    compute(slf.py(), t.numel(), || match &arg {
        Arg::Tensor(o) => t.binary_tensor_(op, o),
        Arg::Scalar(s) => t.binary_scalar_(op, *s),
    })
    .py()
}

/// Checks that `device` can be used (CUDA needs a driver and a device).
pub fn check_device(device: Device) -> crate::Result<Device> {
    match device {
        Device::Cpu => Ok(device),
        Device::Cuda(_) => {
            #[cfg(feature = "cuda")]
            {
                crate::backend::cuda::check_available(device)?;
                Ok(device)
            }
            #[cfg(not(feature = "cuda"))]
            Err(crate::Error::runtime(
                "Torch not compiled with CUDA enabled: this rustgrad build has no CUDA backend",
            ))
        }
    }
}

/// `rustgrad.Size([..])` (a tuple subclass defined in Python).
pub fn size_object<'py>(py: Python<'py>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    static SIZE: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let tuple = PyTuple::new(py, shape.iter())?;
    let cls = SIZE.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("rustgrad._size")?.getattr("Size")?.unbind())
    })?;
    cls.bind(py).call1((tuple,))
}

/// A NumPy array viewing the tensor's memory (strides included), kept alive by the storage.
fn numpy_view<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    let storage = t.storage();
    let layout = t.layout();
    let data = storage.read();
    #[allow(irrefutable_let_patterns)]
    let StorageData::Cpu(cpu) = &*data
    else {
        return Err(PyTypeError::new_err("can't convert a CUDA tensor to numpy"));
    };
    let container = Bound::new(
        py,
        StorageRef {
            storage: storage.clone(),
        },
    )?
    .into_any();
    let shape: Vec<usize> = layout.shape().to_vec();
    let strides: Vec<usize> = layout.strides().to_vec();
    let offset = layout.offset();
    macro_rules! view {
        ($t:ty, $slice:expr) => {{
            let base: *const $t = $slice.as_ptr();
            // SAFETY: the view covers elements of the storage (offset and strides come from the
            // tensor's layout), which `container` keeps alive as long as the array.
            let view = unsafe {
                ArrayViewD::<$t>::from_shape_ptr(
                    IxDyn(&shape).strides(IxDyn(&strides)),
                    base.add(offset),
                )
            };
            let arr = unsafe { PyArray::<$t, IxDyn>::borrow_from_array(&view, container) };
            arr.into_any()
        }};
    }
    let arr = match cpu {
        crate::storage::CpuStorage::F32(b) => view!(f32, b.as_slice()),
        crate::storage::CpuStorage::F64(b) => view!(f64, b.as_slice()),
        crate::storage::CpuStorage::I64(b) => view!(i64, b.as_slice()),
        crate::storage::CpuStorage::Bool(b) => {
            let u8s = view!(u8, b.as_slice());
            return u8s.call_method1("view", ("bool",));
        }
    };
    Ok(arr)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTensor>()?;
    m.add_class::<PyNode>()?;
    m.add_class::<StorageRef>()?;
    Ok(())
}
