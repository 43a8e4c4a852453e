"""Helpers shared by the distributions: broadcasting parameters, probabilities <-> logits, and
``lazy_property`` (a parameter computed from the other one on first use)."""

import numbers
from functools import update_wrapper

from .. import _C
from .._size import Size
from .._type_info import finfo
from ..autograd.grad_mode import enable_grad

__all__ = ["broadcast_all", "clamp_probs", "lazy_property", "logits_to_probs", "probs_to_logits"]


def broadcast_shapes(*shapes):
    """The shape all of ``shapes`` broadcast to (PyTorch's message when they do not)."""
    ndim = max((len(s) for s in shapes), default=0)
    result = [1] * ndim
    for shape in shapes:
        for i, size in enumerate(shape):
            j = ndim - len(shape) + i
            if size != 1:
                if result[j] != 1 and result[j] != size:
                    raise RuntimeError(f"The size of tensor a ({result[j]}) must match the size of tensor b ({size}) "
                                       f"at non-singleton dimension {i}")
                result[j] = size
    return Size(result)


def broadcast_all(*values):
    """Numbers and tensors as tensors of one broadcast shape; numbers take the dtype and device of
    the first tensor (the default float dtype where there is none)."""
    for v in values:
        if not isinstance(v, (_C.Tensor, numbers.Number)):
            raise ValueError("Input arguments must all be instances of numbers.Number, torch.Tensor or objects "
                             "implementing __torch_function__.")
    like = next((v for v in values if isinstance(v, _C.Tensor)), None)
    dtype = like.dtype if like is not None else _C.float32
    device = like.device if like is not None else None
    tensors = [v if isinstance(v, _C.Tensor) else _C.tensor(v, dtype=dtype, device=device) for v in values]
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(t.expand(shape) if tuple(t.shape) != tuple(shape) else t for t in tensors)


def sum_rightmost(value, dim):
    """Sums the ``dim`` rightmost dimensions."""
    if dim == 0:
        return value
    return value.reshape(*value.shape[: value.dim() - dim], -1).sum(-1)


def clamp_probs(probs):
    """Probabilities kept off 0 and 1 by the dtype's epsilon (finite logits)."""
    eps = finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary=False):
    clamped = clamp_probs(probs)
    if is_binary:
        return clamped.log() - (-clamped).log1p()
    return clamped.log()


def logits_to_probs(logits, is_binary=False):
    if is_binary:
        return logits.sigmoid()
    return logits.softmax(-1)


class lazy_property:
    """A property computed once per instance (in grad mode: the value may need a graph) and then
    stored as a plain attribute; on the class it reads as itself."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        update_wrapper(self, wrapped)

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value
