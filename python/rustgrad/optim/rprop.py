"""Rprop (PyTorch's ``torch.optim.Rprop``), as in-place tensor ops per parameter."""

from .. import _C
from ._helpers import _check_lr, _evaluate_closure, _reject_differentiable, _restore_group_defaults, _scalar_tensor
from .optimizer import Optimizer, _to_scalar, _use_grad

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """Resilient backpropagation (Riedmiller & Braun, 1993) with PyTorch's defaults, checks, state
    layout and update formula.

    Per element: where the gradient kept its sign the step size grows by ``etas[1]``, where it
    flipped it shrinks by ``etas[0]`` (and that gradient counts as zero for this step and the next
    comparison); step sizes stay within ``step_sizes``; ``p -= sign(grad) * step_size``.
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        etas=(0.5, 1.2),
        step_sizes=(1e-6, 50),
        *,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        _check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        _reject_differentiable(differentiable)
        defaults = {
            "lr": lr,
            "etas": etas,
            "step_sizes": step_sizes,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        _restore_group_defaults(self, foreach=None, maximize=False, differentiable=False, capturable=False)

    @_use_grad
    def step(self, closure=None):
        """Performs one optimization step.

        Args:
            closure (Callable, optional): re-evaluates the model and returns the loss.
        """
        loss = _evaluate_closure(closure)
        for group in self.param_groups:
            etaminus, etaplus = group["etas"]
            step_size_min, step_size_max = group["step_sizes"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _scalar_tensor(0.0)
                    state["prev"] = _C.zeros_like(p)
                    state["step_size"] = _C.full_like(p.grad, float(_to_scalar(group["lr"])))
                grad = p.grad if not group["maximize"] else -p.grad
                state["step"] += 1
                prev, step_size = state["prev"], state["step_size"]
                sign = grad.mul(prev).sign()
                factor = sign.clone()
                factor[sign.gt(0)] = etaplus
                factor[sign.lt(0)] = etaminus
                factor[sign.eq(0)] = 1
                step_size.mul_(factor).clamp_(step_size_min, step_size_max)
                # A flipped sign: no step for this element now, and no comparison next time.
                grad = _C.where(sign.lt(0), _C.zeros_like(grad), grad)
                p.addcmul_(grad.sign(), step_size, value=-1)
                prev.copy_(grad)
        return loss
