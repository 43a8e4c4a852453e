"""Adagrad (PyTorch's ``torch.optim.Adagrad``), as in-place tensor ops per parameter."""

from .. import _C
from ..autograd import enable_grad
from .optimizer import Optimizer, _to_scalar, _use_grad

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad with PyTorch's defaults, checks, state layout and update formula.

    ``sum += grad**2``; ``p -= clr * grad / (sqrt(sum) + eps)`` with
    ``clr = lr / (1 + (step - 1) * lr_decay)``. The state (``step`` and ``sum``, filled with
    ``initial_accumulator_value``) is created for every parameter at construction, as PyTorch does.
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        fused=None,
    ):
        if isinstance(lr, _C.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if differentiable:
            raise NotImplementedError("rustgrad optimizers do not support differentiable=True")

        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        if fused:
            if foreach:
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
            raise NotImplementedError("rustgrad's Adagrad has no fused implementation (fused=True)")

        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = _C.tensor(0.0, dtype=_C.float32)
                state["sum"] = _C.full_like(p, initial_accumulator_value)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)
        for s in self.state.values():
            if len(s) != 0 and not isinstance(s["step"], _C.Tensor):
                s["step"] = _C.tensor(float(s["step"]), dtype=_C.float32)

    def share_memory(self):
        """A no-op: rustgrad has no shared-memory tensors (PyTorch moves ``sum`` to shared memory)."""

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

        for group in self.param_groups:
            lr = float(_to_scalar(group["lr"]))
            weight_decay = group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _C.tensor(0.0, dtype=_C.float32)
                    state["sum"] = _C.full_like(p, self.defaults["initial_accumulator_value"])
                step_t = state["step"]
                step_t += 1
                step = step_t.item()
                grad = p.grad if not group["maximize"] else -p.grad
                if weight_decay != 0:
                    grad = grad.add(p, alpha=weight_decay)
                clr = lr / (1 + (step - 1) * group["lr_decay"])
                state_sum = state["sum"]
                state_sum.addcmul_(grad, grad, value=1)
                std = state_sum.sqrt().add_(group["eps"])
                p.addcdiv_(grad, std, value=-clr)
        return loss
