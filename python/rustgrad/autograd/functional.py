"""Higher-level autograd helpers, as PyTorch's ``torch.autograd.functional``: ``vjp``, ``jvp``,
``jacobian``, ``hessian``, ``vhp`` and ``hvp``.

Everything is built on reverse mode (``rustgrad.autograd.grad``). Forward-mode products (``jvp``,
``hvp``) use the double-backward trick, as PyTorch does: the gradient of the inputs is linear in the
``grad_outputs`` given to the backward, so differentiating that gradient with respect to a dummy
``grad_outputs`` (zeros that require grad) against ``v`` gives ``J v``. This needs the backward of
every op ``func`` uses to be differentiable itself (a double backward).

Not supported: ``vectorize=True`` (PyTorch's vmap-batched gradients) and the ``"forward-mode"``
strategies (PyTorch's forward AD); both raise ``NotImplementedError``.
"""

from .. import _C
from .grad_mode import enable_grad, set_grad_enabled

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]

_Tensor = _C.Tensor


# ----- argument handling --------------------------------------------------------------------------

def _tensor_tuple(value, arg_name, fn_name):
    """(was it a tuple, the value as a tuple of Tensors); PyTorch's TypeError for anything else.

    Only a ``tuple`` counts as several tensors (a list is one non-Tensor value), as in PyTorch."""
    was_tuple = isinstance(value, tuple)
    items = value if was_tuple else (value,)
    for index, item in enumerate(items):
        if isinstance(item, _Tensor):
            continue
        where = f"the value at index {index}" if was_tuple else f"the given {arg_name}"
        raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of Tensors "
                        f"but {where} has type {type(item)}.")
    return was_tuple, items


def _fresh(tensors, create_graph, need_graph):
    """New tensor objects for ``tensors``, so that ``func`` differentiates with respect to these and not
    to the caller's tensors it may have captured (PyTorch issue 32576).

    With ``create_graph`` a tensor that requires grad stays connected to the caller's graph (a view);
    every other one is detached and requires grad exactly when ``need_graph``."""
    fresh = []
    for t in tensors:
        if create_graph and t.requires_grad:
            fresh.append(t.view_as(t))
        else:
            fresh.append(t.detach().requires_grad_(need_graph))
    return tuple(fresh)


def _finish(result, create_graph):
    """Detaches every tensor of a (nested) tuple, unless the caller asked for a graph."""
    if create_graph:
        return result
    return tuple(_finish(r, False) if isinstance(r, tuple) else r.detach() for r in result)


def _unpack(result, was_tuple):
    """Undoes ``_tensor_tuple``: the single element when the caller gave a single tensor."""
    return result if was_tuple else result[0]


def _unpack2(result, outer_was_tuple, inner_was_tuple):
    """``_unpack`` for a tuple (over outputs) of tuples (over inputs)."""
    if not inner_was_tuple:
        result = tuple(row[0] for row in result)
    return _unpack(result, outer_was_tuple)


def _check_v(v, refs, refs_were_tuple):
    """``v`` (a tuple of tensors) must match ``refs`` in length and in each shape."""
    if len(v) != len(refs):
        if refs_were_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(refs)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for index, (a, b) in enumerate(zip(v, refs)):
        if a.size() != b.size():
            entry = f"Entry {index} in " if refs_were_tuple else ""
            raise RuntimeError(f"{entry}v has invalid size: should be {b.size()} but got {a.size()}.")


def _prepare_v(v, refs, refs_were_tuple, create_graph, fn_name, none_message):
    """The tuple form of ``v``, checked against ``refs``; None stays None when ``refs`` is a single
    one-element tensor (the gradient is then seeded with 1), else ``none_message`` is raised."""
    if v is None:
        if len(refs) != 1 or refs[0].nelement() != 1:
            raise RuntimeError(none_message)
        return None
    _, v = _tensor_tuple(v, "v", fn_name)
    v = _fresh(v, create_graph, need_graph=False)
    _check_v(v, refs, refs_were_tuple)
    return v


