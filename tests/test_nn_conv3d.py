"""conv3d, conv_transpose1d, conv_transpose3d, conv_tbc and the Conv3d / ConvTranspose1d /
ConvTranspose3d modules: values and gradients against PyTorch, gradcheck, parameters, errors."""

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck
from nn_parity import check, copy_module, raises_like

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RNG = np.random.default_rng(0)


def arr(*shape):
    return RNG.standard_normal(shape)


@pytest.mark.parametrize("x, w, kw", [
    ((2, 3, 5, 6, 4), (4, 3, 3, 2, 2), {}),
    ((1, 4, 6, 5, 5), (2, 2, 2, 3, 1), {"stride": 2, "padding": 1, "groups": 2}),
    ((1, 2, 7, 6, 6), (3, 2, 3, 3, 3), {"stride": (1, 2, 1), "padding": (2, 0, 1), "dilation": (2, 1, 2)}),
    ((2, 5, 5, 5), (3, 2, 3, 3, 3), {"padding": "same"}),
    ((1, 2, 4, 5, 6), (3, 2, 2, 2, 3), {"padding": "same", "dilation": 2}),
    ((1, 2, 4, 5, 6), (3, 2, 2, 2, 3), {"padding": "valid"}),
])
@pytest.mark.parametrize("bias", [False, True])
def test_conv3d_matches_torch(x, w, kw, bias):
    arrays = [arr(*x), arr(*w)] + ([arr(w[0])] if bias else [])
    check(torch, lambda *a: F.conv3d(*a[:2], a[2] if bias else None, **kw),
          lambda *a: TF.conv3d(*a[:2], a[2] if bias else None, **kw), *arrays)


def test_conv3d_gradcheck():
    x = rg.tensor(arr(1, 2, 3, 4, 3), requires_grad=True)
    w = rg.tensor(arr(2, 1, 2, 2, 2), requires_grad=True)
    b = rg.tensor(arr(2), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv3d(x, w, b, stride=(2, 1, 1), padding=1, groups=2), (x, w, b))


@pytest.mark.parametrize("x, w, kw", [
    ((2, 3, 5), (3, 2, 3), {}),
    ((1, 4, 6), (4, 1, 2), {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}),
    ((1, 2, 5), (2, 3, 3), {"stride": 3, "dilation": 2, "output_padding": 1}),
    ((3, 5), (3, 2, 3), {"stride": 2}),
])
def test_conv_transpose1d_matches_torch(x, w, kw):
    check(torch, lambda x, w, b: F.conv_transpose1d(x, w, b, **kw),
          lambda x, w, b: TF.conv_transpose1d(x, w, b, **kw), arr(*x), arr(*w), arr(w[1] * kw.get("groups", 1)))


@pytest.mark.parametrize("x, w, kw", [
    ((2, 3, 3, 4, 2), (3, 2, 2, 3, 2), {}),
    ((1, 4, 3, 3, 3), (4, 1, 3, 2, 2), {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}),
    ((1, 2, 2, 3, 2), (2, 2, 2, 2, 2), {"stride": (2, 1, 3), "dilation": (2, 2, 1), "padding": (1, 0, 1)}),
    ((2, 3, 2, 2), (2, 3, 2, 2, 2), {"stride": 2}),
])
def test_conv_transpose3d_matches_torch(x, w, kw):
    check(torch, lambda x, w, b: F.conv_transpose3d(x, w, b, **kw),
          lambda x, w, b: TF.conv_transpose3d(x, w, b, **kw), arr(*x), arr(*w), arr(w[1] * kw.get("groups", 1)))


def test_conv_transpose_gradcheck():
    x = rg.tensor(arr(1, 2, 2, 3, 2), requires_grad=True)
    w = rg.tensor(arr(2, 1, 2, 2, 2), requires_grad=True)
    assert gradcheck(lambda x, w: F.conv_transpose3d(x, w, stride=2, padding=1, output_padding=1), (x, w))
    x1 = rg.tensor(arr(1, 2, 4), requires_grad=True)
    w1 = rg.tensor(arr(2, 3, 3), requires_grad=True)
    assert gradcheck(lambda x, w: F.conv_transpose1d(x, w, stride=2, padding=1), (x1, w1))


