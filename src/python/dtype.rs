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
        self.dtype != DType::Bool
    }
    #[getter]
    fn itemsize(&self) -> usize {
        self.dtype.size_in_bytes()
    }
    fn __repr__(&self) -> String {
        format!("rustgrad.{}", self.dtype.name())
    }
    fn __reduce__(&self) -> (String,) {
        (self.dtype.name().to_string(),)
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDType>()?;
    m.add_class::<PyDevice>()?;
    m.add_class::<PyGenerator>()?;
    for dtype in DType::ALL {
        m.add(dtype.name(), PyDType { dtype })?;
    }
    Ok(())
}
