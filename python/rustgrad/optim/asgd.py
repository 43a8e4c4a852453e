"""Averaged SGD (PyTorch's ``torch.optim.ASGD``), as in-place tensor ops per parameter."""

from .. import _C
from ._helpers import _check_lr, _evaluate_closure, _reject_differentiable, _restore_group_defaults, _scalar_tensor
from .optimizer import Optimizer, _to_scalar, _use_grad

__all__ = ["ASGD"]


class ASGD(Optimizer):
    """Averaged stochastic gradient descent (Polyak & Juditsky, 1992), with PyTorch's defaults,
    checks, state layout and update formula.

    Each step: ``p *= 1 - lambd * eta``; ``p -= eta * grad``; the average ``ax`` moves towards ``p``
    by ``mu`` (or copies ``p`` while ``mu == 1``); then ``eta = lr / (1 + lambd * lr * step)**alpha``
    and ``mu = 1 / max(1, step - t0)``. ``eta`` and ``mu`` are float32 tensors, as in PyTorch.
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        lambd=1e-4,
        alpha=0.75,
        t0=1e6,
        weight_decay=0,
        foreach=None,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        _check_lr(lr)
        if not 0.0 <= lambd:
            raise ValueError(f"Invalid lambd value: {lambd}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        _reject_differentiable(differentiable)
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        _restore_group_defaults(
            self,
            ("step", "eta", "mu"),
            foreach=None,
            maximize=False,
            differentiable=False,
            capturable=False,
        )

    @_use_grad
    def step(self, closure=None):
        """Performs one optimization step.

        Args:
            closure (Callable, optional): re-evaluates the model and returns the loss.
        """
        loss = _evaluate_closure(closure)
        for group in self.param_groups:
            lr = float(_to_scalar(group["lr"]))
            lambd, alpha, t0 = group["lambd"], group["alpha"], group["t0"]
            weight_decay = group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _scalar_tensor(0.0)
                    state["eta"] = _scalar_tensor(lr)
                    state["mu"] = _scalar_tensor(1.0)
                    state["ax"] = _C.zeros_like(p)
                grad = p.grad if not group["maximize"] else -p.grad
                state["step"] += 1
                if weight_decay != 0:
                    grad = grad.add(p, alpha=weight_decay)
                eta = state["eta"].item()
                p.mul_(1 - lambd * eta)
                p.add_(grad, alpha=-eta)
                ax = state["ax"]
                if state["mu"].item() != 1:
                    ax.add_(p.sub(ax).mul_(state["mu"].item()))
                else:
                    ax.copy_(p)
                step = state["step"].item()
                # New values go through a float32 tensor (PyTorch's as_tensor) even into float64 state.
                state["eta"].copy_(_scalar_tensor(lr / ((1 + lambd * lr * step) ** alpha)))
                state["mu"].copy_(_scalar_tensor(1 / max(1, step - t0)))
        return loss
