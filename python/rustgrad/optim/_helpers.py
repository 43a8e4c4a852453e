"""Small pieces shared by the optimizers written with tensor ops in Python."""

from .. import _C
from ..autograd import enable_grad


def _scalar_tensor(value):
    """A 0-dim float32 CPU tensor, PyTorch's type for per-parameter scalar state (``step``, ``eta``,
    ``mu_product``...)."""
    return _C.tensor(float(value), dtype=_C.float32)


def _reject_differentiable(differentiable):
    if differentiable:
        raise NotImplementedError("rustgrad optimizers do not support differentiable=True")


def _check_lr(lr, message="Invalid learning rate: {}"):
    """PyTorch's learning-rate checks: a tensor lr must have one element, and lr must be >= 0."""
    if isinstance(lr, _C.Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(message.format(lr))


def _check_adam_args(betas, eps, weight_decay):
    """PyTorch's checks of the Adam family's eps, betas and weight_decay, in its order."""
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _restore_group_defaults(optimizer, scalar_keys=("step",), **defaults):
    """``__setstate__``'s work: options missing from an older state dict's groups get their
    defaults, and number-valued scalar state becomes a tensor."""
    for group in optimizer.param_groups:
        for key, value in defaults.items():
            group.setdefault(key, value)
    _step_tensors_to_tensor(optimizer, scalar_keys)


def _evaluate_closure(closure):
    """Runs the optional closure with grad mode on, as every ``step`` does first."""
    if closure is None:
        return None
    with enable_grad():
        return closure()


def _step_tensors_to_tensor(optimizer, keys=("step",)):
    """After loading an old state dict: number-valued scalar state becomes a float32 tensor."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            p_state = optimizer.state.get(p, {})
            for key in keys:
                if key in p_state and not isinstance(p_state[key], _C.Tensor):
                    p_state[key] = _scalar_tensor(p_state[key])