def test_conv_tbc_matches_torch():
    check(torch, lambda x, w, b: F.conv_tbc(x, w, b, 1), lambda x, w, b: torch.conv_tbc(x, w, b, 1),
          arr(6, 2, 3), arr(3, 3, 4), arr(4))


@pytest.mark.parametrize("cls, args, kwargs, x", [
    ("Conv3d", (2, 4, 3), {"padding": 1}, (2, 2, 4, 5, 4)),
    ("Conv3d", (4, 2, (2, 3, 1)), {"stride": 2, "groups": 2, "bias": False}, (1, 4, 5, 5, 5)),
    ("Conv3d", (2, 3, 3), {"padding": 1, "padding_mode": "circular"}, (1, 2, 4, 4, 4)),
    ("Conv3d", (2, 3, 3), {"padding": "same", "padding_mode": "replicate"}, (1, 2, 4, 4, 4)),
    ("ConvTranspose1d", (3, 2, 3), {"stride": 2}, (2, 3, 5)),
    ("ConvTranspose3d", (2, 3, 2), {"stride": 2, "padding": 1}, (1, 2, 3, 2, 3)),
])
def test_modules_match_torch(cls, args, kwargs, x):
    m_t = getattr(torch.nn, cls)(*args, **kwargs).double()
    m_rg = getattr(nn, cls)(*args, **kwargs).double()
    assert repr(m_rg) == repr(m_t)
    assert [(k, tuple(v.shape)) for k, v in m_rg.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in m_t.state_dict().items()]
    copy_module(m_t, m_rg)
    check(torch, m_rg, m_t, arr(*x))


def test_conv_transpose_output_size():
    m_t = torch.nn.ConvTranspose3d(2, 1, 3, stride=2).double()
    m_rg = nn.ConvTranspose3d(2, 1, 3, stride=2).double()
    copy_module(m_t, m_rg)
    x = arr(1, 2, 2, 3, 2)
    out = m_rg(rg.tensor(x), output_size=[6, 8, 6])
    np.testing.assert_allclose(out.detach().numpy(), m_t(torch.tensor(x), output_size=[6, 8, 6]).detach().numpy(),
                               rtol=1e-10)
    m1 = nn.ConvTranspose1d(2, 1, 3, stride=2)
    assert m1(rg.randn(1, 2, 4), output_size=[10]).shape == (1, 1, 10)


def test_initialisation_bounds():
    m = nn.Conv3d(4, 8, 3)
    bound = 1 / np.sqrt(4 * 27)
    w = m.weight.detach().numpy()
    assert np.abs(w).max() <= bound and w.std() > bound / 3
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    assert nn.ConvTranspose3d(4, 6, 2, groups=2).weight.shape == (4, 3, 2, 2, 2)


@pytest.mark.parametrize("call", [
    lambda F, t: F.conv3d(t.randn(2, 3, 4, 4), t.randn(2, 3, 3, 3, 3)),
    lambda F, t: F.conv3d(t.randn(1, 2, 3, 4, 4, 4), t.randn(2, 3, 3, 3, 3)),
    lambda F, t: F.conv3d(t.randn(1, 2, 4, 4, 4), t.randn(2, 3, 3, 3, 3)),
    lambda F, t: F.conv3d(t.randn(1, 3, 2, 4, 4), t.randn(2, 3, 3, 3, 3)),
    lambda F, t: F.conv_transpose3d(t.randn(1, 2, 3, 3, 3), t.randn(2, 2, 2, 2, 2), stride=2, output_padding=2),
])
def test_errors_match_torch(call):
    raises_like(torch, lambda: call(F, rg), lambda: call(TF, torch))


def test_module_errors():
    for cls in (nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose3d):
        with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
            cls(3, 4, 2, groups=2)
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose3d'):
        nn.ConvTranspose3d(2, 2, 2, padding_mode="reflect")
