//! `rustgrad.Tensor`: the class, its construction, metadata, autograd state, conversions to Python
//! and NumPy, and dtype/device moves.
//!
//! The methods are split by topic over several `#[pymethods]` blocks (PyO3's `multiple-pymethods`
//! feature): `tensor_math.rs` (operators, elementwise math, products, in-place arithmetic),
//! `tensor_reduce.rs` (reductions and softmax), `tensor_shape.rs` (views and shapes) and
//! `tensor_index.rs` (indexing). The Tensor methods written in Python are attached in one place,
//! the table in `rustgrad/_tensor.py`; a method is defined in Rust or there, never in both.

use std::sync::Arc;

use numpy::ndarray::{ArrayViewD, IxDyn, ShapeBuilder};
use numpy::PyArray;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use pyo3::IntoPyObjectExt;

use super::autograd::PyNode;
use super::convert::{self, Arg};
use super::dtype::{PyDType, PyDevice};
use super::memory_format;
use super::{compute, IntoPy};
use crate::storage::{DType, Device, Storage};
use crate::tensor::{Scalar, Tensor};

/// A tensor.
#[pyclass(name = "Tensor", module = "rustgrad", subclass, frozen, weakref)]
pub struct PyTensor {
    pub t: Tensor,
}

/// What the legacy constructors (`Tensor(...)`, `LongTensor(...)`, ...) make of their arguments.
pub(crate) fn legacy_new(args: &Bound<'_, PyTuple>, dtype: DType) -> PyResult<Tensor> {
    let sizes: Option<Vec<usize>> = match args.len() {
        0 => Some(vec![0]),
        1 if args.get_item(0)?.get_type().name()? == "Size" => Some(args.get_item(0)?.extract()?),
        _ => args
            .iter()
            .map(|a| {
                if a.is_instance_of::<pyo3::types::PyInt>()
                    && !a.is_instance_of::<pyo3::types::PyBool>()
                {
                    a.extract::<usize>().ok()
                } else {
                    None
                }
            })
            .collect(),
    };
    if let Some(shape) = sizes {
        return Tensor::zeros(&shape, dtype, Device::Cpu).py();
    }
    if args.len() != 1 {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "new(): expected sizes (ints) or one data argument, got {} arguments",
            args.len()
        )));
    }
    let data = args.get_item(0)?;
    match data.cast::<PyTensor>() {
        // An existing tensor: the same data, its own dtype kept (what `Parameter(t)` relies on).
        Ok(t) => Ok(t.get().t.detach()),
        Err(_) => convert::tensor_from_data(&data, Some(dtype)),
    }
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
    _storage: Arc<Storage>,
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

impl PyTensor {
    /// Elements touched by an op on this tensor (decides whether to release the GIL).
    pub(super) fn work(&self) -> usize {
        self.t.numel()
    }
}

#[pymethods]
impl PyTensor {
    /// `Tensor(data)`: a tensor over the same data as `data` when it is a tensor, else a new one.
    /// (Subclasses such as Parameter are built through here.)
    /// `torch.Tensor(...)`, the legacy constructor: no argument is an empty float32 tensor, sizes
    /// (ints or a `Size`) an uninitialized float32 tensor of that shape (zeros here), a tensor an
    /// alias of it (its dtype kept), and other data (lists, arrays) becomes float32 whatever its
    /// element type, as in PyTorch.
    #[new]
    #[pyo3(signature = (*args, requires_grad=false))]
    fn py_new(args: &Bound<'_, PyTuple>, requires_grad: bool) -> PyResult<Self> {
        let t = legacy_new(args, DType::default_float())?;
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
        matches!(self.t.device(), Device::Cuda(_))
    }
    #[getter]
    fn is_cpu(&self) -> bool {
        self.t.device() == Device::Cpu
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
    fn is_contiguous(&self, memory_format: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        super::memory_format::is_contiguous_as(
            memory_format,
            &self.t.shape(),
            &self.t.strides(),
            self.t.is_contiguous(),
        )
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
    /// Identity of the underlying tensor (two Python handles may wrap one tensor), an int as in
    /// PyTorch.
    #[getter]
    fn _cdata(&self) -> usize {
        self.t.id()
    }
    /// One more version, as an in-place write makes (`ctx.mark_dirty`, `increment_version`).
    fn _bump_version(&self) {
        self.t.bump_version();
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
        self.t.grad_fn().map(PyNode::of)
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
            super::function::call_py(|py| {
                let out = hook.call1(py, (PyTensor::from(g.clone()),))?;
                if out.is_none(py) {
                    return Ok(None);
                }
                let t = out.cast_bound::<PyTensor>(py).map_err(|_| {
                    pyo3::exceptions::PyRuntimeError::new_err("hook must return None or a Tensor")
                })?;
                Ok(Some(t.get().t.clone()))
            })
        });
        self.t.register_hook(hook).py()
    }
    /// Registers `hook(tensor)`, run after a backward updated this leaf's `.grad`; returns its id.
    fn _register_post_accumulate_grad_hook(&self, hook: Py<PyAny>) -> PyResult<u64> {
        let hook: crate::autograd::PostAccumulateHook = Arc::new(move |t: &Tensor| {
            super::function::call_py(|py| hook.call1(py, (PyTensor::from(t.clone()),)).map(|_| ()))
        });
        self.t.register_post_accumulate_grad_hook(hook).py()
    }
    fn _remove_hook(&self, id: u64) -> bool {
        self.t.remove_hook(id)
    }

