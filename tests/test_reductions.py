"""The NaN-skipping and counting reductions: nansum, nanmean, count_nonzero: values against NumPy
(float64), gradients against finite differences (zero where an element is NaN), errors, and
(when torch is installed) values and gradients against PyTorch."""

import math
import re

import numpy as np
import pytest

import rustgrad as rg
from rustgrad.autograd import gradcheck


@pytest.fixture(autouse=True)
def seed():
    rg.manual_seed(0)


def r(*shape, grad=True):
    x = rg.randn(*shape, dtype=rg.float64)
    return x.requires_grad_() if grad else x


def n(t):
    return t.detach().numpy()


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 1), False)])
def test_nansum_nanmean(dim, keepdim):
    x = r(3, 4, grad=False)
    x[0, 1] = math.nan
    x[2, 2] = math.nan
    x.requires_grad_()
    kw = {} if dim is None else {"axis": dim, "keepdims": keepdim}
    rkw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    np.testing.assert_allclose(n(rg.nansum(x, **rkw)), np.nansum(n(x), **kw), rtol=1e-12)
    np.testing.assert_allclose(n(x.nanmean(**rkw)), np.nanmean(n(x), **kw), rtol=1e-12)
    rg.nanmean(x, **rkw).sum().backward()
    assert x.grad[0, 1].item() == 0 and not x.grad.isnan().any()
    y = r(3, 4)
    assert gradcheck(lambda t: rg.nansum(t, **rkw), (y,))
    assert gradcheck(lambda t: rg.nanmean(t, **rkw), (y,))


def test_nanmean_refuses_integers():
    with pytest.raises(NotImplementedError, match=re.escape("nanmean(): expected input to have floating point or "
                                                            "complex dtype but got Long")):
        rg.nanmean(rg.tensor([5, 3]))


def test_count_nonzero():
    x = rg.tensor([[0, 1, 2], [0, 0, 3]])
    assert rg.count_nonzero(x).item() == 3
    assert x.count_nonzero(0).tolist() == [0, 1, 2]
    assert rg.count_nonzero(x, (0, 1)).item() == 3
    assert rg.count_nonzero(x.double(), -1).tolist() == [2, 1]
    with pytest.raises(RuntimeError, match=re.escape("dim 0 appears multiple times in the list of dims")):
        rg.count_nonzero(x, (0, 0))


# ----- PyTorch parity -----------------------------------------------------------------------------

def _pair(shape, torch, positive=False):
    x = np.random.default_rng(sum(shape) + len(shape)).standard_normal(shape)
    if positive:
        x = np.abs(x) + 0.5
    return (rg.tensor(x, dtype=rg.float64, requires_grad=True), torch.tensor(x, dtype=torch.float64,
                                                                           requires_grad=True))


PARITY = {
    "nanmean": (lambda m, a: m.nanmean(m.where(a > 1, a * math.nan, a), 1), [(3, 4)]),
    "nansum": (lambda m, a: m.nansum(m.where(a > 1, a * math.nan, a), 0), [(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_torch_parity(name):
    torch = pytest.importorskip("torch")
    fn, shapes = PARITY[name]
    pairs = [_pair(s, torch) for s in shapes]
    ours = fn(rg, *[p[0] for p in pairs])
    theirs = fn(torch, *[p[1] for p in pairs])
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(n(ours), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(7).standard_normal(tuple(ours.shape))
    ours.backward(rg.tensor(g, dtype=rg.float64))
    theirs.backward(torch.tensor(g, dtype=torch.float64))
    for (a, b) in pairs:
        np.testing.assert_allclose(n(a.grad), b.grad.numpy(), rtol=1e-10, atol=1e-12)
