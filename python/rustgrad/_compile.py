"""``rustgrad.compile``: an eager pass-through with ``torch.compile``'s signature and checks.

rustgrad has no graph compiler; its kernels run eagerly, so a compiled model is the model itself.
The arguments PyTorch checks before compiling are checked the same way, so a script with a typo
fails here as it would under PyTorch; an argument of the wrong type raises TypeError at once.
"""

__all__ = ["compile"]

_MODES = ("default", "lite", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")
# The backends torch.compile accepts by name (torch._dynamo.list_backends(None) in PyTorch 2.15,
# less its test-only ones).
_BACKENDS = ("inductor", "eager", "aot_eager", "aot_eager_decomp_partition", "aot_eager_default_partitioner",
             "aot_ts", "cudagraphs", "eager_debug", "eager_noexcept", "invoke_subgraph", "openxla", "openxla_eval",
             "pre_dispatch_eager", "ts", "tvm")


class InvalidBackend(RuntimeError):
    """An unknown ``backend=`` name (``torch._dynamo.exc.InvalidBackend`` in PyTorch)."""


def _check_types(**arguments):
    """TypeError for an argument of the wrong type (PyTorch fails on these later, or not at all,
    and rustgrad never uses them, so it checks them here)."""
    expected = {
        "fullgraph": (bool,), "dynamic": (bool, type(None)), "mode": (str, type(None)),
        "options": (dict, type(None)), "name": (str, type(None)), "disable": (bool,),
        "recompile_limit": (int, type(None)), "isolate_recompiles": (bool,),
        "dynamic_shapes": (dict, tuple, list, type(None)),
    }
    for name, value in arguments.items():
        if name == "backend":
            if not (isinstance(value, str) or callable(value) or value is None):
                raise TypeError(f"compile(): argument 'backend' must be str or callable, not {type(value).__name__}")
        elif not isinstance(value, expected[name]) or (name == "recompile_limit" and isinstance(value, bool)):
            kinds = " or ".join("None" if t is type(None) else t.__name__ for t in expected[name])
            raise TypeError(f"compile(): argument '{name}' must be {kinds}, not {type(value).__name__}")


def _check(model, backend, mode, options):
    if model is not None and not callable(model):
        raise AssertionError(f"A callable function is expected, but {type(model)} is provided.")
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be specified at the same time.")
    if mode is not None and mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(_MODES)}")
    if isinstance(backend, str) and backend not in _BACKENDS:
        raise InvalidBackend(f"Invalid backend: {backend!r}. See `torch._dynamo.list_backends()` for available "
                             "backends.")


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None, options=None, name=None,
            disable=False, recompile_limit=None, isolate_recompiles=False, dynamic_shapes=None):  # noqa: A001
    """Returns ``model`` itself (or, called without a model, a decorator that returns what it
    decorates): rustgrad runs every model eagerly."""
    _check_types(fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode, options=options, name=name,
                 disable=disable, recompile_limit=recompile_limit, isolate_recompiles=isolate_recompiles,
                 dynamic_shapes=dynamic_shapes)
    if model is None:
        # The decorator form: PyTorch checks the arguments when the decorator is applied.
        def decorator(fn):
            return compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode, options=options,
                           name=name, disable=disable, recompile_limit=recompile_limit,
                           isolate_recompiles=isolate_recompiles, dynamic_shapes=dynamic_shapes)

        return decorator
    _check(model, backend, mode, options)
    return model
