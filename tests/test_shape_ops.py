"""Ops that move or repeat elements: roll, repeat_interleave, meshgrid, cartesian_prod: values against
NumPy (float64), gradients against finite differences, PyTorch's errors and warnings, and (when
torch is installed) values and gradients against PyTorch."""

import itertools
import re

import numpy as np
import pytest

import rustgrad as rg
from rustgrad.autograd import gradcheck

from op_testing import r, n, check_parity_case
from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)


@pytest.mark.parametrize("shifts,dims", [(1, 0), ((1, -7), (0, 3)), (3, None), (-2, -1), ((0, 5), (1, 2))])
def test_roll(shifts, dims):
    x = r(2, 3, 4, 5)
    np.testing.assert_array_equal(n(rg.roll(x, shifts, dims)), np.roll(n(x), shifts, dims))
    assert gradcheck(lambda t: t.roll(shifts, dims), (x,))


@pytest.mark.parametrize("fn,msg,exc", [
    (lambda: rg.roll(rg.zeros(2, 3), (1, 2), (0,)), "shifts and dimensions must align. shifts: 2, dims:1",
     RuntimeError),
    (lambda: rg.roll(rg.zeros(2, 3), 1, 2), "Dimension out of range (expected to be in range of [-2, 1], but got 2)",
     IndexError),
    (lambda: rg.roll(rg.zeros(2, 3), (), ()), "`shifts` required", RuntimeError),
])
def test_roll_errors(fn, msg, exc):
    with pytest.raises(exc, match=re.escape(msg)):
        fn()


def test_repeat_interleave():
    x = r(2, 3)
    np.testing.assert_array_equal(n(rg.repeat_interleave(x, 2)), np.repeat(n(x), 2))
    np.testing.assert_array_equal(n(x.repeat_interleave(rg.tensor([1, 0, 3]), 1)), np.repeat(n(x), [1, 0, 3], 1))
    np.testing.assert_array_equal(n(x.repeat_interleave(rg.tensor(2), 0)), np.repeat(n(x), 2, 0))
    assert rg.repeat_interleave(rg.tensor([2, 0, 1])).tolist() == [0, 0, 2]
    assert gradcheck(lambda t: t.repeat_interleave(rg.tensor([2, 1]), 0), (x,))
    for repeats, msg in [
        (rg.tensor([1, 2]), "repeats must have the same size as input along dim, but got repeats.size(0) = 2 and "
                            "input.size(1) = 3"),
        (rg.tensor([1, -2, 1]), "repeats can not be negative"),
        (-1, "Repeats must be non-negative"),
        (rg.tensor([[1, 2, 1]]), "repeats must be 0-dim or 1-dim tensor"),
    ]:
        with pytest.raises(RuntimeError, match=re.escape(msg)):
            rg.repeat_interleave(x, repeats, 1)


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_cartesian_prod(indexing):
    a, b, c = r(2), r(3), r(4)
    outs = rg.meshgrid(a, b, c, indexing=indexing)
    for o, e in zip(outs, np.meshgrid(n(a), n(b), n(c), indexing=indexing)):
        np.testing.assert_array_equal(n(o), e)
    assert gradcheck(lambda x, y: rg.meshgrid(x, y, indexing=indexing)[0] * rg.meshgrid(x, y, indexing=indexing)[1],
                     (a, b))
    prod = rg.cartesian_prod(a, b)
    np.testing.assert_array_equal(n(prod), np.array(list(itertools.product(n(a), n(b)))))
    assert gradcheck(lambda x, y: rg.cartesian_prod(x, y), (a, b))


def test_meshgrid_errors_and_warning():
    with pytest.warns(UserWarning, match="it will be required to pass the indexing argument"):
        rg.meshgrid(rg.zeros(2), rg.zeros(3))
    with pytest.raises(RuntimeError, match=re.escape('torch.meshgrid: indexing must be one of "xy" or "ij", but '
                                                     'received: foo')):
        rg.meshgrid(rg.zeros(2), rg.zeros(3), indexing="foo")
    with pytest.raises(RuntimeError, match="meshgrid expects all tensors to have the same dtype"):
        rg.meshgrid(rg.zeros(2), rg.zeros(3, dtype=rg.float64), indexing="ij")
    with pytest.raises(RuntimeError, match=re.escape("Expect a 1D vector, but got shape [2, 3]")):
        rg.cartesian_prod(rg.zeros(2, 3), rg.zeros(2))


# ----- PyTorch parity -----------------------------------------------------------------------------

PARITY = {
    "roll": (lambda m, a: m.roll(a, (2, -1), (1, 0)), [(3, 4)]),
    "roll_flat": (lambda m, a: m.roll(a, 5), [(3, 4)]),
    "repeat_interleave": (lambda m, a: m.repeat_interleave(a, 2, dim=1), [(3, 4)]),
    "cartesian_prod": (lambda m, a, b: m.cartesian_prod(a, b), [(3,), (2,)]),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_torch_parity(name):
    check_parity_case(PARITY, name)
