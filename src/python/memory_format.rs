//! `memory_format=` arguments: `rustgrad.contiguous_format`, `preserve_format`, `channels_last`
//! and `channels_last_3d` (the objects live in python/rustgrad/_memory_format.py).
//!
//! rustgrad tensors are always row-major, so every result already has the contiguous (and the
//! preserved) format; the channels-last formats are checked for rank as PyTorch does, then refused.

use pyo3::exceptions::{PyNotImplementedError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;

/// The attribute that marks a `rustgrad.memory_format` object, holding its name.
const MARKER: &str = "_memory_format_name";

/// Checks the `memory_format` argument of `op` for a tensor of rank `ndim`: None or a
/// contiguous/preserve format pass; anything that is not a memory format is a TypeError.
pub fn check(obj: Option<&Bound<'_, PyAny>>, op: &str, ndim: usize) -> PyResult<()> {
    let Some(o) = obj else { return Ok(()) };
    if o.is_none() {
        return Ok(());
    }
    let name = o
        .getattr(MARKER)
        .ok()
        .and_then(|n| n.extract::<String>().ok());
    let Some(name) = name else {
        let type_name = o
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "object".into());
        return Err(PyTypeError::new_err(format!(
            "{op}(): argument 'memory_format' must be rustgrad.memory_format, not {type_name}"
        )));
    };
    let rank = match name.as_str() {
        "channels_last" => 4,
        "channels_last_3d" => 5,
        _ => return Ok(()),
    };
    if ndim != rank {
        return Err(PyRuntimeError::new_err(format!(
            "required rank {rank} tensor to use {name} format"
        )));
    }
    Err(PyNotImplementedError::new_err(format!(
        "{op}(): memory_format=rustgrad.{name} is not supported: rustgrad tensors are always \
         contiguous (row-major)"
    )))
}
