"""``rustgrad.jit``: TorchScript's entry points as eager pass-throughs.

rustgrad runs every model eagerly and has no graph compiler, so ``script`` and ``trace`` give back
the function or module they are handed (``trace`` runs it once on the example inputs, so a model
that cannot run on them fails here as it would under PyTorch), and the ``ignore``/``unused``/
``export`` decorators leave what they decorate unchanged. Nothing is ever a ``ScriptModule`` or a
``ScriptFunction``. Saving and loading TorchScript archives raise NotImplementedError: a model
leaves rustgrad as a state_dict (``rustgrad.save``) or, once it lands, through ONNX export.
"""

import typing

from . import annotations  # noqa: F401

Final = typing.Final

__all__ = [
    "script", "trace", "trace_module", "ignore", "unused", "export", "is_scripting", "is_tracing", "save", "load",
    "ScriptModule", "ScriptFunction", "Final", "annotations",
]

_NO_ARCHIVES = ("TorchScript archives are not supported by rustgrad (its jit is an eager pass-through); "
                "save the state_dict with rustgrad.save, or export the model to ONNX (rustgrad.onnx.export, "
                "not implemented yet)")


class ScriptModule:
    """PyTorch's class of compiled modules. rustgrad compiles nothing, so nothing is an instance."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("rustgrad.jit.ScriptModule: rustgrad compiles no TorchScript; "
                                  "subclass rustgrad.nn.Module")


class ScriptFunction:
    """PyTorch's class of compiled functions. rustgrad compiles nothing, so nothing is an instance."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("rustgrad.jit.ScriptFunction: rustgrad compiles no TorchScript")


def script(obj, optimize=None, _frames_up=0, _rcb=None, example_inputs=None):
    """Returns ``obj`` unchanged: rustgrad runs it eagerly."""
    return obj


def _run_example(func, example_inputs, example_kwarg_inputs=None):
    from .. import no_grad

    with no_grad():
        if example_kwarg_inputs is not None:
            if not isinstance(example_kwarg_inputs, dict):
                raise RuntimeError("example_kwarg_inputs should be a dict")
            return func(**example_kwarg_inputs)
        if not isinstance(example_inputs, tuple):
            example_inputs = (example_inputs,)
        return func(*example_inputs)


def trace(func, example_inputs=None, optimize=None, check_trace=True, check_inputs=None, check_tolerance=1e-05,
          strict=True, _force_outplace=False, _module_class=None, _compilation_unit=None, example_kwarg_inputs=None,
          _store_inputs=True):
    """Runs ``func`` once on ``example_inputs`` (a tensor or a tuple of arguments) and returns it
    unchanged: rustgrad records no graph."""
    if example_inputs is None and example_kwarg_inputs is None:
        raise RuntimeError("example_kwarg_inputs or example_inputs should be provided")
    _run_example(func, example_inputs, example_kwarg_inputs)
    return func


def trace_module(mod, inputs, optimize=None, check_trace=True, check_inputs=None, check_tolerance=1e-05,
                 strict=True, _force_outplace=False, _module_class=None, _compilation_unit=None,
                 example_inputs_is_kwarg=False, _store_inputs=True):
    """Runs each named method of ``mod`` once on its example inputs (``inputs`` maps method names
    to them) and returns ``mod`` unchanged."""
    if not isinstance(inputs, dict):
        raise AttributeError("expected a dictionary of (method_name, input) pairs")
    for method_name, example in inputs.items():
        method = getattr(mod, method_name)
        if example_inputs_is_kwarg:
            _run_example(method, None, example)
        else:
            _run_example(method, example)
    return mod


def ignore(drop=False, **kwargs):
    """``@rustgrad.jit.ignore`` and ``@rustgrad.jit.ignore(drop=True)`` leave what they decorate unchanged."""
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn):
    """``@rustgrad.jit.unused`` leaves what it decorates unchanged."""
    return fn


def export(fn):
    """``@rustgrad.jit.export`` leaves what it decorates unchanged."""
    return fn


def is_scripting():
    """False: code always runs eagerly."""
    return False


def is_tracing():
    """False: code always runs eagerly."""
    return False


def save(m, f, _extra_files=None):
    raise NotImplementedError(f"rustgrad.jit.save: {_NO_ARCHIVES}")


def load(f, map_location=None, _extra_files=None, _restore_shapes=False):
    raise NotImplementedError(f"rustgrad.jit.load: {_NO_ARCHIVES}")
