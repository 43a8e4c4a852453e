"""Adafactor (PyTorch's ``torch.optim.Adafactor``), as in-place tensor ops per parameter."""

from .. import _C
from .._type_info import finfo
from ..linalg import vector_norm
from ._helpers import _check_lr, _evaluate_closure, _restore_group_defaults, _scalar_tensor
from .optimizer import Optimizer, _to_scalar, _use_grad

__all__ = ["Adafactor"]


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern, 2018) as PyTorch implements it: for a tensor of 2 or more
    dimensions the second moment is kept factored (``row_var`` over the last dimension, ``col_var``
    over the one before), for a vector in full (``variance``); relative step size
    ``min(lr, 1/sqrt(step))`` scaled by the parameter's RMS (at least ``eps[1]``); the update's RMS
    is clipped to ``d``; weight decay is decoupled. ``eps[0]=None`` means the dtype's epsilon.
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        beta2_decay=-0.8,
        eps=(None, 1e-3),
        d=1.0,
        weight_decay=0.0,
        *,
        foreach=None,
        maximize=False,
    ):
        _check_lr(lr, "Learning rate should be >= 0 but is: {}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = {
            "lr": lr,
            "beta2_decay": beta2_decay,
            "eps": eps,
            "d": d,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        _restore_group_defaults(self, foreach=None)

    @_use_grad
    def step(self, closure=None):
        """Performs one optimization step.

        Args:
            closure (Callable, optional): re-evaluates the model and returns the loss.
        """
        loss = _evaluate_closure(closure)
        for group in self.param_groups:
            lr = float(_to_scalar(group["lr"]))
            eps1, eps2 = group["eps"]
            beta2_decay, d, weight_decay = group["beta2_decay"], group["d"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _scalar_tensor(0.0)
                    if p.grad.dim() > 1:
                        state["row_var"] = p.grad.new_zeros(list(p.grad.shape[:-1]) + [1])
                        col_shape = list(p.grad.shape)
                        col_shape[-2] = 1
                        state["col_var"] = p.grad.new_zeros(col_shape)
                    else:
                        state["variance"] = _C.zeros_like(p.grad)
                grad = p.grad if not group["maximize"] else -p.grad
                if eps1 is None:
                    # PyTorch fixes it from the first parameter of the group that has a gradient.
                    eps1 = finfo(p.dtype).eps
                state["step"] += 1
                step = state["step"].item()
                one_minus_beta2_t = step ** beta2_decay
                rho_t = min(lr, 1 / (step ** 0.5))
                alpha = max(eps2, p.norm(2).item() / (p.numel() ** 0.5)) * rho_t
                if weight_decay != 0:
                    p.mul_(1 - lr * weight_decay)
                if grad.dim() > 1:
                    row_var, col_var = state["row_var"], state["col_var"]
                    row_mean = vector_norm(grad, dim=-1, keepdim=True).pow(2).div_(grad.size(-1))
                    row_var.lerp_(row_mean, one_minus_beta2_t)
                    col_mean = vector_norm(grad, dim=-2, keepdim=True).pow(2).div_(grad.size(-2))
                    col_var.lerp_(col_mean, one_minus_beta2_t)
                    var_estimate = row_var @ col_var
                    var_estimate.div_(row_var.mean(dim=-2, keepdim=True).clamp_(min=eps1))
                else:
                    variance = state["variance"]
                    variance.lerp_(grad * grad, one_minus_beta2_t)
                    var_estimate = variance.clone()
                update = var_estimate.clamp_(min=eps1 * eps1).rsqrt().mul_(grad)
                denom = max(1.0, update.norm(2).item() / ((update.numel() ** 0.5) * d))
                p.add_(update, alpha=-alpha / denom)
        return loss
