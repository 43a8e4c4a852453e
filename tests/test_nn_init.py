"""rustgrad.nn.init: gains, fan computations, the distributions each initialiser draws from, and
orthogonal_, sparse_ and dirac_ (dirac_ and the gains against PyTorch)."""

import math
import warnings

import numpy as np
import pytest

import rustgrad
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.nn import init

from op_testing import n


def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1
    assert init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5.0 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2.0))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2.0 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2.0 / 1.04))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(2.0 / 6.0))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity softsign"):
        init.calculate_gain("softsign")
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fan_in_and_fan_out():
    assert init._calculate_fan_in_and_fan_out(rustgrad.empty(3, 5)) == (5, 3)
    assert init._calculate_fan_in_and_fan_out(rustgrad.empty(32, 16, 3, 3)) == (16 * 9, 32 * 9)
    assert init._calculate_fan_in_and_fan_out(rustgrad.empty(4, 2, 5)) == (10, 20)
    with pytest.raises(ValueError, match="Fan in and fan out can not be computed for tensor with fewer than 2 "
                                         "dimensions"):
        init._calculate_fan_in_and_fan_out(rustgrad.empty(5))
    assert init._calculate_correct_fan(rustgrad.empty(3, 5), "fan_out") == 3
    assert init._calculate_correct_fan(rustgrad.empty(3, 5), "FAN_IN") == 5
    with pytest.raises(ValueError, match=r"Mode fan_avg not supported, please use one of \['fan_in', 'fan_out'\]"):
        init._calculate_correct_fan(rustgrad.empty(3, 5), "fan_avg")


def _values(t):
    return t.detach().numpy().astype(np.float64).ravel()


def _check_uniform(values, lo, hi):
    span = hi - lo
    assert values.min() >= lo and values.max() <= hi
    assert values.min() < lo + 0.01 * span and values.max() > hi - 0.01 * span
    assert abs(values.mean() - (lo + hi) / 2) < 0.02 * span
    assert abs(values.std() - span / math.sqrt(12)) < 0.02 * span


def _check_normal(values, mean, std):
    assert abs(values.mean() - mean) < 0.02 * std + 1e-12
    assert abs(values.std() - std) < 0.02 * std
    # Tails exist: a normal of 40k draws reaches beyond 3 std.
    assert np.abs(values - mean).max() > 3 * std


def test_uniform_and_normal_in_place_without_grad():
    w = nn.Parameter(rustgrad.empty(200, 200))
    out = init.uniform_(w, -0.5, 2.0)
    assert out is w and w.requires_grad and w.grad_fn is None and w.is_leaf
    _check_uniform(_values(w), -0.5, 2.0)
    assert init.normal_(w, 3.0, 0.5) is w and w.grad_fn is None
    _check_normal(_values(w), 3.0, 0.5)


def test_generator_argument_makes_draws_reproducible():
    a, b = rustgrad.empty(50, 4), rustgrad.empty(50, 4)
    init.uniform_(a, generator=rustgrad.Generator().manual_seed(7))
    init.uniform_(b, generator=rustgrad.Generator().manual_seed(7))
    assert a.tolist() == b.tolist()
    init.kaiming_normal_(a, generator=rustgrad.Generator().manual_seed(3))
    init.kaiming_normal_(b, generator=rustgrad.Generator().manual_seed(3))
    assert a.tolist() == b.tolist()
    init.xavier_uniform_(a, generator=rustgrad.Generator().manual_seed(1))
    init.xavier_uniform_(b, generator=rustgrad.Generator().manual_seed(2))
    assert a.tolist() != b.tolist()


def test_constant_ones_zeros_eye():
    t = rustgrad.empty(3, 4)
    assert init.constant_(t, 0.25) is t and np.all(t.numpy() == 0.25)
    assert init.ones_(t) is t and np.all(t.numpy() == 1.0)
    assert init.zeros_(t) is t and np.all(t.numpy() == 0.0)
    assert init.eye_(t) is t and t.tolist() == np.eye(3, 4).tolist()
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.eye_(rustgrad.empty(2, 2, 2))
    p = nn.Parameter(rustgrad.empty(2, 2))
    init.ones_(p)
    assert p.grad_fn is None and p.requires_grad


def test_xavier_uniform_and_normal():
    w = rustgrad.empty(300, 200)
    fan_in, fan_out = 200, 300
    a = math.sqrt(6.0 / (fan_in + fan_out))
    init.xavier_uniform_(w)
    _check_uniform(_values(w), -a, a)
    init.xavier_uniform_(w, gain=2.0)
    _check_uniform(_values(w), -2 * a, 2 * a)
    init.xavier_normal_(w)
    _check_normal(_values(w), 0.0, math.sqrt(2.0 / (fan_in + fan_out)))
    c = rustgrad.empty(64, 32, 3, 3)  # convolution weights: receptive field counts
    init.xavier_uniform_(c)
    b = math.sqrt(6.0 / (32 * 9 + 64 * 9))
    _check_uniform(_values(c), -b, b)


def test_kaiming_uniform_and_normal():
    w = rustgrad.empty(400, 250)
    init.kaiming_uniform_(w, nonlinearity="relu")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / 250)
    _check_uniform(_values(w), -bound, bound)
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / 400)
    _check_uniform(_values(w), -bound, bound)
    init.kaiming_uniform_(w, a=math.sqrt(5))  # what Linear uses: 1/sqrt(fan_in)
    _check_uniform(_values(w), -1 / math.sqrt(250), 1 / math.sqrt(250))
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    _check_normal(_values(w), 0.0, math.sqrt(2.0 / 400))
    init.kaiming_normal_(w)  # leaky_relu with a=0: gain sqrt(2)
    _check_normal(_values(w), 0.0, math.sqrt(2.0 / 250))


