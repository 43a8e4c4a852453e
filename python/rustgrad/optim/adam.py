"""Adam (PyTorch's ``torch.optim.Adam``), one Rust call per group."""

from .. import _C
from ..autograd import enable_grad
from ._helpers import _check_adam_args, _check_lr
from .optimizer import Optimizer, _to_scalar, _use_grad

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam, with PyTorch's defaults, checks and update formula (bias-corrected moments, optional
    AMSGrad, L2 or decoupled weight decay, maximization)."""

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
        fused=None,
        decoupled_weight_decay=False,
    ):
        _check_lr(lr)
        _check_adam_args(betas, eps, weight_decay)
        if not (
            (isinstance(betas[0], float) and isinstance(betas[1], float))
            or (isinstance(betas[0], _C.Tensor) and isinstance(betas[1], _C.Tensor))
        ):
            raise ValueError("betas must be either both floats or both Tensors")
        if differentiable:
            raise NotImplementedError("rustgrad optimizers do not support differentiable=True")
        betas = (_to_scalar(betas[0]), _to_scalar(betas[1]))

        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("fused", None)
            for p in group["params"]:
                p_state = self.state.get(p, [])
                if len(p_state) != 0 and not isinstance(p_state["step"], _C.Tensor):
                    p_state["step"] = _C.tensor(float(p_state["step"]), dtype=_C.float32)

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
            amsgrad = group["amsgrad"]
            params = []
            grads = []
            exp_avgs = []
            exp_avg_sqs = []
            max_exp_avg_sqs = []
            steps = []
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                params.append(p)
                grads.append(g)
                s = state[p]
                if len(s) == 0:
                    # Lazy state initialization, as PyTorch: a float32 step count on the CPU.
                    s["step"] = _C.tensor(0.0, dtype=_C.float32)
                    s["exp_avg"] = _C.zeros_like(p)
                    s["exp_avg_sq"] = _C.zeros_like(p)
                    if amsgrad:
                        s["max_exp_avg_sq"] = _C.zeros_like(p)
                exp_avgs.append(s["exp_avg"])
                exp_avg_sqs.append(s["exp_avg_sq"])
                if amsgrad:
                    if "max_exp_avg_sq" not in s:
                        s["max_exp_avg_sq"] = _C.zeros_like(p)
                    max_exp_avg_sqs.append(s["max_exp_avg_sq"])
                step_t = s["step"]
                step_t += 1
                steps.append(step_t.item())
            if not params:
                continue
            beta1, beta2 = group["betas"]
            _C._adam_step(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                max_exp_avg_sqs,
                steps,
                float(_to_scalar(group["lr"])),
                float(_to_scalar(beta1)),
                float(_to_scalar(beta2)),
                float(group["eps"]),
                float(group["weight_decay"]),
                bool(amsgrad),
                bool(group["maximize"]),
                bool(group["decoupled_weight_decay"]),
            )
        return loss