_V_NONE_FOR_OUTPUT = ("The vector v can only be None if the user-provided function returns a single Tensor "
                      "with a single element.")
_V_NONE_FOR_INPUT = ("The vector v can only be None if the input to the user-provided function is a single "
                     "Tensor with a single element.")


def _scalar_output(out, fn_name, strict):
    """Checks that a hessian-like ``func`` returned one single-element tensor; returns its tuple form."""
    was_tuple, outputs = _tensor_tuple(out, "outputs of the user-provided function", fn_name)
    _strict_outputs(outputs, strict)
    if was_tuple:
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if outputs[0].nelement() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should contain a single element")
    return outputs


# ----- strict-mode checks -------------------------------------------------------------------------

def _strict_outputs(outputs, strict):
    if not strict:
        return
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"Output {i} of the user-provided function does not require gradients. The outputs "
                               "must be computed in a differentiable manner from the input when running in strict "
                               "mode.")


def _strict_grad_inputs(grad_inputs, strict):
    """jvp's first backward: every input must be reached, through a graph (the trick needs one)."""
    if not strict:
        return
    for i, g in enumerate(grad_inputs):
        if g is None:
            raise RuntimeError(f"The output of the user-provided function is independent of input {i}. This is "
                               "not allowed in strict mode.")
        if not g.requires_grad:
            raise RuntimeError(f"The gradient with respect to input {i} is independent of the inputs of the "
                               "user-provided function. This is not allowed in strict mode.")


def _strict_jacobian(jac, strict):
    """hvp / vhp / hessian: the first-order gradient must depend on the inputs."""
    if not strict:
        return
    for i, g in enumerate(jac):
        if g is None:
            raise RuntimeError(f"The output of the user-provided function is independent of input {i}. This is "
                               "not allowed in strict mode.")
        if not g.requires_grad:
            raise RuntimeError("While computing the hessian, found that the jacobian of the user-provided function "
                               f"with respect to input {i} is independent of the input. This is not allowed in "
                               "strict mode. You should ensure that your function is twice differentiable and that "
                               "the jacobian depends on the inputs (this would be violated by a linear function for "
                               "example).")


_MISSING = {
    "back": "The output of the user-provided function is independent of input {i}. This is not allowed in strict "
            "mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the grad_outputs when "
                  "using the double backward trick to compute forward mode gradients. This is not allowed in strict "
                  "mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. This is not allowed in "
                   "strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} in the "
                         "grad_jacobian. This is not allowed in strict mode as it prevents from using the double "
                         "backward trick to replace forward mode AD.",
}


def _zeros_for_missing(grads, refs, strict, create_graph, stage):
    """Replaces each None gradient by zeros shaped as its ``refs`` entry (strict mode raises instead); with
    strict and create_graph, a gradient without a graph is an error too."""
    filled = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_MISSING[stage].format(i=i))
            g = _C.zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if stage.startswith("double") else "jacobian"
            raise RuntimeError(f"The {what} of the user-provided function is independent of input {i}. This is "
                               "not allowed in strict mode when create_graph=True.")
        filled.append(g)
    return tuple(filled)


# ----- the engine call ----------------------------------------------------------------------------

def _grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """``autograd.grad`` that tolerates outputs which are None or do not require grad (they contribute
    nothing) and returns None for inputs that no output reaches."""
    from . import grad  # the package imports this module while it is being initialised

    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    kept = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not kept:
        return (None,) * len(inputs)
    return grad(tuple(o for o, _ in kept), inputs, tuple(g for _, g in kept), retain_graph=retain_graph,
                create_graph=create_graph, allow_unused=True)


def _result_grad_mode(create_graph):
    """The grad mode the last backward runs in: on with create_graph, else the caller's."""
    return set_grad_enabled(True if create_graph else _C.is_grad_enabled())


# ----- public API ---------------------------------------------------------------------------------

