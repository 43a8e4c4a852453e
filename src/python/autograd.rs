//! Autograd bindings: graph nodes as Python sees them (`tensor.grad_fn`), grad mode, and
//! `backward` / `grad` over several tensors.

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PySequence, PyTuple};
use pyo3::IntoPyObjectExt;
use std::sync::Arc;

use super::function::call_py;

use super::convert;
use super::functions::{tensor_list, tensor_list_opt};
use super::tensor::PyTensor;
use super::IntoPy;
use crate::autograd::node::{NodePostHook, NodePreHook};
use crate::autograd::NodeRef;
use crate::tensor::Tensor;

/// A graph node as Python sees it (`tensor.grad_fn`).
#[pyclass(name = "Node", module = "rustgrad.autograd", frozen)]
pub struct PyNode {
    node: Option<NodeRef>,
    /// For `AccumulateGrad` nodes: the leaf.
    leaf: Option<Tensor>,
}

#[pymethods]
impl PyNode {
    fn name(&self) -> String {
        match (&self.node, &self.leaf) {
            (Some(n), _) => n
                .get()
                .map(|n| n.name().to_string())
                .unwrap_or_else(|_| "<released>".into()),
            _ => "AccumulateGrad".into(),
        }
    }
    #[getter]
    fn next_functions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let mut items: Vec<Bound<'py, PyAny>> = Vec::new();
        if let Some(n) = &self.node {
            let node = n.get().py()?;
            for e in node.edges() {
                let item = match e {
                    crate::autograd::node::Edge::None => {
                        (py.None(), 0usize).into_bound_py_any(py)?
                    }
                    crate::autograd::node::Edge::Node { node, output_nr } => (
                        PyNode {
                            node: Some(node.clone()),
                            leaf: None,
                        },
                        *output_nr,
                    )
                        .into_bound_py_any(py)?,
                    crate::autograd::node::Edge::Leaf(t) => (
                        PyNode {
                            node: None,
                            leaf: Some(t.clone()),
                        },
                        0usize,
                    )
                        .into_bound_py_any(py)?,
                };
                items.push(item);
            }
        }
        PyTuple::new(py, items)
    }
    #[getter]
    fn variable(&self) -> Option<PyTensor> {
        self.leaf.clone().map(PyTensor::from)
    }
    /// A dict for the user's notes on this node, the same one on every access.
    #[getter]
    fn metadata(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let make = || -> Arc<dyn std::any::Any + Send + Sync> {
            Arc::new(Python::attach(|py| PyDict::new(py).unbind()))
        };
        let extra = match (&self.node, &self.leaf) {
            (Some(node), _) => node.get().py()?.extra_or_insert_with(make),
            (None, Some(leaf)) => leaf.leaf_extra_or_insert_with(make),
            (None, None) => return Ok(PyDict::new(py).unbind()),
        };
        let dict = extra
            .downcast_ref::<Py<PyDict>>()
            .ok_or_else(|| PyRuntimeError::new_err("node metadata was set by another front end"))?;
        Ok(dict.clone_ref(py))
    }
    /// The tensors saved for backward as stored: `(tensor or None when packed by a hook,
    /// is_output)`; raises once they were freed by a backward.
    fn _saved_tensors_info(&self) -> PyResult<Vec<(Option<PyTensor>, bool)>> {
        let Some(node) = &self.node else {
            return Ok(Vec::new());
        };
        Ok(node
            .get()
            .py()?
            .peek_saved()
            .py()?
            .into_iter()
            .map(|(t, out)| (t.map(PyTensor::from), out))
            .collect())
    }
    /// The saved tensors as the rule would get them (version-checked, unpack hooks run).
    fn _unpack_saved(&self) -> PyResult<Vec<PyTensor>> {
        let Some(node) = &self.node else {
            return Ok(Vec::new());
        };
        let n = node.get().py()?;
        Ok(n.unpack_saved(node)
            .py()?
            .into_iter()
            .map(PyTensor::from)
            .collect())
    }
    /// `grad_fn.register_hook(fn(grad_inputs, grad_outputs))`; returns the hook's id.
    fn _register_hook(&self, hook: Py<PyAny>) -> PyResult<u64> {
        let node = self.require_node("register_hook")?;
        let hook: NodePostHook = Arc::new(move |grad_inputs, grad_outputs| {
            call_py(|py| {
                let out = hook.call1(
                    py,
                    (
                        convert::opt_tensor_tuple(py, grad_inputs)?,
                        convert::opt_tensor_tuple(py, grad_outputs)?,
                    ),
                )?;
                hook_result(out.bind(py))
            })
        });
        Ok(node.get().py()?.register_post_hook(hook))
    }
    /// `grad_fn.register_prehook(fn(grad_outputs))`; returns the hook's id.
    fn _register_prehook(&self, hook: Py<PyAny>) -> PyResult<u64> {
        let node = self.require_node("register_prehook")?;
        let hook: NodePreHook = Arc::new(move |grad_outputs| {
            call_py(|py| {
                let out = hook.call1(py, (convert::opt_tensor_tuple(py, grad_outputs)?,))?;
                hook_result(out.bind(py))
            })
        });
        Ok(node.get().py()?.register_pre_hook(hook))
    }
    fn _remove_hook(&self, id: u64) -> bool {
        match &self.node {
            Some(n) => n.get().map(|n| n.remove_hook(id)).unwrap_or(false),
            None => false,
        }
    }
    fn __repr__(slf: &Bound<'_, Self>) -> String {
        format!(
            "<{} object at {:#x}>",
            slf.get().name(),
            slf.as_ptr() as usize
        )
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<PyNode>() {
            Ok(o) => {
                let o = o.get();
                match (&self.node, &o.node, &self.leaf, &o.leaf) {
                    (Some(a), Some(b), _, _) => a.ptr_eq(b),
                    (None, None, Some(a), Some(b)) => a.same_tensor(b),
                    _ => false,
                }
            }
            Err(_) => false,
        }
    }
    fn __hash__(&self) -> u64 {
        match (&self.node, &self.leaf) {
            (Some(n), _) => n.key() as u64,
            (_, Some(t)) => t.id() as u64,
            _ => 0,
        }
    }
}