def test_kaiming_on_zero_element_tensor_warns():
    t = rustgrad.empty(0, 3)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert init.kaiming_uniform_(t) is t
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert init.kaiming_normal_(t) is t


def test_trunc_normal_bounds_and_moments():
    t = rustgrad.empty(200, 200)
    assert init.trunc_normal_(t, mean=0.0, std=1.0, a=-2.0, b=2.0) is t
    v = _values(t)
    assert v.min() >= -2.0 and v.max() <= 2.0
    assert v.min() < -1.95 and v.max() > 1.95
    # Variance of N(0, 1) truncated to [-2, 2]: 1 - 2*2*phi(2)/(2*Phi(2)-1).
    phi = math.exp(-2.0) / math.sqrt(2 * math.pi)
    big_phi = (1 + math.erf(2 / math.sqrt(2))) / 2
    expected_std = math.sqrt(1 - 4 * phi / (2 * big_phi - 1))
    assert abs(v.mean()) < 0.01
    assert abs(v.std() - expected_std) < 0.01
    # A one-sided, shifted window (the inverse-CDF method handles it without rejection loops).
    init.trunc_normal_(t, mean=1.0, std=0.5, a=1.0, b=1.2)
    v = _values(t)
    assert v.min() >= 1.0 and v.max() <= 1.2 and 1.08 < v.mean() < 1.11
    d = rustgrad.empty(1000, dtype=rustgrad.float64)
    init.trunc_normal_(d, std=0.02, a=-0.04, b=0.04)
    assert d.dtype == rustgrad.float64 and np.abs(d.numpy()).max() <= 0.04


def test_trunc_normal_generator_reproducible_and_warning():
    a, b = rustgrad.empty(100), rustgrad.empty(100)
    init.trunc_normal_(a, generator=rustgrad.Generator().manual_seed(5))
    init.trunc_normal_(b, generator=rustgrad.Generator().manual_seed(5))
    assert a.tolist() == b.tolist()
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        init.trunc_normal_(a, mean=10.0, std=1.0, a=-2.0, b=2.0)


def test_init_global_seed_reproducible():
    rustgrad.manual_seed(42)
    a = nn.Linear(10, 5)
    rustgrad.manual_seed(42)
    b = nn.Linear(10, 5)
    assert a.weight.tolist() == b.weight.tolist() and a.bias.tolist() == b.bias.tolist()


def test_erfinv_accuracy():
    y = np.linspace(-0.999999, 0.999999, 2001)
    x = init._erfinv(y)
    back = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(back - y)) < 1e-12


def test_no_warning_for_ordinary_init():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.Linear(3, 3)
        nn.Conv2d(1, 2, 3)


# ----- orthogonal_, sparse_, dirac_ ---------------------------------------------------------------

@pytest.mark.parametrize("shape,gain", [((3, 5), 2.0), ((5, 3), 1.0), ((6, 2, 3), 0.5), ((4, 4), 1.0)])
def test_orthogonal(shape, gain):
    w = rustgrad.empty(*shape, dtype=rustgrad.float64)
    assert nn.init.orthogonal_(w, gain=gain) is w
    a = n(w).reshape(shape[0], -1)
    if a.shape[0] <= a.shape[1]:
        np.testing.assert_allclose(a @ a.T, gain ** 2 * np.eye(a.shape[0]), atol=1e-12)
    else:
        np.testing.assert_allclose(a.T @ a, gain ** 2 * np.eye(a.shape[1]), atol=1e-12)
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions are supported"):
        nn.init.orthogonal_(rustgrad.empty(3))


def test_orthogonal_is_seeded():
    rustgrad.manual_seed(5)
    a = nn.init.orthogonal_(rustgrad.empty(4, 4))
    rustgrad.manual_seed(5)
    b = nn.init.orthogonal_(rustgrad.empty(4, 4))
    assert rustgrad.equal(a, b)


def test_sparse():
    w = rustgrad.empty(10, 6)
    nn.init.sparse_(w, 0.25, std=0.5)
    assert (w == 0).sum(0).tolist() == [3] * 6
    assert 0.2 < float(w[w != 0].std()) < 1.0
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        nn.init.sparse_(rustgrad.empty(2, 3, 4), 0.1)


@pytest.mark.parametrize("shape,groups", [((4, 2, 3), 1), ((4, 2, 3, 3), 2), ((2, 3, 3, 4, 5), 1), ((6, 2, 3, 3), 3)])
def test_dirac(shape, groups):
    torch = pytest.importorskip("torch")
    w = nn.init.dirac_(rustgrad.empty(*shape), groups)
    tw = torch.nn.init.dirac_(torch.empty(*shape), groups)
    np.testing.assert_array_equal(n(w), tw.numpy())
    # A dirac-initialised convolution (padding keeps the size) is the identity on the kept channels.
    if len(shape) == 4 and groups == 1:
        x = rustgrad.randn(1, 2, 5, 5)
        np.testing.assert_allclose(n(F.conv2d(x, w, padding=1))[:, :2], n(x), atol=1e-6)


def test_dirac_errors():
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions are supported"):
        nn.init.dirac_(rustgrad.empty(3, 3))
    with pytest.raises(ValueError, match="dim 0 must be divisible by groups"):
        nn.init.dirac_(rustgrad.empty(3, 2, 3), 2)


@pytest.mark.parametrize("nl,param", [("linear", None), ("conv_transpose2d", None), ("sigmoid", None),
                                      ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                                      ("selu", None)])
def test_calculate_gain_matches_pytorch(nl, param):
    torch = pytest.importorskip("torch")
    assert nn.init.calculate_gain(nl, param) == torch.nn.init.calculate_gain(nl, param)
