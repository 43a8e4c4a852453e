"""Helpers the op test modules share (not collected by pytest: the name does not start with test_).

Import what a module needs: `from op_testing import seed, r, n, ...`. Importing `seed` makes it an
autouse fixture of the importing module (function scope), exactly as if it were defined there; a
module that does not import it is not seeded.

Randomness that a module draws from NumPy stays the module's own: each module keeps its own
`RNG = np.random.default_rng(0)` and binds the helpers that draw from it, e.g.
`arr = functools.partial(random_array, RNG)` and `_check_parity = functools.partial(check_parity,
rng=RNG)`, so its inputs do not depend on which other modules ran before it.
"""

import warnings

import numpy as np
import pytest

import rustgrad as rg


@pytest.fixture(autouse=True)
def seed():
    rg.manual_seed(0)


def r(*shape, grad=True, positive=False):
    """A float64 standard-normal tensor from rustgrad's generator (|x| + 0.5 with positive)."""
    x = rg.randn(*shape, dtype=rg.float64)
    if positive:
        x = x.abs() + 0.5
    return x.requires_grad_() if grad else x


def n(t):
    return t.detach().numpy()


def random_array(rng, *shape, scale=2.0):
    """A standard-normal NumPy array of `shape` drawn from `rng`, times `scale`."""
    return rng.standard_normal(shape) * scale


def t64(a, requires_grad=False):
    return rg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def close(x, expected, atol=1e-12):
    np.testing.assert_allclose(x.detach().numpy(), expected, rtol=1e-12, atol=atol)


# ----- PyTorch parity -----------------------------------------------------------------------------

def torch_pair(shape, torch, positive=False):
    """The same float64 array (seeded by the shape) as a rustgrad and a PyTorch leaf tensor."""
    x = np.random.default_rng(sum(shape) + len(shape)).standard_normal(shape)
    if positive:
        x = np.abs(x) + 0.5
    return (rg.tensor(x, dtype=rg.float64, requires_grad=True), torch.tensor(x, dtype=torch.float64,
                                                                           requires_grad=True))


def check_parity_case(parity, name):
    """One row of a module's PARITY table, {name: (fn(lib, *tensors), [shapes])}: values and
    gradients (under a fixed cotangent) of fn(rg, ...) against fn(torch, ...)."""
    torch = pytest.importorskip("torch")
    fn, shapes = parity[name]
    pairs = [torch_pair(s, torch) for s in shapes]
    ours = fn(rg, *[p[0] for p in pairs])
    theirs = fn(torch, *[p[1] for p in pairs])
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(n(ours), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(7).standard_normal(tuple(ours.shape))
    ours.backward(rg.tensor(g, dtype=rg.float64))
    theirs.backward(torch.tensor(g, dtype=torch.float64))
    for (a, b) in pairs:
        np.testing.assert_allclose(n(a.grad), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def both(torch, *arrays, dtype="float64"):
    """The arrays as rustgrad and as PyTorch leaf tensors of `dtype`."""
    rgs = [rg.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
    ts = [torch.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
    return rgs, ts


def check_parity(torch, rg_fn, torch_fn, *arrays, rng, dtype="float64", grad_tol=None):
    """rg_fn and torch_fn on the same arrays: values, and gradients under a cotangent drawn from
    `rng` (the calling module's own generator)."""
    rgs, ts = both(torch, *arrays, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, ref = rg_fn(*rgs), torch_fn(*ts)
    tol = 1e-12 if dtype == "float64" else 1e-5
    if grad_tol is None:
        grad_tol = tol
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    g = np.asarray(rng.standard_normal(tuple(ref.shape)), dtype=dtype)
    out.backward(rg.tensor(g))
    ref.backward(torch.tensor(g))
    for a, b in zip(rgs, ts):
        if b.grad is None:
            continue
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=grad_tol, atol=grad_tol)
