//! `memory_format=` arguments: `rustgrad.contiguous_format`, `preserve_format`, `channels_last`
//! and `channels_last_3d` (the objects live in python/rustgrad/_memory_format.py).
//!
//! rustgrad tensors are always row-major, so every result already has the contiguous (and the
//! preserved) format; the channels-last formats are checked for rank as PyTorch does, then refused.

use pyo3::exceptions::{PyNotImplementedError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;

/// The attribute that marks a `rustgrad.memory_format` object, holding its name.
const MARKER: &str = "_memory_format_name";

/// The name of a `memory_format` argument ("contiguous_format", ...): None for None; anything
/// that is not a memory format is a TypeError naming `op`.
fn format_name(obj: Option<&Bound<'_, PyAny>>, op: &str) -> PyResult<Option<String>> {
    let Some(o) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    match o
        .getattr(MARKER)
        .ok()
        .and_then(|n| n.extract::<String>().ok())
    {
        Some(name) => Ok(Some(name)),
        None => {
            let type_name = o
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "object".into());
            Err(PyTypeError::new_err(format!(
                "{op}(): argument 'memory_format' must be rustgrad.memory_format, not {type_name}"
            )))
        }
    }
}

/// Checks the `memory_format` argument of `op` for a tensor of rank `ndim`: None or a
/// contiguous/preserve format pass; anything that is not a memory format is a TypeError.
pub fn check(obj: Option<&Bound<'_, PyAny>>, op: &str, ndim: usize) -> PyResult<()> {
    let Some(name) = format_name(obj, op)? else {
        return Ok(());
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

/// `Tensor.is_contiguous(memory_format)`: row-major contiguity, or PyTorch's channels-last test
/// (the channel dim innermost, then the spatial dims from the last, then the batch; size-1 dims
/// skipped), which a permuted row-major tensor can pass.
pub fn is_contiguous_as(
    obj: Option<&Bound<'_, PyAny>>,
    shape: &[usize],
    strides: &[usize],
    row_major: bool,
) -> PyResult<bool> {
    let order: &[usize] = match format_name(obj, "is_contiguous")?.as_deref() {
        None | Some("contiguous_format") | Some("preserve_format") => return Ok(row_major),
        Some("channels_last") if shape.len() == 4 => &[1, 3, 2, 0],
        Some("channels_last_3d") if shape.len() == 5 => &[1, 4, 3, 2, 0],
        Some(_) => return Ok(false),
    };
    let mut expected = 1;
    for &d in order {
        if shape[d] != 1 {
            if strides[d] != expected {
                return Ok(false);
            }
            expected *= shape[d];
        }
    }
    Ok(true)
}
