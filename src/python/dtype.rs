//! `rustgrad.dtype`, `rustgrad.device` and `rustgrad.Generator`.

use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::storage::{DType, Device};
use crate::tensor::random::Generator;

/// An element type, as `torch.dtype`.
#[pyclass(name = "dtype", module = "rustgrad", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDType {
    pub dtype: DType,
}

#[pymethods]
impl PyDType {
    #[getter]
    fn is_floating_point(&self) -> bool {
        self.dtype.is_floating_point()
    }
    #[getter]
    fn is_signed(&self) -> bool {
        self.dtype.is_signed()
    }
    #[getter]
    fn itemsize(&self) -> usize {
        self.dtype.size_in_bytes()
    }
    fn __repr__(&self) -> String {
        format!("rustgrad.{}", self.dtype.name())
    }
    /// Pickled as the module attribute of its name (`rustgrad.float32`), so it unpickles as the
    /// same object.
    fn __reduce__(&self) -> &'static str {
        self.dtype.name()
    }
}

/// A device, as `torch.device`: `device('cpu')`, `device('cuda:0')`, `device('cuda', 0)`.
#[pyclass(name = "device", module = "rustgrad", frozen)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDevice {
    pub device: Device,
    /// `device('cuda')` without an index: the current device (cuda:0 here), but printed and
    /// compared as PyTorch does (`index` is None, `str` is 'cuda', unequal to 'cuda:0').
    pub bare: bool,
}

impl From<Device> for PyDevice {
    fn from(device: Device) -> Self {
        PyDevice {
            device,
            bare: false,
        }
    }
}

#[pymethods]
impl PyDevice {
    #[new]
    #[pyo3(signature = (kind, index=None))]
    fn new(kind: &Bound<'_, PyAny>, index: Option<i64>) -> PyResult<Self> {
        if let Ok(d) = kind.cast::<PyDevice>() {
            return Ok(*d.get());
        }
        if let Ok(i) = kind.extract::<i64>() {
            if i < 0 {
                return Err(PyRuntimeError::new_err("Device index must not be negative"));
            }
            return Ok(PyDevice::from(Device::Cuda(i as usize)));
        }
        let s: String = kind.extract().map_err(|_| {
            PyTypeError::new_err("device() received an invalid combination of arguments")
        })?;
        let device = Device::parse(&s).map_err(super::to_py_err)?;
        let bare = index.is_none() && s.trim() == "cuda";
        Ok(PyDevice {
            bare,
            device: match (device, index) {
                (Device::Cuda(_), Some(i)) if i >= 0 => Device::Cuda(i as usize),
                (Device::Cpu, Some(i)) if i != 0 => {
                    return Err(PyRuntimeError::new_err(format!(
                        "CPU device index must be -1 or zero, got {i}"
                    )))
                }
                (_, Some(i)) if i < 0 => {
                    return Err(PyRuntimeError::new_err("Device index must not be negative"))
                }
                (d, _) => d,
            },
        })
    }
    #[getter]
    fn r#type(&self) -> &'static str {
        match self.device {
            Device::Cpu => "cpu",
            Device::Cuda(_) => "cuda",
        }
    }
    #[getter]
    fn index(&self) -> Option<usize> {
        match self.device {
            Device::Cpu => None,
            Device::Cuda(_) if self.bare => None,
            Device::Cuda(i) => Some(i),
        }
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        if let Ok(d) = other.cast::<PyDevice>() {
            return *d.get() == *self;
        }
        if let Ok(s) = other.cast::<PyString>() {
            return s.to_cow().ok().is_some_and(|s| s.trim() == self.__str__());
        }
        false
    }
    fn __hash__(&self) -> u64 {
        match self.device {
            Device::Cpu => 0,
            Device::Cuda(_) if self.bare => u64::MAX,
            Device::Cuda(i) => 1 + i as u64,
        }
    }
    fn __str__(&self) -> String {
        if self.bare {
            return "cuda".into();
        }
        self.device.to_string()
    }
    fn __repr__(&self) -> String {
        match self.device {
            Device::Cpu => "device(type='cpu')".into(),
            Device::Cuda(_) if self.bare => "device(type='cuda')".into(),
            Device::Cuda(i) => format!("device(type='cuda', index={i})"),
        }
    }
}

/// A random-number generator with its own seed and position (`torch.Generator`).
#[pyclass(name = "Generator", module = "rustgrad", frozen)]
pub struct PyGenerator {
    pub inner: Mutex<Generator>,
}

