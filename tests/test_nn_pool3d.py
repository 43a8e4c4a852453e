"""3-D pooling (max, avg, adaptive), LP pooling, max unpooling and fractional max pooling, as
functions and modules: values, indices and gradients against PyTorch, gradcheck, errors."""

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck
from nn_parity import check, raises_like

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RNG = np.random.default_rng(0)


def arr(*shape):
    # Distinct values: max pooling's argmax (and so its gradient) is then unambiguous.
    return RNG.permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 3.0


@pytest.mark.parametrize("shape, kw", [
    ((2, 3, 4, 5, 6), {"kernel_size": 2}),
    ((1, 2, 5, 5, 5), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 6, 5, 7), {"kernel_size": (2, 3, 2), "stride": (1, 2, 3), "dilation": (2, 1, 1)}),
    ((1, 2, 5, 6, 5), {"kernel_size": 2, "stride": 2, "ceil_mode": True}),
    ((2, 4, 4, 4), {"kernel_size": 2, "padding": 1}),
])
def test_max_pool3d_matches_torch(shape, kw):
    check(torch, lambda x: F.max_pool3d(x, **kw), lambda x: TF.max_pool3d(x, **kw), arr(*shape))
    x = arr(*shape)
    v, i = F.max_pool3d(rg.tensor(x), return_indices=True, **kw)
    tv, ti = TF.max_pool3d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    v2, i2 = F.max_pool3d_with_indices(rg.tensor(x), **kw)
    np.testing.assert_array_equal(i2.numpy(), ti.numpy())


@pytest.mark.parametrize("shape, kw", [
    ((2, 3, 4, 5, 6), {"kernel_size": 2}),
    ((1, 2, 5, 5, 5), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 5, 5, 5), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    ((1, 2, 5, 6, 5), {"kernel_size": 2, "stride": 2, "ceil_mode": True, "padding": 1}),
    ((1, 2, 5, 6, 5), {"kernel_size": 3, "stride": 2, "ceil_mode": True, "count_include_pad": False}),
    ((1, 2, 4, 4, 4), {"kernel_size": 2, "divisor_override": 3}),
    ((2, 4, 4, 4), {"kernel_size": (1, 2, 3), "stride": 1}),
])
def test_avg_pool3d_matches_torch(shape, kw):
    check(torch, lambda x: F.avg_pool3d(x, **kw), lambda x: TF.avg_pool3d(x, **kw), arr(*shape))


@pytest.mark.parametrize("shape, size", [((2, 3, 5, 7, 6), 3), ((1, 2, 4, 5, 6), (2, None, 4)),
                                         ((2, 6, 5, 4), (4, 3, 2)), ((1, 1, 3, 3, 3), 1)])
def test_adaptive_pool3d_matches_torch(shape, size):
    check(torch, lambda x: F.adaptive_avg_pool3d(x, size), lambda x: TF.adaptive_avg_pool3d(x, size), arr(*shape))
    check(torch, lambda x: F.adaptive_max_pool3d(x, size), lambda x: TF.adaptive_max_pool3d(x, size), arr(*shape))
    _, i = F.adaptive_max_pool3d(rg.tensor(arr(*shape)), size, return_indices=True)
    x = arr(*shape)
    _, i = F.adaptive_max_pool3d_with_indices(rg.tensor(x), size)
    _, ti = TF.adaptive_max_pool3d(torch.tensor(x), size, return_indices=True)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())


def test_pool3d_gradcheck():
    x = rg.tensor(arr(1, 2, 4, 3, 4), requires_grad=True)
    assert gradcheck(lambda t: F.max_pool3d(t, 2, 1, 1), (x,))
    assert gradcheck(lambda t: F.avg_pool3d(t, 2, 1, 1, count_include_pad=False), (x,))
    assert gradcheck(lambda t: F.adaptive_avg_pool3d(t, (3, 2, 3)), (x,))
    assert gradcheck(lambda t: F.adaptive_max_pool3d(t, (3, 2, 3)), (x,))


