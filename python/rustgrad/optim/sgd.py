"""Stochastic gradient descent (PyTorch's ``torch.optim.SGD``), one Rust call per group."""

from .. import _C
from ..autograd import enable_grad
from .optimizer import Optimizer, _to_scalar, _use_grad

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum, dampening, weight decay, Nesterov
    momentum and maximization, with PyTorch's defaults, checks and update formula.

    The first step sets each momentum buffer to a copy of the gradient; later steps compute
    ``buf = momentum * buf + (1 - dampening) * grad``, then ``p -= lr * buf`` (or, with
    Nesterov, ``p -= lr * (grad + momentum * buf)``).
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0,
        dampening=0,
        weight_decay=0,
        nesterov=False,
        *,
        maximize=False,
        foreach=None,
        differentiable=False,
        fused=None,
    ):
        if isinstance(lr, _C.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise NotImplementedError("rustgrad optimizers do not support differentiable=True")

        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", False)

    @_use_grad
    def step(self, closure=None):
        """Performs one optimization step.

        Args:
            closure (Callable, optional): re-evaluates the model and returns the loss.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()

        state = self.state
        for group in self.param_groups:
            momentum = group["momentum"]
            params = []
            grads = []
            buffers = []
            for p in group["params"]:
                g = p.grad
                if g is not None:
                    params.append(p)
                    grads.append(g)
                    if momentum != 0:
                        buffers.append(state[p].get("momentum_buffer"))
            if not params:
                continue
            buffers = _C._sgd_step(
                params,
                grads,
                buffers,
                float(_to_scalar(group["lr"])),
                float(_to_scalar(group["weight_decay"])),
                float(momentum),
                float(group["dampening"]),
                bool(group["nesterov"]),
                bool(group["maximize"]),
            )
            if momentum != 0:
                for p, buf in zip(params, buffers):
                    state[p]["momentum_buffer"] = buf
        return loss
