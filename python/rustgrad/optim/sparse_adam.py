"""SparseAdam (PyTorch's ``torch.optim.SparseAdam``): Adam for sparse-layout gradients.

rustgrad has no sparse tensors, so every gradient is dense and ``step`` raises PyTorch's error for
dense gradients; construction, its checks, options and state dicts work as in PyTorch.
"""

from .. import _C
from ._helpers import _evaluate_closure
from .optimizer import Optimizer, _use_grad

__all__ = ["SparseAdam"]


class SparseAdam(Optimizer):
    """Masked Adam for sparse gradients, with PyTorch's defaults and checks (see the module note)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        if isinstance(lr, _C.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 < lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "maximize": maximize}
        super().__init__(params, defaults)

    @_use_grad
    def step(self, closure=None):
        """Raises PyTorch's RuntimeError for the first (necessarily dense) gradient it meets.

        Args:
            closure (Callable, optional): re-evaluates the model and returns the loss.
        """
        loss = _evaluate_closure(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    raise RuntimeError(
                        "SparseAdam does not support dense gradients, please consider Adam instead "
                        "(rustgrad has no sparse tensors, so every gradient is dense)"
                    )
        return loss
