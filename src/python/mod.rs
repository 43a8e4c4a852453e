//! PyO3 bindings: argument conversion and error mapping only; every computation is a call into
//! the Rust API. Each file registers its own classes and functions on the `_C` module.

// Bindings mirror PyTorch's signatures, which take many keyword arguments.
#![allow(clippy::too_many_arguments)]

mod autograd;
mod convert;
#[cfg(feature = "cuda")]
mod cuda;
mod dlpack;
mod dtype;
mod function;
mod functions;
mod layout;
mod memory_format;
mod nn;
mod optim;
mod serialize;
mod tensor;
mod tensor_index;
mod tensor_math;
mod tensor_reduce;
mod tensor_shape;

use pyo3::exceptions::{
    PyIndexError, PyNotImplementedError, PyOSError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;

use crate::error::Error;

/// Maps a rustgrad error to the Python exception PyTorch raises for it.
pub(crate) fn to_py_err(e: Error) -> PyErr {
    match e {
        Error::Runtime(m) => PyRuntimeError::new_err(m),
        Error::Value(m) => PyValueError::new_err(m),
        Error::Index(m) => PyIndexError::new_err(m),
        Error::Type(m) => PyTypeError::new_err(m),
        Error::NotImplemented(m) => PyNotImplementedError::new_err(m),
        Error::Io(m) => PyOSError::new_err(m),
        e @ Error::Internal(_) => PyRuntimeError::new_err(e.to_string()),
        // An exception raised in a Python hook or backward: the same exception, traceback included.
        Error::External(e) => match e.downcast_ref::<PyErr>() {
            Some(err) => Python::attach(|py| err.clone_ref(py)),
            None => PyRuntimeError::new_err(e.to_string()),
        },
    }
}

/// Carries a Python exception through the Rust engine (see [`Error::External`]).
pub(crate) fn from_py_err(e: PyErr) -> Error {
    Error::external(e)
}

/// `.py()` turns a rustgrad `Result` into a `PyResult`.
pub(crate) trait IntoPy<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for crate::Result<T> {
    #[inline]
    fn py(self) -> PyResult<T> {
        self.map_err(to_py_err)
    }
}

/// Elements above which a binding releases the GIL while it computes.
pub(crate) const DETACH_THRESHOLD: usize = 1 << 14;

/// Runs `f` without the GIL when the work is big enough for that to pay off.
#[inline]
pub(crate) fn compute<T: Send>(py: Python<'_>, work: usize, f: impl FnOnce() -> T + Send) -> T {
    if work >= DETACH_THRESHOLD {
        py.detach(f)
    } else {
        f()
    }
}

#[pymodule]
#[pyo3(name = "_C")]
fn c_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    dtype::register(m)?;
    tensor::register(m)?;
    autograd::register(m)?;
    function::register(m)?;
    functions::register(m)?;
    layout::register(m)?;
    nn::register(m)?;
    optim::register(m)?;
    serialize::register(m)?;
    dlpack::register(m)?;
    #[cfg(feature = "cuda")]
    cuda::register(m)?;
    Ok(())
}
