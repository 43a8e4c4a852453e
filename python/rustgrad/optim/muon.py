"""Muon (PyTorch's ``torch.optim.Muon``): momentum SGD whose update is orthogonalized by a
Newton-Schulz iteration, for 2-D parameters."""

import math

import numpy as np

from .. import _C
from ._helpers import _check_lr, _evaluate_closure
from .optimizer import Optimizer, _to_scalar, _use_grad

__all__ = ["Muon"]

_ADJUST_LR_FNS = ("original", "match_rms_adamw", "spectral_unclamped")


def _to_bfloat16(a):
    """Rounds float32 values to the nearest bfloat16 (ties to even), kept as float32.

    rustgrad has no bfloat16 dtype; PyTorch runs Muon's iteration in bfloat16, so each of its
    results is rounded like this to give the same numbers."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounded = (bits + (((bits >> 16) & 1) + 0x7FFF)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32)


def _zeropower_via_newtonschulz(grad, ns_coefficients, ns_steps, eps):
    """Approximately orthogonalizes the 2-D ``grad`` (``U S' V^T`` with ``S'`` near 1) by
    ``ns_steps`` quintic Newton-Schulz iterations in bfloat16 precision."""
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if grad.dim() != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(ns_coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = ns_coefficients
    x = _to_bfloat16(grad.detach().cpu().numpy().astype(np.float32))
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    norm = _to_bfloat16(np.float32(np.linalg.norm(x.astype(np.float32))))
    x = _to_bfloat16(x / _to_bfloat16(np.maximum(norm, np.float32(eps))))
    for _ in range(ns_steps):
        gram = _to_bfloat16(x @ x.T)
        gram_update = _to_bfloat16(np.float32(b) * gram + np.float32(c) * (gram @ gram))
        x = _to_bfloat16(np.float32(a) * x + gram_update @ x)
    if tall:
        x = x.T
    return _C.from_numpy(np.ascontiguousarray(x)).to(dtype=grad.dtype, device=grad.device)


def _adjust_lr(lr, adjust_lr_fn, param_shape):
    rows, cols = param_shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        ratio = math.sqrt(max(1, rows / cols))
    elif adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(rows, cols))
    elif adjust_lr_fn == "spectral_unclamped":
        ratio = math.sqrt(rows / cols)
    else:
        ratio = 1.0
    return lr * ratio


class Muon(Optimizer):
    """Muon (Jordan et al., 2024) with PyTorch's defaults, checks and update formula.

    ``buf = lerp(buf, grad, 1 - momentum)``; the update (``lerp(grad, buf, momentum)`` with Nesterov,
    else ``buf``) is orthogonalized by Newton-Schulz; ``p *= 1 - lr * weight_decay``;
    ``p -= adjusted_lr * update`` where ``adjust_lr_fn`` scales lr by the matrix shape.
    Only 2-D parameters are accepted, as in PyTorch.
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        weight_decay=0.1,
        momentum=0.95,
        nesterov=True,
        ns_coefficients=(3.4445, -4.775, 2.0315),
        eps=1e-7,
        ns_steps=5,
        adjust_lr_fn=None,
    ):
        _check_lr(lr, "Learning rate should be >= 0 but is: {}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in _ADJUST_LR_FNS:
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "nesterov": nesterov,
            "ns_coefficients": ns_coefficients,
            "eps": eps,
            "ns_steps": ns_steps,
            "adjust_lr_fn": adjust_lr_fn,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() != 2:
                    raise ValueError(
                        f"Muon only supports 2D parameters whereas we found a parameter with size: {p.size()}"
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
            momentum = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.dim() != 2:
                    raise ValueError("Param gradient must be a 2D matrix")
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = _C.zeros_like(grad)
                buf = state["momentum_buffer"]
                buf.lerp_(grad, 1 - momentum)
                update = grad.lerp(buf, momentum) if group["nesterov"] else buf
                update = _zeropower_via_newtonschulz(update, group["ns_coefficients"], group["ns_steps"], group["eps"])
                adjusted_lr = _adjust_lr(lr, group["adjust_lr_fn"], tuple(p.shape))
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(update, alpha=-adjusted_lr)
        return loss
