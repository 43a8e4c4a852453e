"""``rustgrad.func``: ``functional_call`` (the module-transform APIs of ``torch.func``, such as ``vmap`` and
``grad``, are not provided)."""

from .nn.utils.stateless import _functional_call

__all__ = ["functional_call"]


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True,
                    strict=False):
    """Calls ``module(*args, **kwargs)`` with the parameters and buffers named in ``parameter_and_buffer_dicts``
    (a dict, or a sequence of dicts with distinct keys) replaced by the given tensors; ``tie_weights`` also
    replaces the other names of a tied tensor, ``strict`` requires every parameter and buffer and nothing
    else."""
    return _functional_call(module, parameter_and_buffer_dicts, args, kwargs, tie_weights=tie_weights,
                            strict=strict)
