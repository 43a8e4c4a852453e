"""``nn.utils.stateless.functional_call`` (deprecated, as in PyTorch) and the implementation shared with
``rustgrad.func.functional_call``: call a module with some of its parameters and buffers replaced."""

import warnings
from contextlib import contextmanager

__all__ = ["functional_call"]


def _merge_dicts(parameter_and_buffer_dicts):
    if isinstance(parameter_and_buffer_dicts, dict):
        return parameter_and_buffer_dicts
    merged, repeated = {}, []
    for tensors in parameter_and_buffer_dicts:
        for key, value in tensors.items():
            if key in merged:
                repeated.append(key)
            merged[key] = value
    if repeated:
        raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional call is ambiguous")
    return merged


def _with_tied_names(module, tensors):
    """Adds, for every given name, the other names of the same (tied) parameter or buffer."""
    names_of = {}
    for name, tensor in list(module.named_parameters(remove_duplicate=False)) + \
            list(module.named_buffers(remove_duplicate=False)):
        names_of.setdefault(id(tensor), []).append(name)
    expanded = dict(tensors)
    for names in names_of.values():
        given = [n for n in names if n in tensors]
        if not given:
            continue
        values = {id(tensors[n]) for n in given}
        if len(values) > 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(given)}, which are tied. "
                             "Consider using tie_weights=False")
        for name in names:
            expanded.setdefault(name, tensors[given[0]])
    return expanded


def _check_strict(module, tensors):
    expected = {name for name, _ in module.named_parameters()} | {name for name, _ in module.named_buffers()}
    missing = sorted(expected - set(tensors))
    unexpected = sorted(set(tensors) - expected)
    if missing or unexpected:
        lines = []
        if unexpected:
            lines.append("Unexpected key(s): " + ", ".join(f"'{k}'" for k in unexpected) + ".")
        if missing:
            lines.append("Missing key(s): " + ", ".join(f"'{k}'" for k in missing) + ".")
        raise RuntimeError(f"Error(s) in reparametrizing for {module._get_name()}:\n\t" + "\n\t".join(lines))


@contextmanager
def _swapped(module, tensors):
    """Within the block, ``module.<dotted name>`` is the given tensor (registries written directly, so a plain
    tensor may stand in for a Parameter); everything is restored afterwards."""
    restore = []
    try:
        for dotted, tensor in tensors.items():
            owner_path, _, name = dotted.rpartition(".")
            owner = module.get_submodule(owner_path)
            if isinstance(getattr(type(owner), name, None), property):
                # A parametrized tensor: assigning stores its right inverse, as in PyTorch.
                restore.append((owner, name, getattr(owner, name)))
                setattr(owner, name, tensor)
                continue
            for registry in (owner._parameters, owner._buffers):
                if name in registry:
                    restore.append((registry, name, registry[name]))
                    registry[name] = tensor
                    break
            else:
                previous = owner.__dict__.get(name, _MISSING)
                restore.append((owner.__dict__, name, previous))
                owner.__dict__[name] = tensor
        yield
    finally:
        for registry, name, previous in reversed(restore):
            if not isinstance(registry, dict):
                setattr(registry, name, previous)
            elif previous is _MISSING:
                del registry[name]
            else:
                registry[name] = previous


_MISSING = object()


def _functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True,
                     strict=False):
    tensors = _merge_dicts(parameter_and_buffer_dicts)
    if tie_weights:
        tensors = _with_tied_names(module, tensors)
    if strict:
        _check_strict(module, tensors)
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _swapped(module, tensors):
        return module(*args, **kwargs)


def functional_call(module, parameters_and_buffers, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """Calls ``module(*args, **kwargs)`` with the parameters and buffers named in ``parameters_and_buffers``
    replaced by the given tensors (deprecated: use ``rustgrad.func.functional_call``)."""
    warnings.warn("`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will be removed "
                  "in a future version of PyTorch. Please use `torch.func.functional_call` instead which is a "
                  "drop-in replacement.", FutureWarning, stacklevel=2)
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict)
