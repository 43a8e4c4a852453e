//! Bindings of the neural-network ops (`rustgrad._C` functions used by `rustgrad.nn.functional`).

use pyo3::prelude::*;

use super::convert;
use super::tensor::PyTensor;
use super::{compute, IntoPy};

type R = PyResult<PyTensor>;

/// `x @ weight^T + bias` as one fused op.
#[pyfunction]
#[pyo3(signature = (input, weight, bias=None))]
fn linear(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    weight: &Bound<'_, PyAny>,
    bias: Option<&Bound<'_, PyAny>>,
) -> R {
    let x = convert::tensor(input, "input")?;
    let w = convert::tensor(weight, "weight")?;
    let b = convert::opt_tensor(bias, "bias")?;
    let work = x.numel() * w.shape().first().copied().unwrap_or(1);
    Ok(compute(py, work, || x.linear(&w, b.as_ref())).py()?.into())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(linear, m)?)?;
    Ok(())
}
