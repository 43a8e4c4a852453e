"""The dropout variants: dropout1d/2d/3d (channel-wise), alpha_dropout, feature_alpha_dropout and
their modules: masks per channel, scaling, SELU statistics, evaluation mode, PyTorch's warnings
and errors."""

import warnings

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from nn_parity import raises_like

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _channel_constant(out, x, p, channel_dims):
    """Every (sample, channel) slab is either all zero or x / (1 - p)."""
    ratio = out / x
    flat = ratio.reshape(*ratio.shape[:channel_dims], -1)
    assert np.allclose(flat, flat[..., :1])
    assert set(np.round(np.unique(flat), 9)) <= {0.0, round(1 / (1 - p), 9)}


@pytest.mark.parametrize("fn, shape, channel_dims", [
    ("dropout1d", (8, 16, 5), 2), ("dropout1d", (16, 5), 1), ("dropout2d", (8, 16, 3, 4), 2),
    ("dropout3d", (8, 16, 2, 3, 2), 2), ("dropout3d", (16, 2, 3, 2), 1),
])
def test_channel_dropout_masks(fn, shape, channel_dims):
    x = np.abs(np.random.default_rng(0).standard_normal(shape)) + 0.5
    xt = rg.tensor(x, requires_grad=True)
    out = getattr(F, fn)(xt, 0.4)
    _channel_constant(out.detach().numpy(), x, 0.4, channel_dims)
    kept = (out.detach().numpy() != 0).mean()
    assert 0.35 < kept < 0.85
    out.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), out.detach().numpy() / x, rtol=1e-12)
    np.testing.assert_array_equal(getattr(F, fn)(xt, 0.4, training=False).detach().numpy(), x)


def test_dropout2d_3d_input_and_warnings_match_torch():
    x = rg.randn(4, 6, 5)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        out = F.dropout2d(x, 0.5)
    with warnings.catch_warnings(record=True) as expected:
        warnings.simplefilter("always")
        TF.dropout2d(torch.randn(4, 6, 5), 0.5)
    assert [str(w.message) for w in got] == [str(w.message) for w in expected]
    _channel_constant(out.numpy(), x.numpy(), 0.5, 2)
    for fn, shape in (("dropout2d", (3, 4)), ("dropout3d", (2, 3, 4))):
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            getattr(F, fn)(rg.randn(*shape))
        with warnings.catch_warnings(record=True) as expected:
            warnings.simplefilter("always")
            getattr(TF, fn)(torch.randn(*shape))
        assert [str(w.message) for w in got] == [str(w.message) for w in expected]


def test_alpha_dropout_keeps_selu_statistics():
    x = rg.randn(200000, dtype=rg.float64)
    out = F.alpha_dropout(x, 0.3, training=True).numpy()
    assert abs(out.mean()) < 0.02 and abs(out.std() - 1) < 0.02
    # Dropped units all take one value: a * (-scale * alpha) + b.
    a = 1.0 / np.sqrt((1.7580993408473766 ** 2 * 0.3 + 1) * 0.7)
    dropped = -1.7580993408473766 * a + 1.7580993408473766 * a * 0.3
    assert np.isclose(out, dropped).mean() == pytest.approx(0.3, abs=0.01)
    assert F.alpha_dropout(x, 0.3) is x  # training defaults to False


def test_feature_alpha_dropout_per_channel_and_grad():
    x = rg.tensor(np.random.default_rng(1).standard_normal((50, 20, 6)), requires_grad=True)
    out = F.feature_alpha_dropout(x, 0.5, training=True)
    a = 1.0 / np.sqrt((1.7580993408473766 ** 2 * 0.5 + 1) * 0.5)
    out.sum().backward()
    g = x.grad.numpy()
    assert np.allclose(g, g[..., :1])  # one mask per (sample, channel)
    assert set(np.round(np.unique(g), 9)) == {0.0, round(a, 9)}
    assert F.feature_alpha_dropout(x, 0.5) is x


def test_p_one_and_zero():
    x = rg.randn(3, 4, 5)
    assert (F.dropout1d(x, 1.0).numpy() == 0).all()
    assert (F.alpha_dropout(x, 1.0, True).numpy() == 0).all()
    assert F.dropout3d(rg.randn(1, 2, 3, 4, 5), 0.0) is not None


@pytest.mark.parametrize("call", [
    lambda F, t: F.dropout1d(t.randn(2, 3, 4, 5)),
    lambda F, t: F.dropout1d(t.randn(2, 3), 1.5),
    lambda F, t: F.alpha_dropout(t.randn(4), 1.5, True),
    lambda F, t: F.feature_alpha_dropout(t.randn(4), 0.5, True),
    lambda F, t: F.alpha_dropout(t.tensor([1, 2]), 0.5, True),
])
def test_errors_match_torch(call):
    raises_like(torch, lambda: call(F, rg), lambda: call(TF, torch))


@pytest.mark.parametrize("cls", ["Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"])
def test_modules(cls):
    m_rg, m_t = getattr(nn, cls)(0.2), getattr(torch.nn, cls)(0.2)
    assert repr(m_rg) == repr(m_t)
    assert repr(getattr(nn, cls)(0.3, inplace=True)) == repr(getattr(torch.nn, cls)(0.3, inplace=True))
    x = rg.randn(*{"Dropout1d": (4, 6, 3), "Dropout2d": (4, 6, 3, 2)}.get(cls, (4, 6, 3, 2, 2)))
    assert (m_rg(x).numpy() != x.numpy()).any()
    m_rg.eval()
    np.testing.assert_array_equal(m_rg(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 2"):
        getattr(nn, cls)(2.0)


def test_inplace_dropout1d():
    x = rg.ones(4, 8, 3)
    out = F.dropout1d(x, 0.5, inplace=True)
    assert out is x and set(np.unique(x.numpy())) <= {0.0, 2.0}