/// What a node hook returned: None (keep the gradients) or a sequence of `Tensor | None`.
fn hook_result(out: &Bound<'_, PyAny>) -> PyResult<Option<Vec<Option<Tensor>>>> {
    if out.is_none() {
        return Ok(None);
    }
    convert::opt_tensor_seq(
        out,
        "hook result",
        "hook must return None or a tuple of Tensors",
    )
    .map(Some)
}

impl PyNode {
    fn require_node(&self, what: &str) -> PyResult<&NodeRef> {
        self.node.as_ref().ok_or_else(|| {
            PyRuntimeError::new_err(format!(
                "{what} on AccumulateGrad is handled by the leaf tensor"
            ))
        })
    }

    /// The node that made a tensor (its `grad_fn`).
    pub(super) fn of(node: NodeRef) -> Self {
        PyNode {
            node: Some(node),
            leaf: None,
        }
    }
}

#[pyfunction]
fn is_grad_enabled() -> bool {
    crate::autograd::is_grad_enabled()
}

/// Sets grad mode and returns the previous one (context managers live in Python).
#[pyfunction]
fn _set_grad_enabled(enabled: bool) -> bool {
    crate::autograd::set_grad_enabled(enabled)
}

/// `autograd.backward(tensors, grad_tensors, retain_graph, create_graph, inputs)`.
#[pyfunction]
#[pyo3(signature = (tensors, grad_tensors=None, retain_graph=None, create_graph=false, inputs=None))]
fn _backward(
    py: Python<'_>,
    tensors: &Bound<'_, PyAny>,
    grad_tensors: Option<&Bound<'_, PyAny>>,
    retain_graph: Option<bool>,
    create_graph: bool,
    inputs: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let roots = tensor_list(tensors, "tensors")?;
    let grads = grad_list(grad_tensors, roots.len())?;
    let inputs = tensor_list_opt(inputs)?;
    let retain = retain_graph.unwrap_or(create_graph);
    py.detach(move || {
        crate::autograd::backward(&roots, &grads, retain, create_graph, inputs.as_deref())
    })
    .py()
}

fn grad_list(obj: Option<&Bound<'_, PyAny>>, n: usize) -> PyResult<Vec<Option<Tensor>>> {
    let Some(o) = obj.filter(|o| !o.is_none()) else {
        return Ok(vec![None; n]);
    };
    if let Ok(t) = o.cast::<PyTensor>() {
        return Ok(vec![Some(t.get().t.clone())]);
    }
    let seq = o
        .cast::<PySequence>()
        .map_err(|_| PyTypeError::new_err("grad_outputs must be a sequence of Tensors"))?;
    let out: Vec<Option<Tensor>> = (0..seq.len()?)
        .map(|i| convert::opt_tensor(Some(&seq.get_item(i)?), "grad_outputs"))
        .collect::<PyResult<_>>()?;
    if out.len() != n {
        return Err(PyRuntimeError::new_err(format!(
            "grad_tensors should have the same length as tensors. Got {} and {n}",
            out.len()
        )));
    }
    Ok(out)
}

/// `autograd.grad(...)`: the gradients of `inputs`, as a tuple (None where unused).
#[pyfunction]
#[pyo3(signature = (outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=false, allow_unused=None))]
fn _grad<'py>(
    py: Python<'py>,
    outputs: &Bound<'py, PyAny>,
    inputs: &Bound<'py, PyAny>,
    grad_outputs: Option<&Bound<'py, PyAny>>,
    retain_graph: Option<bool>,
    create_graph: bool,
    allow_unused: Option<bool>,
) -> PyResult<Bound<'py, PyTuple>> {
    let outs = tensor_list(outputs, "outputs")?;
    let ins = tensor_list(inputs, "inputs")?;
    let grads = grad_list(grad_outputs, outs.len())?;
    let retain = retain_graph.unwrap_or(create_graph);
    let allow = allow_unused.unwrap_or(false);
    let result = py
        .detach(move || crate::autograd::grad(&outs, &ins, &grads, retain, create_graph, allow))
        .py()?;
    PyTuple::new(py, result.into_iter().map(|g| g.map(PyTensor::from)))
}

/// Number of autograd graph nodes alive (for leak tests).
#[pyfunction]
fn graph_nodes() -> usize {
    crate::autograd::live_nodes()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyNode>()?;
    m.add_function(wrap_pyfunction!(is_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(_set_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(_backward, m)?)?;
    m.add_function(wrap_pyfunction!(_grad, m)?)?;
    m.add_function(wrap_pyfunction!(graph_nodes, m)?)?;
    Ok(())
}
