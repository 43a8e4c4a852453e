//! Bindings of the fused optimizer updates (`rustgrad._C._sgd_step`, `_C._adam_step`), called once
//! per parameter group by `rustgrad.optim`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PySequence};

use super::tensor::PyTensor;
use super::{compute, convert, IntoPy};
use crate::optim::{AdamOptions, SgdOptions};
use crate::tensor::Tensor;

/// A sequence of tensors (a list or tuple).
fn tensors(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Tensor>> {
    let seq = sequence(obj, what)?;
    (0..seq.len()?)
        .map(|i| convert::tensor(&seq.get_item(i)?, what))
        .collect()
}

fn sequence<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PySequence>> {
    obj.cast::<PySequence>().cloned().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a list of tensors, not {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })
}

fn total_numel(params: &[Tensor]) -> usize {
    params.iter().map(Tensor::numel).sum()
}

/// One SGD step over a parameter group; returns the momentum buffers (the given objects, and new
/// tensors where an entry was None and momentum is on).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn _sgd_step<'py>(
    py: Python<'py>,
    params: &Bound<'py, PyAny>,
    grads: &Bound<'py, PyAny>,
    momentum_buffers: &Bound<'py, PyAny>,
    lr: f64,
    weight_decay: f64,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    maximize: bool,
) -> PyResult<Bound<'py, PyList>> {
    let p = tensors(params, "params")?;
    let g = tensors(grads, "grads")?;
    let bufs_in = sequence(momentum_buffers, "momentum_buffers")?;
    let n_bufs = bufs_in.len()?;
    let mut bufs = Vec::with_capacity(n_bufs);
    for i in 0..n_bufs {
        let b = bufs_in.get_item(i)?;
        bufs.push(convert::opt_tensor(Some(&b), "momentum_buffers")?);
    }
    let options = SgdOptions {
        lr,
        momentum,
        dampening,
        weight_decay,
        nesterov,
        maximize,
    };
    let was_none: Vec<bool> = bufs.iter().map(Option::is_none).collect();
    let work = total_numel(&p);
    compute(py, work, || {
        crate::optim::sgd_step(&p, &g, &mut bufs, &options)
    })
    .py()?;
    let out = PyList::empty(py);
    for (i, b) in bufs.into_iter().enumerate() {
        if was_none[i] {
            match b {
                Some(t) => out.append(PyTensor::from(t))?,
                None => out.append(py.None())?,
            }
        } else {
            // Keep the caller's object, so optimizer state keeps its identity across steps.
            out.append(bufs_in.get_item(i)?)?;
        }
    }
    Ok(out)
}

/// One Adam (or AdamW, `decoupled_weight_decay=True`) step over a parameter group. `steps` are the
/// per-parameter step counts, already incremented.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn _adam_step(
    py: Python<'_>,
    params: &Bound<'_, PyAny>,
    grads: &Bound<'_, PyAny>,
    exp_avgs: &Bound<'_, PyAny>,
    exp_avg_sqs: &Bound<'_, PyAny>,
    max_exp_avg_sqs: &Bound<'_, PyAny>,
    steps: Vec<f64>,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> PyResult<()> {
    let p = tensors(params, "params")?;
    let g = tensors(grads, "grads")?;
    let m = tensors(exp_avgs, "exp_avgs")?;
    let v = tensors(exp_avg_sqs, "exp_avg_sqs")?;
    let vmax = if amsgrad {
        tensors(max_exp_avg_sqs, "max_exp_avg_sqs")?
    } else {
        Vec::new()
    };
    let options = AdamOptions {
        lr,
        betas: (beta1, beta2),
        eps,
        weight_decay,
        amsgrad,
        maximize,
        decoupled_weight_decay,
    };
    let work = total_numel(&p);
    compute(py, work, || {
        crate::optim::adam_step(&p, &g, &m, &v, &vmax, &steps, &options)
    })
    .py()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_sgd_step, m)?)?;
    m.add_function(wrap_pyfunction!(_adam_step, m)?)?;
    Ok(())
}
