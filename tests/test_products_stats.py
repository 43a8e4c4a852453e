"""The products and statistics of python/rustgrad/_ops_products.py (mv, addmv, addr, inner, ger, vdot,
cross, matrix_power, diagflat, renorm, cov, corrcoef), hardshrink/prelu as methods, the legacy
``Tensor.new`` and the device predicates: values and errors against PyTorch, gradients by finite
differences in float64."""

import numpy as np
import pytest

import rustgrad as rg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(3)
M = RNG.uniform(-2, 2, (3, 4))
SQ = RNG.uniform(-1, 1, (2, 3, 3))
V = RNG.uniform(-2, 2, 4)
W = RNG.uniform(-2, 2, 3)
FW = np.array([1, 2, 1, 3])
AW = np.array([0.5, 1.0, 2.0, 0.25])


def assert_same(ours, theirs, tol=1e-10):
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=tol, atol=tol, equal_nan=True)


CASES = {
    "mv": lambda m, T: T(M).mv(T(V)),
    "addmv": lambda m, T: T(W).addmv(T(M), T(V), beta=0.5, alpha=2),
    "addmv_beta0_nan": lambda m, T: m.addmv(T(np.full(3, np.nan)), T(M), T(V), beta=0),
    "addr": lambda m, T: m.addr(T(M), T(W), T(V), alpha=3),
    "inner": lambda m, T: T(M).inner(T(M)),
    "inner_vectors": lambda m, T: m.inner(T(V), T(V)),
    "inner_scalar": lambda m, T: m.inner(T(M), T(np.array(2.0))),
    "vdot": lambda m, T: T(V).vdot(T(V)),
    "ger": lambda m, T: T(V).ger(T(W)),
    "cross": lambda m, T: T(M[:, :3]).cross(T(M[:, 1:]), dim=1),
    "cross_dim0": lambda m, T: m.cross(T(SQ), T(SQ[::-1].copy()), dim=1),
    "matrix_power": lambda m, T: T(SQ).matrix_power(5),
    "matrix_power_1": lambda m, T: m.matrix_power(T(SQ), 1),
    "matrix_power_0": lambda m, T: T(SQ).matrix_power(0),
    "diagflat": lambda m, T: T(M[:2, :2]).diagflat(1),
    "diagflat_negative": lambda m, T: m.diagflat(T(V), -2),
    "renorm": lambda m, T: T(M).renorm(2, 0, 2.0),
    "renorm_p1_dim1": lambda m, T: m.renorm(T(M), 1, 1, 1.5),
    "cov": lambda m, T: T(M).cov(),
    "cov_1d": lambda m, T: m.cov(T(V)),
    "cov_weights": lambda m, T: T(M).cov(correction=0, fweights=T(FW), aweights=T(AW)),
    "cov_aweights": lambda m, T: m.cov(T(M), aweights=T(AW)),
    "cov_int": lambda m, T: m.cov(T(FW.reshape(2, 2))),
    "corrcoef": lambda m, T: T(M).corrcoef(),
    "hardshrink": lambda m, T: T(np.array([-1.0, -0.3, 0.5, 0.7, np.nan])).hardshrink(),
    "hardshrink_lambd": lambda m, T: T(M).hardshrink(1.0),
    "prelu": lambda m, T: T(M).prelu(T(np.array([0.25]))),
    "new_data": lambda m, T: T(M).new([1, 2]),
    "new_tensor_data": lambda m, T: T(M).new(T(W)),
    "new_empty": lambda m, T: T(M).new(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_pytorch(name):
    assert_same(CASES[name](rg, rg.tensor), CASES[name](torch, torch.tensor))


def test_new_with_sizes_is_uninitialized_of_that_shape_and_dtype():
    x = rg.tensor(M).new(2, 3)
    assert tuple(x.shape) == (2, 3) and x.dtype == rg.float64
    assert tuple(rg.tensor(FW).new(rg.Size([4])).shape) == (4,)


GRADS = {
    "mv": (lambda a, v: a.mv(v), [M, V]),
    "addmv": (lambda b, a, v: b.addmv(a, v, beta=0.5, alpha=2), [W, M, V]),
    "addr": (lambda a, x, y: a.addr(x, y, beta=2), [M, W, V]),
    "inner": (lambda a, b: a.inner(b), [M, M[::-1].copy()]),
    "vdot": (lambda a, b: a.vdot(b), [V, V[::-1].copy()]),
    "cross": (lambda a, b: a.cross(b, dim=1), [M[:, :3], M[:, 1:]]),
    "matrix_power": (lambda a: a.matrix_power(3), [SQ]),
    "diagflat": (lambda a: a.diagflat(), [V]),
    "renorm": (lambda a: a.renorm(2, 0, 2.0), [M]),
    "cov": (lambda a: a.cov(), [M]),
    "cov_weights": (lambda a: a.cov(fweights=rg.tensor(FW), aweights=rg.tensor(AW)), [M]),
    "corrcoef": (lambda a: a.corrcoef(), [M]),
    "hardshrink": (lambda a: a.hardshrink(0.1), [M]),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_by_finite_differences(name):
    fn, arrays = GRADS[name]
    assert rg.autograd.gradcheck(fn, [rg.tensor(a, requires_grad=True) for a in arrays])


def test_renorm_gradient_matches_pytorch():
    ours, theirs = rg.tensor(M, requires_grad=True), torch.tensor(M, requires_grad=True)
    (ours.renorm(2, 0, 2.0) * rg.tensor(W).unsqueeze(1)).sum().backward()
    (theirs.renorm(2, 0, 2.0) * torch.tensor(W).unsqueeze(1)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_inplace_products():
    x, t = rg.tensor(W), torch.tensor(W)
    assert x.addmv_(rg.tensor(M), rg.tensor(V)) is x
    t.addmv_(torch.tensor(M), torch.tensor(V))
    np.testing.assert_allclose(x.numpy(), t.numpy())
    x, t = rg.tensor(M), torch.tensor(M)
    assert x.addr_(rg.tensor(W), rg.tensor(V), alpha=2) is x
    t.addr_(torch.tensor(W), torch.tensor(V), alpha=2)
    np.testing.assert_allclose(x.numpy(), t.numpy())
    x, t = rg.tensor(M[:, :3]), torch.tensor(M[:, :3])
    assert x.addmm_(rg.tensor(M[:, :2]), rg.tensor(M[:2, :3]), beta=2) is x
    t.addmm_(torch.tensor(M[:, :2]), torch.tensor(M[:2, :3]), beta=2)
    np.testing.assert_allclose(x.numpy(), t.numpy())
    x, t = rg.tensor(M), torch.tensor(M)
    assert x.renorm_(2, 1, 1.0) is x
    t.renorm_(2, 1, 1.0)
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-6)


@pytest.mark.parametrize("call", [
    lambda m, T: T(M).mv(T(W)),
    lambda m, T: T(V).mv(T(V)),
    lambda m, T: T(V).vdot(T(M)),
    lambda m, T: T(M).inner(T(W)),
    lambda m, T: T(M).cross(T(M), dim=1),
    lambda m, T: T(M).matrix_power(2),
    lambda m, T: m.cov(T(SQ)),
    lambda m, T: T(M).cov(fweights=T(AW)),
    lambda m, T: T(M).cov(aweights=T(FW)),
    lambda m, T: T(FW).renorm(2, 0, 1.0),
    lambda m, T: T(M).renorm(-1, 0, 1.0),
])
def test_errors_match_pytorch(call):
    with pytest.raises(Exception) as theirs:
        call(torch, torch.tensor)
    with pytest.raises(type(theirs.value)) as ours:
        call(rg, rg.tensor)
    assert str(ours.value) == str(theirs.value)


def test_matrix_power_negative_is_not_implemented():
    with pytest.raises(NotImplementedError, match="negative powers"):
        rg.tensor(SQ).matrix_power(-1)


def test_device_predicates():
    x, t = rg.tensor(M), torch.tensor(M)
    for name in ("is_xla", "is_xpu", "is_mps", "is_ipu", "is_vulkan", "is_maia", "is_mtia", "is_mkldnn",
                 "is_nested"):
        assert getattr(x, name) is False is getattr(t, name), name
    assert x.is_distributed() is False
    assert x.is_set_to(x) and not x.is_set_to(x.clone())
    assert t.is_set_to(t) and not t.is_set_to(t.clone())
