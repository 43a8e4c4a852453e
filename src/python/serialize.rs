//! Bindings of the safetensors checkpoint reader and writer (`rustgrad._C._save_safetensors`,
//! `_C._load_safetensors`), used by `rustgrad.save` / `rustgrad.load`.

use std::collections::HashMap;
use std::path::PathBuf;

use pyo3::exceptions::{PyFileNotFoundError, PyIsADirectoryError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::tensor::PyTensor;
use super::{compute, convert, IntoPy};
use crate::tensor::Tensor;

/// Writes `tensors` (a dict of name to tensor) and string `metadata` to `path`, atomically.
#[pyfunction]
#[pyo3(signature = (tensors, metadata, path))]
fn _save_safetensors(
    py: Python<'_>,
    tensors: &Bound<'_, PyDict>,
    metadata: Option<HashMap<String, String>>,
    path: PathBuf,
) -> PyResult<()> {
    let mut items: Vec<(String, Tensor)> = Vec::with_capacity(tensors.len());
    for (k, v) in tensors.iter() {
        let name: String = k.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "tensor names must be str, not {}",
                k.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        let t = convert::tensor(&v, &format!("value of '{name}'"))?;
        items.push((name, t));
    }
    let work: usize = items.iter().map(|(_, t)| t.numel()).sum();
    compute(py, work, || {
        crate::serialize::save_safetensors(&items, metadata.as_ref(), &path)
    })
    .py()
}

/// Reads a safetensors file: `(tensors, metadata)`, tensors in file order.
#[pyfunction]
fn _load_safetensors<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> PyResult<(Bound<'py, PyDict>, HashMap<String, String>)> {
    // Python's own exceptions and wording for a path that is not a readable file.
    if !path.exists() {
        return Err(PyFileNotFoundError::new_err(format!(
            "[Errno 2] No such file or directory: '{}'",
            path.display()
        )));
    }
    if path.is_dir() {
        return Err(PyIsADirectoryError::new_err(format!(
            "[Errno 21] Is a directory: '{}'",
            path.display()
        )));
    }
    let (tensors, metadata) = py
        .detach(|| crate::serialize::load_safetensors(&path))
        .py()?;
    let out = PyDict::new(py);
    for (name, t) in tensors {
        out.set_item(name, PyTensor::from(t))?;
    }
    Ok((out, metadata))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_save_safetensors, m)?)?;
    m.add_function(wrap_pyfunction!(_load_safetensors, m)?)?;
    Ok(())
}