def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``v^T J`` at ``inputs``, J the Jacobian of ``func``; returns ``(func(inputs), vjp)``.

    ``v`` has the shape of ``func``'s output (optional when that is a single one-element tensor); the
    vjp has the shape of ``inputs``. With ``create_graph`` both results are differentiable; with
    ``strict`` an input that no output depends on is an error instead of a zero vjp."""
    with enable_grad():
        inputs_were_tuple, inputs = _tensor_tuple(inputs, "inputs", "vjp")
        inputs = _fresh(inputs, create_graph, need_graph=True)
        outputs_were_tuple, outputs = _tensor_tuple(func(*inputs), "outputs of the user-provided function", "vjp")
        _strict_outputs(outputs, strict)
        v = _prepare_v(v, outputs, outputs_were_tuple, create_graph, "vjp", _V_NONE_FOR_OUTPUT)

    with _result_grad_mode(create_graph):
        grads = _grad(outputs, inputs, v, create_graph=create_graph)
        result = _zeros_for_missing(grads, inputs, strict, create_graph, "back")

    return (_unpack(_finish(outputs, create_graph), outputs_were_tuple),
            _unpack(_finish(result, create_graph), inputs_were_tuple))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``J v`` at ``inputs``, J the Jacobian of ``func``; returns ``(func(inputs), jvp)``.

    ``v`` has the shape of ``inputs`` (optional when that is a single one-element tensor); the jvp has
    the shape of ``func``'s output. Computed by the double-backward trick (see the module docstring)."""
    with enable_grad():
        inputs_were_tuple, inputs = _tensor_tuple(inputs, "inputs", "jvp")
        inputs = _fresh(inputs, create_graph, need_graph=True)
        v = _prepare_v(v, inputs, inputs_were_tuple, create_graph, "jvp", _V_NONE_FOR_INPUT)
        outputs_were_tuple, outputs = _tensor_tuple(func(*inputs), "outputs of the user-provided function", "jvp")
        _strict_outputs(outputs, strict)
        # The backward is linear in these, so their value does not matter (zeros: no inf or nan).
        dummies = tuple(_C.zeros_like(out).requires_grad_() for out in outputs)
        grad_inputs = _grad(outputs, inputs, dummies, create_graph=True)
        _strict_grad_inputs(grad_inputs, strict)

    with _result_grad_mode(create_graph):
        grads = _grad(grad_inputs, dummies, v, create_graph=create_graph)
        result = _zeros_for_missing(grads, outputs, strict, create_graph, "back_trick")

    return (_unpack(_finish(outputs, create_graph), outputs_were_tuple),
            _unpack(_finish(result, create_graph), outputs_were_tuple))


