//! `rustgrad.layout` and the factories' `layout=`: rustgrad's tensors are dense and strided, so
//! `rustgrad.strided` is the one value (PyTorch's sparse layouts have no counterpart here).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

/// How a tensor's elements are arranged in memory, as `torch.layout`.
#[pyclass(name = "layout", module = "rustgrad", frozen, eq)]
#[derive(PartialEq)]
pub struct PyLayout;

#[pymethods]
impl PyLayout {
    fn __repr__(&self) -> &'static str {
        "rustgrad.strided"
    }
    /// Pickled by name, so that it unpickles as the module's one instance.
    fn __reduce__(&self) -> &'static str {
        "strided"
    }
}

/// A factory's `layout=` argument: None or `rustgrad.strided`; TypeError for anything else.
pub fn check_layout(fn_name: &str, layout: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    match layout {
        Some(l) if !l.is_none() && !l.is_instance_of::<PyLayout>() => {
            Err(PyTypeError::new_err(format!(
                "{fn_name}(): argument 'layout' must be rustgrad.layout, not {}",
                l.get_type().name()?
            )))
        }
        _ => Ok(()),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLayout>()?;
    m.add("strided", PyLayout)?;
    Ok(())
}
