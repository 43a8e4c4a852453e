"""Helpers for the nn coverage tests (not collected: the name does not start with test_): run one
function on rustgrad and on PyTorch with the same float64 inputs, compare the outputs and the
gradients of a random weighting of the outputs."""

import numpy as np

import rustgrad as rg


def pair(torch, array, grad=True):
    """The same array as a rustgrad and a PyTorch tensor (leaves requiring grad when floating)."""
    array = np.asarray(array)
    floating = array.dtype.kind == "f"
    a = rg.tensor(array, requires_grad=grad and floating)
    b = torch.tensor(array, requires_grad=grad and floating)
    return a, b


def check(torch, rg_fn, torch_fn, *arrays, rtol=1e-7, atol=1e-9, grad=True, seed=0):
    """rg_fn(*rustgrad tensors) against torch_fn(*torch tensors): values, and (when ``grad``) the
    gradients of sum(out * w) for one random w with respect to every floating input."""
    pairs = [pair(torch, a, grad) for a in arrays]
    out_rg = rg_fn(*[p[0] for p in pairs])
    out_t = torch_fn(*[p[1] for p in pairs])
    np.testing.assert_allclose(out_rg.detach().numpy(), out_t.detach().numpy(), rtol=rtol, atol=atol)
    if not grad:
        return out_rg, out_t
    weights = np.random.default_rng(seed).standard_normal(tuple(out_t.shape))
    (out_rg * rg.tensor(weights, dtype=out_rg.dtype)).sum().backward()
    (out_t * torch.tensor(weights, dtype=out_t.dtype)).sum().backward()
    for a, b in pairs:
        if b.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)
    return out_rg, out_t


def raises_like(torch, rg_fn, torch_fn):
    """Both calls raise; the same exception type and message."""
    try:
        torch_fn()
    except Exception as e:  # noqa: BLE001 - the reference's exception, whatever it is
        expected = e
    else:
        raise AssertionError("torch did not raise")
    try:
        rg_fn()
    except Exception as e:  # noqa: BLE001
        got = e
    else:
        raise AssertionError(f"rustgrad did not raise (torch raised {type(expected).__name__}: {expected})")
    assert type(got).__name__ == type(expected).__name__, (got, expected)
    assert str(got) == str(expected), (str(got), str(expected))


def copy_module(torch_module, rg_module):
    """Copies every parameter and buffer of the PyTorch module into the rustgrad one."""
    state = {k: rg.tensor(v.detach().numpy()) for k, v in torch_module.state_dict().items()}
    rg_module.load_state_dict(state)
