"""``gradcheck`` and ``gradgradcheck``: autograd against central finite differences."""

from .. import _C
from .grad_mode import no_grad

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


def _grad(*args, **kwargs):
    from . import grad  # the package imports this module first
    return grad(*args, **kwargs)


def _as_tuple(x):
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x,)


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when analytical and numerical gradients disagree."""


def _numerical_jacobian(fn, inputs, index, eps):
    """d(outputs)/d(inputs[index]) by central differences: columns[j][k][i] = d out_k[i] / d x[j]."""
    x = inputs[index]
    flat = x.detach().reshape(-1)
    columns = []

    def evaluate():
        # The function itself runs with grad mode as the caller has it (gradgradcheck needs it).
        return [o.detach().reshape(-1).double().clone() for o in _outputs(fn(*inputs))]

    for j in range(flat.numel()):
        with no_grad():
            orig = flat[j].item()
            flat[j] = orig + eps
        plus = evaluate()
        with no_grad():
            flat[j] = orig - eps
        minus = evaluate()
        with no_grad():
            flat[j] = orig
        columns.append([((p - m) / (2 * eps)).tolist() for p, m in zip(plus, minus)])
    return columns


def _outputs(out):
    if isinstance(out, (list, tuple)):
        return [o for o in out if isinstance(o, _C.Tensor)]
    return [out]


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
              check_batched_forward_grad=False, check_forward_ad=False, check_backward_ad=True,
              fast_mode=False, masked=None):
    """Checks gradients computed by autograd against central finite differences, as PyTorch's
    ``gradcheck``: inputs that require grad should be float64."""
    inputs = _as_tuple(inputs)
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, _C.Tensor) and t.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, "
                         "but none of the them have requires_grad=True.")
    for i in diff_idx:
        numerical = _numerical_jacobian(func, inputs, i, eps)
        # A fresh forward: the perturbations above wrote into the inputs in place.
        outs = _outputs(func(*inputs))
        x = inputs[i]
        for k, out in enumerate(outs):
            if not out.requires_grad:
                continue
            flat_out = out.reshape(-1)
            for r in range(flat_out.numel()):
                g = _C.zeros_like(flat_out)
                g[r] = 1.0
                (analytical,) = _grad(flat_out, x, g.reshape(flat_out.shape), retain_graph=True, allow_unused=True)
                a_row = [0.0] * x.numel() if analytical is None else analytical.reshape(-1).double().tolist()
                for j in range(x.numel()):
                    n_val = numerical[j][k][r]
                    a_val = a_row[j]
                    if abs(a_val - n_val) > atol + rtol * abs(n_val):
                        msg = (f"Jacobian mismatch for output {k} with respect to input {i},\n"
                               f"numerical:{n_val}\nanalytical:{a_val}\n"
                               f"(at output element {r}, input element {j})")
                        if raise_exception:
                            raise GradcheckError(msg)
                        return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **kw):
    """Checks second-order gradients: gradcheck applied to the gradient function."""
    inputs = _as_tuple(inputs)
    outs = _outputs(func(*inputs))
    if grad_outputs is None:
        grad_outputs = [_C.randn(*o.shape, dtype=o.dtype) for o in outs]
    diff = [t for t in inputs if isinstance(t, _C.Tensor) and t.requires_grad]

    def first_grads(*args):
        out = _outputs(func(*args))
        d = [a for a in args if isinstance(a, _C.Tensor) and a.requires_grad]
        return _grad(out, d, list(grad_outputs), create_graph=True, allow_unused=True)

    return gradcheck(lambda *a: tuple(g for g in first_grads(*a) if g is not None), inputs, eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception) if diff else True
