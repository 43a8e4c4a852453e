"""The NaN-skipping and counting reductions: nansum, nanmean, count_nonzero: values against NumPy
(float64), gradients against finite differences (zero where an element is NaN), errors, and
(when torch is installed) values and gradients against PyTorch."""

import math
import re

import numpy as np
import pytest

import rustgrad as rg
from rustgrad.autograd import gradcheck

from op_testing import r, n, check_parity_case
from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)


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

PARITY = {
    "nanmean": (lambda m, a: m.nanmean(m.where(a > 1, a * math.nan, a), 1), [(3, 4)]),
    "nansum": (lambda m, a: m.nansum(m.where(a > 1, a * math.nan, a), 0), [(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_torch_parity(name):
    check_parity_case(PARITY, name)
