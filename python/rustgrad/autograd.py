"""Automatic differentiation: grad mode, ``backward``, ``grad``, ``gradcheck``.

The engine is Rust (``rustgrad._C``); this module holds PyTorch's Python API around it.
"""

import functools

from . import _C
from ._C import is_grad_enabled, graph_nodes

__all__ = [
    "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
    "backward", "grad", "gradcheck", "graph_nodes",
]


class _GradMode:
    """Base of the grad-mode context managers; also usable as decorators."""

    enabled = True

    def __enter__(self):
        self._prev = _C._set_grad_enabled(self.enabled)
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper

    def clone(self):
        return self.__class__()


class no_grad(_GradMode):
    """Disables gradient recording (context manager or decorator, with or without parentheses)."""

    enabled = False

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class enable_grad(_GradMode):
    """Enables gradient recording (context manager or decorator)."""

    enabled = True


class inference_mode(_GradMode):
    """As ``no_grad`` when ``mode`` is True (rustgrad has no separate inference tensors)."""

    def __init__(self, mode=True):
        self.mode = mode
        self.enabled = not mode

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)

        return wrapper

    def clone(self):
        return self.__class__(self.mode)


class set_grad_enabled:
    """Sets grad mode on (True) or off (False): at once when called, restored when used as a
    context manager."""

    def __init__(self, mode):
        self._prev = _C._set_grad_enabled(bool(mode))
        self.mode = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        _C._set_grad_enabled(self._prev)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):
                return fn(*args, **kwargs)

        return wrapper

    def clone(self):
        return self.__class__(self.mode)


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


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when analytical and numerical gradients disagree."""


def _numerical_jacobian(fn, inputs, index, eps):
    """d(outputs)/d(inputs[index]) by central differences: columns[j][k][i] = d out_k[i] / d x[j]."""
    x = inputs[index]
    flat = x.detach().reshape(-1)
    columns = []

    def evaluate():
        # The function itself runs with grad mode as the caller has it (gradgradcheck needs it).
        return [o.detach().reshape(-1).double().clone() for o in _outputs(fn(*inputs))]

    for j in range(flat.numel()):
        with no_grad():
            orig = flat[j].item()
            flat[j] = orig + eps
        plus = evaluate()
        with no_grad():
            flat[j] = orig - eps
        minus = evaluate()
        with no_grad():
            flat[j] = orig
        columns.append([((p - m) / (2 * eps)).tolist() for p, m in zip(plus, minus)])
    return columns


def _outputs(out):
    if isinstance(out, (list, tuple)):
        return [o for o in out if isinstance(o, _C.Tensor)]
    return [out]


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
              check_batched_forward_grad=False, check_forward_ad=False, check_backward_ad=True,
              fast_mode=False, masked=None):
    """Checks gradients computed by autograd against central finite differences, as PyTorch's
    ``gradcheck``: inputs that require grad should be float64."""
    inputs = _as_tuple(inputs)
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, _C.Tensor) and t.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, "
                         "but none of the them have requires_grad=True.")
    for i in diff_idx:
        numerical = _numerical_jacobian(func, inputs, i, eps)
        # A fresh forward: the perturbations above wrote into the inputs in place.
        outs = _outputs(func(*inputs))
        x = inputs[i]
        for k, out in enumerate(outs):
            if not out.requires_grad:
                continue
            flat_out = out.reshape(-1)
            for r in range(flat_out.numel()):
                g = _C.zeros_like(flat_out)
                g[r] = 1.0
                (analytical,) = grad(flat_out, x, g.reshape(flat_out.shape), retain_graph=True, allow_unused=True)
                a_row = [0.0] * x.numel() if analytical is None else analytical.reshape(-1).double().tolist()
                for j in range(x.numel()):
                    n_val = numerical[j][k][r]
                    a_val = a_row[j]
                    if abs(a_val - n_val) > atol + rtol * abs(n_val):
                        msg = (f"Jacobian mismatch for output {k} with respect to input {i},\n"
                               f"numerical:{n_val}\nanalytical:{a_val}\n"
                               f"(at output element {r}, input element {j})")
                        if raise_exception:
                            raise GradcheckError(msg)
                        return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **kw):
    """Checks second-order gradients: gradcheck applied to the gradient function."""
    inputs = _as_tuple(inputs)
    outs = _outputs(func(*inputs))
    if grad_outputs is None:
        grad_outputs = [_C.randn(*o.shape, dtype=o.dtype) for o in outs]
    diff = [t for t in inputs if isinstance(t, _C.Tensor) and t.requires_grad]

    def first_grads(*args):
        out = _outputs(func(*args))
        d = [a for a in args if isinstance(a, _C.Tensor) and a.requires_grad]
        return grad(out, d, list(grad_outputs), create_graph=True, allow_unused=True)

    return gradcheck(lambda *a: tuple(g for g in first_grads(*a) if g is not None), inputs, eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception) if diff else True
