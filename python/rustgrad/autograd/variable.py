"""``Variable``: since PyTorch 0.4 the same thing as a Tensor; kept for old code and for
``Variable._execution_engine.queue_callback``."""

from .. import _C

__all__ = ["Variable"]


class _ExecutionEngine:
    """What PyTorch exposes of its engine to Python: callbacks run at the end of a backward."""

    @staticmethod
    def queue_callback(callback):
        """Runs ``callback()`` after the backward running on this thread has finished every node."""
        _C._queue_callback(callback)

    @staticmethod
    def run_backward(tensors, grad_tensors, keep_graph, create_graph, inputs=(), allow_unreachable=True,
                     accumulate_grad=True):
        if accumulate_grad:
            _C._backward(list(tensors), list(grad_tensors), keep_graph, create_graph, list(inputs) or None)
            return ()
        return _C._grad(list(tensors), list(inputs), list(grad_tensors), keep_graph, create_graph,
                        allow_unreachable)


class _VariableMeta(type):
    def __instancecheck__(cls, other):
        return isinstance(other, _C.Tensor)


class Variable(metaclass=_VariableMeta):
    """``Variable(tensor, requires_grad=False)`` returns the tensor itself (as PyTorch has since 0.4)."""

    _execution_engine = _ExecutionEngine()

    def __new__(cls, data=None, requires_grad=False, volatile=False):
        if data is None:
            return _C.tensor([])
        if requires_grad:
            data.requires_grad_(True)
        return data