def _check_not_vectorized(fn_name, vectorize, strategy_name, strategy):
    valid = ("forward-mode", "reverse-mode")
    if strategy not in valid:
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".' + (
            ' Hint: If your function has more outputs than inputs, "forward-mode" tends to be more performant. '
            'Otherwise, prefer to use "reverse-mode".' if fn_name == "jacobian" else ""))
    if vectorize:
        raise NotImplementedError(f"rustgrad.autograd.functional.{fn_name}: vectorize=True is not supported")
    if strategy == "forward-mode":
        raise NotImplementedError(
            f'rustgrad.autograd.functional.{fn_name}: {strategy_name}="forward-mode" is not supported')


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``, one backward per output element.

    A single tensor for one input and one output; a tuple when one of them is a tuple; a tuple (over
    outputs) of tuples (over inputs) when both are. Entry ``[i][j]`` has shape
    ``outputs[i].shape + inputs[j].shape``."""
    _check_not_vectorized("jacobian", vectorize, "strategy", strategy)

    with enable_grad():
        inputs_were_tuple, inputs = _tensor_tuple(inputs, "inputs", "jacobian")
        inputs = _fresh(inputs, create_graph, need_graph=True)
        outputs_were_tuple, outputs = _tensor_tuple(func(*inputs), "outputs of the user-provided function",
                                                    "jacobian")
        _strict_outputs(outputs, strict)

        rows_by_output = []
        for i, out in enumerate(outputs):
            flat = out.reshape(-1)
            columns = [[] for _ in inputs]  # per input: one gradient per element of `out`
            for k in range(out.nelement()):
                grads = _grad((flat[k],), inputs, retain_graph=True, create_graph=create_graph)
                for j, (g, inp) in enumerate(zip(grads, inputs)):
                    if g is None:
                        if strict:
                            raise RuntimeError(f"Output {i} of the user-provided function is independent of input "
                                               f"{j}. This is not allowed in strict mode.")
                        g = _C.zeros_like(inp)
                    elif strict and create_graph and not g.requires_grad:
                        raise RuntimeError(f"The jacobian of the user-provided function is independent of input {j}. "
                                           "This is not allowed in strict mode when create_graph=True.")
                    columns[j].append(g)
            rows_by_output.append(tuple(
                _C.stack(col, dim=0).view(out.size() + inp.size()) if col
                else inp.new_zeros(tuple(out.size() + inp.size()))
                for col, inp in zip(columns, inputs)))

        jac = _finish(tuple(rows_by_output), create_graph)
    return _unpack2(jac, outputs_were_tuple, inputs_were_tuple)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The Hessian of the scalar function ``func`` at ``inputs``: the Jacobian of its gradient.

    A single tensor for a single input, else a tuple of tuples whose entry ``[i][j]`` has shape
    ``inputs[i].shape + inputs[j].shape``."""
    inputs_were_tuple, inputs = _tensor_tuple(inputs, "inputs", "hessian")
    _check_not_vectorized("hessian", vectorize, "outer_jacobian_strategy", outer_jacobian_strategy)

    def scalar_func(*inp):
        return _scalar_output(func(*inp), "hessian", strict)[0].squeeze()

    def gradient(*inp):
        g = jacobian(scalar_func, inp, create_graph=True)
        _strict_jacobian(g, strict)
        return g

    hess = jacobian(gradient, inputs, create_graph=create_graph, strict=strict)
    return _unpack2(hess, inputs_were_tuple, inputs_were_tuple)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``v^T H`` at ``inputs``, H the Hessian of the scalar function ``func``; returns
    ``(func(inputs), vhp)``, the vhp shaped as ``inputs``."""
    with enable_grad():
        inputs_were_tuple, inputs = _tensor_tuple(inputs, "inputs", "vhp")
        inputs = _fresh(inputs, create_graph, need_graph=True)
        v = _prepare_v(v, inputs, inputs_were_tuple, create_graph, "vhp", _V_NONE_FOR_INPUT)
        outputs = _scalar_output(func(*inputs), "vhp", strict)
        jac = _grad(outputs, inputs, create_graph=True)
        _strict_jacobian(jac, strict)

    with _result_grad_mode(create_graph):
        grads = _grad(jac, inputs, v, create_graph=create_graph)
        result = _zeros_for_missing(grads, inputs, strict, create_graph, "double_back")

    return (_finish(outputs, create_graph)[0], _unpack(_finish(result, create_graph), inputs_were_tuple))


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``H v`` at ``inputs``, H the Hessian of the scalar function ``func``; returns
    ``(func(inputs), hvp)``, the hvp shaped as ``inputs``. Uses the double-backward trick on the
    gradient, so it costs more than ``vhp``, which equals it when H is symmetric."""
    with enable_grad():
        inputs_were_tuple, inputs = _tensor_tuple(inputs, "inputs", "hvp")
        inputs = _fresh(inputs, create_graph, need_graph=True)
        v = _prepare_v(v, inputs, inputs_were_tuple, create_graph, "hvp", _V_NONE_FOR_INPUT)
        outputs = _scalar_output(func(*inputs), "hvp", strict)
        jac = _grad(outputs, inputs, create_graph=True)
        _strict_jacobian(jac, strict)
        dummies = tuple(_C.zeros_like(inp).requires_grad_() for inp in inputs)
        double_back = _grad(jac, inputs, dummies, create_graph=True)

    with _result_grad_mode(create_graph):
        grads = _grad(double_back, dummies, v, create_graph=create_graph)
        result = _zeros_for_missing(grads, inputs, strict, create_graph, "double_back_trick")

    return (_finish(outputs, create_graph)[0], _unpack(_finish(result, create_graph), inputs_were_tuple))
