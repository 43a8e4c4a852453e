"""``rustgrad.nn.Parameter``: a tensor that a Module registers as one of its parameters."""

from .. import _C
from .._C import Tensor

__all__ = ["Parameter", "Buffer"]


class Parameter(Tensor):
    """A Tensor that is a module parameter.

    Assigning a Parameter as a Module attribute registers it in the module's ``_parameters`` (so
    it appears in ``parameters()`` and ``state_dict()``). It shares storage with ``data`` and
    requires grad by default.
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = _C.empty(0)
        return super().__new__(cls, data, requires_grad=requires_grad)

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.data.clone(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.detach().cpu().numpy().copy(), self.requires_grad))


def _rebuild_parameter(array, requires_grad):
    return Parameter(_C.tensor(array), requires_grad)


class Buffer(Tensor):
    """A Tensor that a Module registers as a buffer when assigned as an attribute (persistent, i.e.
    in ``state_dict()``, unless ``persistent=False``). Never requires grad."""

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = _C.empty(0)
        buffer = super().__new__(cls, data.detach(), requires_grad=False)
        buffer.persistent = persistent
        return buffer