@pytest.mark.parametrize("fn, shape, args", [
    ("lp_pool1d", (2, 3, 8), (2.0, 3)), ("lp_pool1d", (2, 3, 9), (1.5, 2, 3, True)),
    ("lp_pool2d", (2, 3, 6, 7), (2.0, 2)), ("lp_pool2d", (1, 2, 6, 7), (3.0, (2, 3), (1, 2))),
    ("lp_pool3d", (1, 2, 4, 6, 5), (2.0, 2)), ("lp_pool3d", (2, 4, 4, 4), (1.0, (2, 1, 2), 1)),
])
def test_lp_pool_matches_torch(fn, shape, args):
    x = np.abs(arr(*shape)) + 0.1
    check(torch, lambda t: getattr(F, fn)(t, *args), lambda t: getattr(TF, fn)(t, *args), x)


def test_lp_pool_gradcheck():
    x = rg.tensor(np.abs(arr(1, 2, 4, 4)) + 0.2, requires_grad=True)
    assert gradcheck(lambda t: F.lp_pool2d(t, 2.0, 2), (x,))


@pytest.mark.parametrize("dims, shape, kw", [
    (1, (2, 3, 8), {"kernel_size": 2}),
    (2, (2, 3, 5, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
    (3, (1, 2, 4, 6, 4), {"kernel_size": 2}),
    (2, (3, 6, 6), {"kernel_size": 2}),
])
def test_max_unpool_matches_torch(dims, shape, kw):
    pool = getattr(TF, f"max_pool{dims}d")
    x = torch.tensor(arr(*shape))
    values, indices = pool(x, return_indices=True, **kw)
    unpool = f"max_unpool{dims}d"
    idx_rg = rg.tensor(indices.numpy())
    check(torch, lambda v: getattr(F, unpool)(v, idx_rg, **kw), lambda v: getattr(TF, unpool)(v, indices, **kw),
          values.numpy())
    size = [s + 1 for s in shape[-dims:]]
    out = getattr(F, unpool)(rg.tensor(values.numpy()), idx_rg, output_size=size, **kw)
    np.testing.assert_array_equal(out.numpy(), getattr(TF, unpool)(values, indices, output_size=size, **kw).numpy())


def test_max_unpool_gradcheck_and_errors():
    x = rg.tensor(arr(1, 1, 4, 4))
    v, i = F.max_pool2d(x, 2, return_indices=True)
    v = v.detach().requires_grad_()
    assert gradcheck(lambda t: F.max_unpool2d(t, i, 2), (v,))
    raises_like(torch, lambda: F.max_unpool2d(rg.randn(1, 1, 2, 2), rg.tensor([[[[0, 1], [2, 3]]]]), 2,
                                              output_size=(7, 7)),
                lambda: TF.max_unpool2d(torch.randn(1, 1, 2, 2), torch.tensor([[[[0, 1], [2, 3]]]]), 2,
                                        output_size=(7, 7)))
    with pytest.raises(RuntimeError, match="Found an invalid max index: 9"):
        F.max_unpool2d(rg.randn(1, 1, 2, 2), rg.tensor([[[[0, 1], [2, 9]]]]), 1)


@pytest.mark.parametrize("dims, shape, kw", [
    (2, (2, 3, 9, 8), {"kernel_size": 2, "output_size": 4}),
    (2, (1, 2, 10, 7), {"kernel_size": (3, 2), "output_size": (5, 4)}),
    (2, (3, 8, 8), {"kernel_size": 2, "output_ratio": (0.5, 0.5)}),
    (3, (1, 2, 7, 8, 9), {"kernel_size": 2, "output_size": (3, 4, 5)}),
    (3, (2, 6, 6, 6), {"kernel_size": (2, 3, 2), "output_ratio": (0.5, 0.5, 0.6)}),
])
def test_fractional_max_pool_matches_torch(dims, shape, kw):
    batch = shape[0] if len(shape) == dims + 2 else 1
    channels = shape[-dims - 1]
    samples = RNG.random((batch, channels, dims))
    name = f"fractional_max_pool{dims}d"
    s_rg, s_t = rg.tensor(samples), torch.tensor(samples)
    check(torch, lambda x: getattr(F, name)(x, _random_samples=s_rg, **kw),
          lambda x: getattr(TF, name)(x, _random_samples=s_t, **kw), arr(*shape))
    x = arr(*shape)
    _, i = getattr(F, name)(rg.tensor(x), _random_samples=s_rg, return_indices=True, **kw)
    _, ti = getattr(TF, name)(torch.tensor(x), _random_samples=s_t, return_indices=True, **kw)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    _, i2 = getattr(F, name + "_with_indices")(rg.tensor(x), _random_samples=s_rg, **kw)
    np.testing.assert_array_equal(i2.numpy(), ti.numpy())


def test_fractional_max_pool_float32_windows_and_random():
    x = arr(2, 3, 11, 13).astype(np.float32)
    samples = RNG.random((2, 3, 2)).astype(np.float32)
    out = F.fractional_max_pool2d(rg.tensor(x), 3, output_size=(6, 5), _random_samples=rg.tensor(samples))
    ref = TF.fractional_max_pool2d(torch.tensor(x), 3, output_size=(6, 5), _random_samples=torch.tensor(samples))
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    x = rg.tensor(arr(1, 1, 8, 8), requires_grad=True)
    out = F.fractional_max_pool2d(x, 2, output_size=3)
    assert out.shape == (1, 1, 3, 3)
    assert gradcheck(lambda t: F.fractional_max_pool2d(t, 2, output_size=3,
                                                       _random_samples=rg.tensor([[[0.3, 0.7]]])), (x,))
    with pytest.raises(ValueError, match="requires specifying either an output_size or an output_ratio"):
        F.fractional_max_pool2d(x, 2)


@pytest.mark.parametrize("call", [
    lambda F, t: F.max_pool3d(t.randn(2, 3, 4), 2),
    lambda F, t: F.max_pool3d(t.randn(1, 2, 3, 4, 4), 2, padding=2),
    lambda F, t: F.max_pool3d(t.randn(1, 2, 1, 4, 4), 2),
    lambda F, t: F.avg_pool3d(t.randn(2, 3, 4), 2),
    lambda F, t: F.avg_pool3d(t.randn(1, 2, 3, 4, 4), 2, padding=2),
    lambda F, t: F.avg_pool3d(t.randn(1, 2, 1, 4, 4), 2),
    lambda F, t: F.adaptive_avg_pool3d(t.randn(2, 3, 4), 2),
    lambda F, t: F.adaptive_max_pool3d(t.randn(2, 3, 4), 2),
])
def test_errors_match_torch(call):
    raises_like(torch, lambda: call(F, rg), lambda: call(TF, torch))


@pytest.mark.parametrize("cls, args, kwargs", [
    ("MaxPool3d", (2,), {}), ("MaxPool3d", (3, 2, 1), {"ceil_mode": True}), ("AvgPool3d", (2,), {}),
    ("AvgPool3d", (2, 1, 1, True, False, 3), {}), ("AdaptiveAvgPool3d", (2,), {}),
    ("AdaptiveMaxPool3d", ((2, None, 3),), {}), ("LPPool1d", (2, 3), {}), ("LPPool2d", (2, 3), {}),
    ("LPPool3d", (2, 2), {}),
])
def test_modules_match_torch(cls, args, kwargs):
    m_rg, m_t = getattr(nn, cls)(*args, **kwargs), getattr(torch.nn, cls)(*args, **kwargs)
    assert repr(m_rg) == repr(m_t)
    shape = (2, 3, 8) if cls == "LPPool1d" else (2, 3, 6, 8) if cls == "LPPool2d" else (1, 2, 5, 6, 7)
    x = np.abs(arr(*shape)) + 0.1
    check(torch, m_rg, m_t, x)


def test_unpool_and_fractional_modules():
    for dims in (1, 2, 3):
        m_rg, m_t = getattr(nn, f"MaxUnpool{dims}d")(2), getattr(torch.nn, f"MaxUnpool{dims}d")(2)
        assert repr(m_rg) == repr(m_t)
        x = torch.tensor(arr(1, 2, *([4] * dims)))
        v, i = getattr(TF, f"max_pool{dims}d")(x, 2, return_indices=True)
        np.testing.assert_array_equal(m_rg(rg.tensor(v.numpy()), rg.tensor(i.numpy())).numpy(), m_t(v, i).numpy())
    pool3 = nn.MaxPool3d(2, return_indices=True)
    v, i = pool3(rg.tensor(arr(1, 1, 4, 4, 4)))
    assert nn.MaxUnpool3d(2)(v, i).shape == (1, 1, 4, 4, 4)
    samples = RNG.random((1, 2, 2))
    m_rg = nn.FractionalMaxPool2d(2, output_size=3, _random_samples=rg.tensor(samples))
    m_t = torch.nn.FractionalMaxPool2d(2, output_size=3, _random_samples=torch.tensor(samples))
    assert repr(m_rg) == repr(m_t) and list(m_rg.state_dict()) == list(m_t.state_dict())
    check(torch, m_rg, m_t, arr(1, 2, 7, 7))
    m3 = nn.FractionalMaxPool3d(2, output_ratio=0.5, return_indices=True)
    out, idx = m3(rg.tensor(arr(1, 2, 6, 6, 6)))
    assert out.shape == idx.shape == (1, 2, 3, 3, 3)
    with pytest.raises(ValueError, match="requires specifying either an output size, or a pooling ratio"):
        nn.FractionalMaxPool2d(2)
    with pytest.raises(ValueError, match=r"output_ratio must be between 0 and 1 \(got 1.5\)"):
        nn.FractionalMaxPool2d(2, output_ratio=1.5)


def test_max_unpool_invalid_index_matches_torch():
    x = np.arange(48.0).reshape(1, 1, 6, 8)
    tv, ti = TF.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    raises_like(torch, lambda: F.max_unpool2d(rg.tensor(tv.numpy()), rg.tensor(ti.numpy()), 3, 2, 1),
                lambda: TF.max_unpool2d(tv, ti, 3, 2, 1))


def test_named_entry_points_agree():
    """The explicit names (with_indices forms, per-dimension unpool functions and modules) are the
    same computations as the generic calls above."""
    x = arr(1, 2, 6, 6, 6)
    samples = rg.tensor(RNG.random((1, 2, 3)))
    out, idx = F.fractional_max_pool3d_with_indices(rg.tensor(x), 2, output_size=3, _random_samples=samples)
    np.testing.assert_array_equal(F.fractional_max_pool3d(rg.tensor(x), 2, output_size=3,
                                                          _random_samples=samples).numpy(), out.numpy())
    np.testing.assert_array_equal(nn.MaxUnpool3d(2)(*F.max_pool3d(rg.tensor(x), 2, return_indices=True)).numpy(),
                                  F.max_unpool3d(*F.max_pool3d(rg.tensor(x), 2, return_indices=True), 2).numpy())
    x2 = rg.tensor(arr(1, 2, 6, 6))
    s2 = rg.tensor(RNG.random((1, 2, 2)))
    v2, i2 = F.fractional_max_pool2d_with_indices(x2, 2, output_size=3, _random_samples=s2)
    np.testing.assert_array_equal(F.fractional_max_pool2d(x2, 2, output_size=3, _random_samples=s2).numpy(),
                                  v2.numpy())
    v, i = F.max_pool2d(x2, 2, return_indices=True)
    np.testing.assert_array_equal(nn.MaxUnpool2d(2)(v, i).numpy(), F.max_unpool2d(v, i, 2).numpy())
    x1 = rg.tensor(arr(2, 3, 8))
    v1, i1 = F.max_pool1d_with_indices(x1, 2)
    np.testing.assert_array_equal(nn.MaxUnpool1d(2)(v1, i1).numpy(), F.max_unpool1d(v1, i1, 2).numpy())
    a1, ai1 = F.adaptive_max_pool1d_with_indices(x1, 3)
    ta1, tai1 = TF.adaptive_max_pool1d(torch.tensor(x1.numpy()), 3, return_indices=True)
    np.testing.assert_array_equal(ai1.numpy(), tai1.numpy())
    a2, ai2 = F.adaptive_max_pool2d_with_indices(x2, 4)
    ta2, tai2 = TF.adaptive_max_pool2d(torch.tensor(x2.numpy()), 4, return_indices=True)
    np.testing.assert_array_equal(ai2.numpy(), tai2.numpy())
