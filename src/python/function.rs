//! The engine's doors for Python code: custom `autograd.Function` nodes, saved-tensor hooks,
//! anomaly mode, and what a running backward offers its callbacks.
//!
//! Every Python callable the engine calls runs with the GIL taken for that call only (the engine
//! itself runs without it), and an exception it raises travels back to the caller unchanged.

use std::sync::Arc;

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use super::convert;
use super::tensor::PyTensor;
use super::{from_py_err, IntoPy};
use crate::autograd::node::{any_requires_grad, intern_name, record_node, Ctx};
use crate::autograd::saved::{PackedTensor, Saved, SavedTensorHooks};
use crate::tensor::Tensor;

/// Calls a Python callable with the GIL held; a raised exception becomes `Error::External`.
pub(crate) fn call_py<T>(f: impl FnOnce(Python<'_>) -> PyResult<T>) -> crate::Result<T> {
    Python::attach(|py| f(py).map_err(from_py_err))
}

/// Records the node of a custom Function (`Function.apply` calls this after `forward` ran under
/// no_grad). `saved` lists `(0, i)` for tensor input `i`, `(1, j)` for output `j`, `(2, tensor)`
/// for any other tensor. `backward(saved_tensors, grad_outputs)` returns one gradient (or None) per
/// tensor input. A `dirty` output (changed in place, `ctx.mark_dirty`) takes the node's history as
/// an in-place op's result does (through its base when it is a view). Returns whether a node was
/// recorded.
#[pyfunction]
fn _record_function(
    name: &str,
    inputs: Vec<PyRef<'_, PyTensor>>,
    outputs: Vec<PyRef<'_, PyTensor>>,
    differentiable: Vec<bool>,
    dirty: Vec<bool>,
    saved: Vec<(u8, Bound<'_, PyAny>)>,
    backward: Py<PyAny>,
) -> PyResult<bool> {
    let inputs: Vec<Tensor> = inputs.iter().map(|t| t.t.clone()).collect();
    let targets: Vec<Tensor> = outputs.iter().map(|t| t.t.clone()).collect();
    let is_dirty = |j: usize| dirty.get(j).copied().unwrap_or(false);
    // The node's own outputs: a dirty tensor is represented by an alias whose history it adopts.
    let outputs: Vec<Tensor> = targets
        .iter()
        .enumerate()
        .map(|(j, t)| {
            if is_dirty(j) {
                t.detached_alias()
            } else {
                t.clone()
            }
        })
        .collect();
    let input_refs: Vec<&Tensor> = inputs.iter().collect();
    if !any_requires_grad(&input_refs) {
        return Ok(false);
    }
    let saved = saved
        .iter()
        .map(|(kind, value)| -> PyResult<Saved> {
            Ok(match kind {
                0 => Saved::Input(index(value, inputs.len())?),
                1 => Saved::Output(index(value, outputs.len())?),
                _ => Saved::Aux(convert::tensor(value, "saved tensor")?),
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let rule = move |ctx: &Ctx<'_>, grads: &[Option<Tensor>]| {
        call_py(|py| {
            let saved = PyTuple::new(py, ctx.saved_all().iter().cloned().map(PyTensor::from))?;
            let out = backward.call1(py, (saved, convert::opt_tensor_tuple(py, grads)?))?;
            convert::opt_tensor_seq(
                out.bind(py),
                "backward",
                "backward must return a sequence of Tensors",
            )
        })
    };
    let output_refs: Vec<&Tensor> = outputs.iter().collect();
    record_node(
        intern_name(name),
        &input_refs,
        &output_refs,
        Some(&differentiable),
        saved,
        Box::new(rule),
    )
    .py()?;
    for (j, target) in targets.iter().enumerate() {
        if is_dirty(j) && outputs[j].requires_grad() {
            target.adopt_history(&outputs[j]).py()?;
        }
    }
    Ok(true)
}

fn index(value: &Bound<'_, PyAny>, len: usize) -> PyResult<usize> {
    let i: usize = value.extract()?;
    if i >= len {
        return Err(PyRuntimeError::new_err("saved tensor index out of range"));
    }
    Ok(i)
}

/// `saved_tensors_hooks(pack_hook, unpack_hook)` as the engine sees it.
struct PyHooks {
    pack: Py<PyAny>,
    unpack: Arc<Py<PyAny>>,
}

struct PyPacked {
    value: Py<PyAny>,
    unpack: Arc<Py<PyAny>>,
}

impl SavedTensorHooks for PyHooks {
    fn pack(&self, tensor: &Tensor) -> crate::Result<Arc<dyn PackedTensor>> {
        let value = call_py(|py| self.pack.call1(py, (PyTensor::from(tensor.clone()),)))?;
        Ok(Arc::new(PyPacked {
            value,
            unpack: self.unpack.clone(),
        }))
    }
}

impl PackedTensor for PyPacked {
    fn unpack(&self) -> crate::Result<Tensor> {
        call_py(|py| {
            let out = self.unpack.call1(py, (self.value.clone_ref(py),))?;
            match out.bind(py).cast::<PyTensor>() {
                Ok(t) => Ok(t.get().t.clone()),
                Err(_) => Err(PyTypeError::new_err(format!(
                    "Output of saved tensor unpack_hook expected to be a Tensor but got result of type {}",
                    out.bind(py).get_type().name()?
                ))),
            }
        })
    }
}

#[pyfunction]
fn _push_saved_tensors_hooks(pack_hook: Py<PyAny>, unpack_hook: Py<PyAny>) {
    crate::autograd::saved::push_hooks(Arc::new(PyHooks {
        pack: pack_hook,
        unpack: Arc::new(unpack_hook),
    }));
}

#[pyfunction]
fn _pop_saved_tensors_hooks() -> PyResult<()> {
    if crate::autograd::saved::pop_hooks() {
        Ok(())
    } else {
        Err(PyRuntimeError::new_err(
            "saved_tensors_hooks: no hooks to pop on this thread",
        ))
    }
}

/// Sets anomaly mode; returns the previous `(enabled, check_nan)`.
#[pyfunction]
#[pyo3(signature = (enabled, check_nan=true))]
fn _set_detect_anomaly(enabled: bool, check_nan: bool) -> (bool, bool) {
    crate::autograd::anomaly::set_enabled(enabled, check_nan)
}

#[pyfunction]
fn is_anomaly_enabled() -> bool {
    crate::autograd::anomaly::is_enabled()
}

#[pyfunction]
fn is_anomaly_check_nan_enabled() -> bool {
    crate::autograd::anomaly::check_nan()
}

/// `Variable._execution_engine.queue_callback(fn)`.
#[pyfunction]
fn _queue_callback(callback: Py<PyAny>) -> PyResult<()> {
    crate::autograd::queue_callback(Box::new(move || {
        call_py(|py| callback.call0(py).map(|_| ()))
    }))
    .py()
}

/// The leaves the backward running on this thread will reach (`autograd.graph.current_backward_leaves`).
#[pyfunction]
fn current_backward_leaves<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
    let leaves = crate::autograd::current_backward_leaves().ok_or_else(|| {
        PyRuntimeError::new_err(
            "current_backward_leaves() can only be called during backward pass.",
        )
    })?;
    PyList::new(py, leaves.into_iter().map(PyTensor::from))
}

/// The Python stack, formatted, for anomaly mode's record of where a node was made.
fn python_stack() -> Option<String> {
    Python::attach(|py| {
        let tb = py.import("traceback").ok()?;
        let lines = tb.call_method0("format_stack").ok()?;
        let joined = pyo3::types::PyString::new(py, "")
            .call_method1("join", (lines,))
            .ok()?;
        joined.extract().ok()
    })
}

/// Anomaly mode's warning for a node that failed in backward, as PyTorch words it.
fn warn_anomaly(node: &str, trace: &str) {
    Python::attach(|py| {
        let msg = format!(
            "Error detected in {node}. Traceback of forward call that caused the error:\n{trace}"
        );
        let category = py.get_type::<pyo3::exceptions::PyUserWarning>();
        let _ = PyErr::warn(
            py,
            &category,
            &std::ffi::CString::new(msg).unwrap_or_default(),
            1,
        );
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    crate::autograd::anomaly::set_trace_provider(python_stack);
    crate::autograd::anomaly::set_reporter(warn_anomaly);
    m.add_function(wrap_pyfunction!(_record_function, m)?)?;
    m.add_function(wrap_pyfunction!(_push_saved_tensors_hooks, m)?)?;
    m.add_function(wrap_pyfunction!(_pop_saved_tensors_hooks, m)?)?;
    m.add_function(wrap_pyfunction!(_set_detect_anomaly, m)?)?;
    m.add_function(wrap_pyfunction!(is_anomaly_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(is_anomaly_check_nan_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(_queue_callback, m)?)?;
    m.add_function(wrap_pyfunction!(current_backward_leaves, m)?)?;
    Ok(())
}