    // ----- data out ------------------------------------------------------------------------------

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
            d if d.is_floating_point() => nested_list(py, &self.t.to_vec::<f64>().py()?, &shape),
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
            _ => nested_list(py, &self.t.to_vec::<i64>().py()?, &shape),
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
        if t.device() != Device::Cpu {
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
        Ok(self.t.to_dtype(DType::I32).py()?.into())
    }
    fn short(&self) -> R {
        Ok(self.t.to_dtype(DType::I16).py()?.into())
    }
    fn char(&self) -> R {
        Ok(self.t.to_dtype(DType::I8).py()?.into())
    }
    fn byte(&self) -> R {
        Ok(self.t.to_dtype(DType::U8).py()?.into())
    }
    fn half(&self) -> R {
        Ok(self.t.to_dtype(DType::F16).py()?.into())
    }
    fn bfloat16(&self) -> R {
        Ok(self.t.to_dtype(DType::BF16).py()?.into())
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
        memory_format::check(memory_format, "cpu", self.t.ndim())?;
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

    // ----- filling in place ----------------------------------------------------------------------

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
}

/// Checks that `device` can be used (CUDA needs a driver and a device).
pub fn check_device(device: Device) -> crate::Result<Device> {
    crate::backend::check_available(device)?;
    Ok(device)
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
    let cpu = data
        .as_cpu()
        .map_err(|_| PyTypeError::new_err("can't convert a CUDA tensor to numpy"))?;
    let container = Bound::new(
        py,
        StorageRef {
            _storage: storage.clone(),
        },
    )?
    .into_any();
    let shape: Vec<usize> = layout.shape().to_vec();
    let strides: Vec<usize> = layout.strides().to_vec();
    let offset = layout.offset();
    macro_rules! view {
        ($t:ty, $base:expr) => {{
            let base: *const $t = $base;
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
        crate::storage::CpuStorage::F32(b) => view!(f32, b.as_ptr()),
        crate::storage::CpuStorage::F64(b) => view!(f64, b.as_ptr()),
        crate::storage::CpuStorage::I64(b) => view!(i64, b.as_ptr()),
        crate::storage::CpuStorage::I32(b) => view!(i32, b.as_ptr()),
        crate::storage::CpuStorage::I16(b) => view!(i16, b.as_ptr()),
        crate::storage::CpuStorage::I8(b) => view!(i8, b.as_ptr()),
        // Bool, uint8 and float16 elements are viewed as their bits and given NumPy's dtype.
        crate::storage::CpuStorage::Bool(b) => {
            let u8s = view!(u8, b.as_ptr());
            return u8s.call_method1("view", ("bool",));
        }
        crate::storage::CpuStorage::U8(b) => view!(u8, b.as_ptr() as *const u8),
        crate::storage::CpuStorage::F16(b) => {
            let bits = view!(u16, b.as_ptr() as *const u16);
            return bits.call_method1("view", ("float16",));
        }
        crate::storage::CpuStorage::BF16(_) => {
            return Err(PyTypeError::new_err("Got unsupported ScalarType BFloat16"))
        }
    };
    Ok(arr)
}

/// `LongTensor(...)` and the other typed legacy constructors: `Tensor(...)`'s rules in `dtype`.
#[pyfunction]
#[pyo3(signature = (dtype, *args))]
fn _legacy_new(dtype: &Bound<'_, PyAny>, args: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
    let dtype = convert::dtype(Some(dtype))?.unwrap_or(DType::F32);
    Ok(PyTensor {
        t: legacy_new(args, dtype)?,
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTensor>()?;
    m.add_function(wrap_pyfunction!(_legacy_new, m)?)?;
    m.add_class::<StorageRef>()?;
    // The unary ops of the table (backend/unary_ops.rs), for `rustgrad.<name>`.
    let unary: Vec<&str> = crate::backend::UnaryOp::METHODS
        .iter()
        .map(|&(_, name)| name)
        .collect();
    m.add("UNARY_OPS", PyTuple::new(m.py(), unary)?)?;
    Ok(())
}