#[pymethods]
impl PyGenerator {
    #[new]
    #[pyo3(signature = (device=None))]
    fn new(device: Option<&Bound<'_, PyAny>>) -> Self {
        let _ = device;
        PyGenerator {
            inner: Mutex::new(Generator::new(67_280_421_310_721)),
        }
    }
    fn manual_seed<'py>(slf: Bound<'py, Self>, seed: i64) -> Bound<'py, Self> {
        slf.get().inner.lock().manual_seed(seed as u64);
        slf
    }
    fn initial_seed(&self) -> u64 {
        self.inner.lock().seed()
    }
    fn seed(&self) -> u64 {
        let s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        self.inner.lock().manual_seed(s);
        s
    }
    fn get_state(&self) -> (u64, u64) {
        self.inner.lock().state()
    }
    fn set_state(&self, state: (u64, u64)) {
        self.inner.lock().set_state(state.0, state.1);
    }
}

/// `dtype` argument `name` (position `pos`) of `func`, with PyTorch's TypeError otherwise.
fn dtype_arg(func: &str, name: &str, pos: usize, obj: &Bound<'_, PyAny>) -> PyResult<DType> {
    obj.cast::<PyDType>().map(|d| d.get().dtype).map_err(|_| {
        PyTypeError::new_err(format!(
            "{func}(): argument '{name}' (position {pos}) must be torch.dtype, not {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })
}

/// `torch.promote_types`: the smallest dtype both convert to.
#[pyfunction]
fn promote_types(type1: &Bound<'_, PyAny>, type2: &Bound<'_, PyAny>) -> PyResult<PyDType> {
    let a = dtype_arg("promote_types", "type1", 1, type1)?;
    let b = dtype_arg("promote_types", "type2", 2, type2)?;
    Ok(PyDType {
        dtype: a.promote(b),
    })
}

/// `torch.can_cast`: whether PyTorch's casting rules allow `from_` to be written into `to`.
#[pyfunction]
#[pyo3(signature = (from_, to))]
fn can_cast(from_: &Bound<'_, PyAny>, to: &Bound<'_, PyAny>) -> PyResult<bool> {
    let a = dtype_arg("can_cast", "from_", 1, from_)?;
    let b = dtype_arg("can_cast", "to", 2, to)?;
    Ok(crate::ops::can_cast(a, b))
}

/// `torch.result_type(tensor_or_number, tensor_or_number)`: the dtype of an arithmetic op's
/// result, with the priority of dimensioned tensors, 0-dim tensors and numbers.
#[pyfunction]
fn result_type(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<PyDType> {
    let (Some(x), Some(y)) = (super::convert::arg(a), super::convert::arg(b)) else {
        let name = |o: &Bound<'_, PyAny>| {
            o.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        };
        return Err(PyTypeError::new_err(format!(
            "result_type() received an invalid combination of arguments - got ({}, {})",
            name(a),
            name(b)
        )));
    };
    Ok(PyDType {
        dtype: crate::ops::result_type(&[x.operand(), y.operand()]),
    })
}

/// `torch.get_default_dtype`.
#[pyfunction]
fn get_default_dtype() -> PyDType {
    PyDType {
        dtype: DType::default_float(),
    }
}

/// `torch.set_default_dtype`: float32, float64, float16 or bfloat16.
#[pyfunction]
fn set_default_dtype(d: &Bound<'_, PyAny>) -> PyResult<()> {
    let message = "only floating-point types are supported as the default type";
    let dtype = d
        .cast::<PyDType>()
        .map_err(|_| PyTypeError::new_err(format!("invalid dtype object: {message}")))?
        .get()
        .dtype;
    DType::set_default_float(dtype).map_err(|_| PyTypeError::new_err(message))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(promote_types, m)?)?;
    m.add_function(wrap_pyfunction!(can_cast, m)?)?;
    m.add_function(wrap_pyfunction!(result_type, m)?)?;
    m.add_function(wrap_pyfunction!(get_default_dtype, m)?)?;
    m.add_function(wrap_pyfunction!(set_default_dtype, m)?)?;
    m.add_class::<PyDType>()?;
    m.add_class::<PyDevice>()?;
    m.add_class::<PyGenerator>()?;
    for dtype in DType::ALL {
        m.add(dtype.name(), PyDType { dtype })?;
    }
    Ok(())
}
