"""Automatic differentiation: grad mode, ``backward``, ``grad``, custom ``Function``s, hooks on the
graph, ``gradcheck``.

The engine is Rust (``rustgrad._C``); this package holds PyTorch's Python API around it, in PyTorch's
layout (``grad_mode``, ``function``, ``graph``, ``functional``, ``anomaly_mode``, ``gradcheck``).
"""

from .. import _C
from .._C import is_grad_enabled, graph_nodes
from .grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .function import Function, FunctionCtx, once_differentiable
from .anomaly_mode import detect_anomaly, set_detect_anomaly, is_anomaly_enabled, is_anomaly_check_nan_enabled
from .variable import Variable
from . import functional, graph

__all__ = [
    "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
    "backward", "grad", "gradcheck", "gradgradcheck", "graph_nodes", "Function", "once_differentiable",
    "detect_anomaly", "set_detect_anomaly", "Variable",
]


def _as_tuple(x):
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x,)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None, inputs=None):
    """Computes the sum of gradients of ``tensors`` with respect to graph leaves."""
    if grad_variables is not None:
        grad_tensors = grad_variables
    tensors = _as_tuple(tensors)
    grad_tensors = _as_tuple(grad_tensors)
    if grad_tensors is not None and len(grad_tensors) != len(tensors):
        raise RuntimeError(
            f"grad_tensors should have the same length as tensors. Got {len(grad_tensors)} and {len(tensors)}")
    _C._backward(list(tensors), None if grad_tensors is None else list(grad_tensors), retain_graph, create_graph,
                 None if inputs is None else list(_as_tuple(inputs)))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Computes and returns the gradients of ``outputs`` with respect to ``inputs``."""
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    grad_outputs = _as_tuple(grad_outputs)
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    if materialize_grads:
        allow_unused = True
    result = _C._grad(list(outputs), list(inputs), None if grad_outputs is None else list(grad_outputs),
                      retain_graph, create_graph, allow_unused)
    if materialize_grads:
        result = tuple(g if g is not None else _C.zeros_like(i) for g, i in zip(result, inputs))
    return result
