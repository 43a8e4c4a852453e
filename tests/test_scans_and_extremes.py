"""The reductions and scans of python/rustgrad/_ops_scan.py (amax/amin/aminmax, cumprod, cummax/cummin,
logcumsumexp, var_mean/std_mean, diff, dist): values, dtypes and errors against PyTorch, gradients by
finite differences in float64 and against PyTorch where the rule is a choice (ties)."""

import numpy as np
import pytest

import rustgrad as rg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(1)
X = RNG.uniform(-2, 2, (3, 4, 5))
TIES = np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 0.0, 2.0], [np.nan, 1.0, 5.0, 1.0]])
INTS = np.array([[3, 1, 1, 2, 0], [0, 5, -2, 5, 4]])
SPECIAL = np.array([[-np.inf, -np.inf, 0.0, 1000.0, -3.0], [np.nan, 1.0, np.inf, 2.0, 0.5]])


def assert_same(ours, theirs, tol=1e-7):
    if isinstance(theirs, tuple):
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            assert_same(o, t, tol)
        return
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=tol, atol=tol, equal_nan=True)


CASES = {
    "amax_dim": lambda m, T: T(X).amax(1),
    "amax_dims_keepdim": lambda m, T: m.amax(T(X), (0, 2), keepdim=True),
    "amax_all": lambda m, T: T(TIES).amax(),
    "amin_int": lambda m, T: m.amin(T(INTS), -1),
    "amin_nan": lambda m, T: T(TIES).amin(1),
    "aminmax": lambda m, T: tuple(m.aminmax(T(INTS), dim=1)),
    "aminmax_all": lambda m, T: tuple(T(X).aminmax()),
    "aminmax_keepdim": lambda m, T: tuple(T(X).aminmax(dim=0, keepdim=True)),
    "cumprod": lambda m, T: T(X).cumprod(2),
    "cumprod_int": lambda m, T: m.cumprod(T(INTS), 1),
    "cumprod_dtype": lambda m, T: T(INTS).cumprod(0, dtype=m.float64),
    "cummax": lambda m, T: tuple(T(TIES).cummax(1)),
    "cummax_int": lambda m, T: tuple(m.cummax(T(INTS), 1)),
    "cummin": lambda m, T: tuple(T(TIES).cummin(1)),
    "cummin_dim0": lambda m, T: tuple(m.cummin(T(X), 0)),
    "logcumsumexp": lambda m, T: T(X).logcumsumexp(1),
    "logcumsumexp_special": lambda m, T: m.logcumsumexp(T(SPECIAL), 1),
    "var_mean": lambda m, T: tuple(m.var_mean(T(X), 1)),
    "var_mean_all": lambda m, T: tuple(m.var_mean(T(X))),
    "std_mean": lambda m, T: tuple(m.std_mean(T(X), dim=(0, 2), correction=0, keepdim=True)),
    "std_mean_unbiased": lambda m, T: tuple(m.std_mean(T(X), 2, unbiased=False)),
    "diff": lambda m, T: T(X).diff(),
    "diff_n2_prepend": lambda m, T: m.diff(T(INTS), n=2, dim=0, prepend=T(INTS)),
    "diff_append": lambda m, T: T(X).diff(dim=1, append=T(X[:, :1])),
    "diff_bool": lambda m, T: T(INTS > 1).diff(),
    "dist": lambda m, T: T(X).dist(T(X[::-1].copy()), 3),
    "dist_default": lambda m, T: m.dist(T(X), T(X * 2)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_pytorch(name):
    assert_same(CASES[name](rg, rg.tensor), CASES[name](torch, torch.tensor))


GRADS = {
    "amax": (lambda a: a.amax((0, 2)), X),
    "amin": (lambda a: rg.amin(a, 1, keepdim=True), X),
    "aminmax": (lambda a: a.aminmax(dim=1).max, X),
    "cumprod": (lambda a: a.cumprod(1), X),
    "cummax": (lambda a: a.cummax(2).values, X),
    "cummin": (lambda a: rg.cummin(a, 0).values, X),
    "logcumsumexp": (lambda a: a.logcumsumexp(2), X),
    "var_mean": (lambda a: rg.var_mean(a, 1)[0] + rg.var_mean(a, 1)[1], X),
    "std_mean": (lambda a: rg.std_mean(a, (0, 1))[0], X),
    "diff": (lambda a: a.diff(n=2, dim=1), X),
    "dist": (lambda a: a.dist(rg.zeros(3, 4, 5, dtype=rg.float64), 3), X),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_by_finite_differences(name):
    fn, array = GRADS[name]
    assert rg.autograd.gradcheck(fn, [rg.tensor(array, requires_grad=True)])


@pytest.mark.parametrize("name,call", [
    ("amax", lambda m, a: m.amax(a, 1)),
    ("amin", lambda m, a: m.amin(a, (0, 1))),
    ("cumprod_zeros", lambda m, a: m.cumprod(a * m.tensor([1.0, 0.0, 2.0, 0.0], dtype=m.float64), 1)),
    ("cummax_ties", lambda m, a: m.cummax(a, 1).values),
])
def test_gradients_at_ties_and_zeros_match_pytorch(name, call):
    data = np.nan_to_num(TIES)
    ours = rg.tensor(data, requires_grad=True)
    theirs = torch.tensor(data, requires_grad=True)
    call(rg, ours).sum().backward()
    call(torch, theirs).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())


def test_cumprod_inplace():
    x = rg.tensor([[1.0, 2.0, 3.0]])
    assert x.cumprod_(1) is x
    assert x.tolist() == [[1.0, 2.0, 6.0]]


@pytest.mark.parametrize("call", [
    lambda m: m.amax(m.zeros(2, 0), 1),
    lambda m: m.amax(m.zeros(2, 3), (1, 1)),
    lambda m: m.diff(m.tensor(1.0)),
    lambda m: m.amin(m.zeros(2, 3), 2),
])
def test_errors_match_pytorch(call):
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(rg)
    assert str(ours.value) == str(theirs.value)
