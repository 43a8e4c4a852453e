"""The normalisation layers added for PyTorch parity: rms_norm / RMSNorm, local_response_norm /
LocalResponseNorm, CrossMapLRN2d, BatchNorm3d, InstanceNorm3d, SyncBatchNorm: values, gradients
and running statistics against PyTorch, gradcheck, errors."""

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


@pytest.mark.parametrize("shape, norm_shape, weight, eps", [
    ((3, 4), [4], True, None), ((2, 3, 4), (3, 4), False, 1e-3), ((5, 6), [6], True, 0.1)])
def test_rms_norm_matches_torch(shape, norm_shape, weight, eps):
    arrays = [arr(*shape)] + ([arr(*norm_shape)] if weight else [])
    check(torch, lambda x, *w: F.rms_norm(x, norm_shape, w[0] if w else None, eps),
          lambda x, *w: TF.rms_norm(x, norm_shape, w[0] if w else None, eps), *arrays)


def test_rms_norm_default_eps_is_machine_epsilon():
    x = np.full((2, 3), 1e-4, dtype=np.float32)
    np.testing.assert_allclose(F.rms_norm(rg.tensor(x), [3]).numpy(), TF.rms_norm(torch.tensor(x), [3]).numpy(),
                               rtol=1e-6)


def test_rms_norm_gradcheck_and_errors():
    x = rg.tensor(arr(3, 4), requires_grad=True)
    w = rg.tensor(arr(4), requires_grad=True)
    assert gradcheck(lambda x, w: F.rms_norm(x, [4], w, 1e-5), (x, w))
    raises_like(torch, lambda: F.rms_norm(rg.randn(3, 4), [5]), lambda: TF.rms_norm(torch.randn(3, 4), [5]))


def test_rms_norm_module():
    m_rg, m_t = nn.RMSNorm([2, 3]).double(), torch.nn.RMSNorm([2, 3]).double()
    assert repr(m_rg) == repr(m_t) and list(m_rg.state_dict()) == list(m_t.state_dict())
    np.testing.assert_array_equal(m_rg.weight.detach().numpy(), np.ones((2, 3)))
    with torch.no_grad():
        m_t.weight.copy_(torch.tensor(arr(2, 3)))
    copy_module(m_t, m_rg)
    check(torch, m_rg, m_t, arr(4, 2, 3))
    m_rg, m_t = nn.RMSNorm(4, eps=1e-3, elementwise_affine=False), torch.nn.RMSNorm(4, eps=1e-3,
                                                                                      elementwise_affine=False)
    assert repr(m_rg) == repr(m_t) and m_rg.weight is None
    check(torch, m_rg.double(), m_t.double(), arr(3, 4))


@pytest.mark.parametrize("shape, size", [((2, 6, 5), 3), ((2, 5, 4, 3), 2), ((1, 7, 3, 2, 2), 4), ((2, 3, 4), 5)])
def test_local_response_norm_matches_torch(shape, size):
    check(torch, lambda x: F.local_response_norm(x, size, 0.5, 0.75, 2.0),
          lambda x: TF.local_response_norm(x, size, 0.5, 0.75, 2.0), arr(*shape))
    m_rg, m_t = nn.LocalResponseNorm(size), torch.nn.LocalResponseNorm(size)
    assert repr(m_rg) == repr(m_t)
    check(torch, m_rg, m_t, arr(*shape))


def test_local_response_norm_gradcheck_and_errors():
    x = rg.tensor(arr(1, 4, 3), requires_grad=True)
    assert gradcheck(lambda t: F.local_response_norm(t, 3, 0.3, 0.75, 1.0), (x,))
    raises_like(torch, lambda: F.local_response_norm(rg.randn(3, 4), 2),
                lambda: TF.local_response_norm(torch.randn(3, 4), 2))


@pytest.mark.parametrize("channels, size", [(7, 3), (6, 5), (3, 3), (2, 5), (8, 4)])
def test_cross_map_lrn2d_matches_torch(channels, size):
    m_rg, m_t = nn.CrossMapLRN2d(size, 0.3, 0.75, 2), torch.nn.CrossMapLRN2d(size, 0.3, 0.75, 2)
    assert repr(m_rg) == repr(m_t)
    # PyTorch's backward is its own formula (not the forward's exact derivative): matched as it is.
    check(torch, m_rg, m_t, arr(2, channels, 3, 2), rtol=1e-9)
    raises_like(torch, lambda: m_rg(rg.randn(2, 3, 4)), lambda: m_t(torch.randn(2, 3, 4)))


@pytest.mark.parametrize("cls, shape", [("BatchNorm3d", (3, 4, 2, 3, 2)), ("SyncBatchNorm", (3, 4, 5)),
                                        ("SyncBatchNorm", (4, 4, 2, 2)), ("InstanceNorm3d", (2, 4, 3, 2, 3)),
                                        ("InstanceNorm3d", (4, 3, 2, 3))])
@pytest.mark.parametrize("affine, track", [(True, True), (False, False)])
def test_norm_layers_match_torch(cls, shape, affine, track):
    m_rg = getattr(nn, cls)(4, affine=affine, track_running_stats=track).double()
    m_t = getattr(torch.nn, cls)(4, affine=affine, track_running_stats=track).double()
    assert repr(m_rg) == repr(m_t)
    assert list(m_rg.state_dict()) == list(m_t.state_dict())
    if affine:
        with torch.no_grad():
            m_t.weight.copy_(torch.tensor(arr(4)))
            m_t.bias.copy_(torch.tensor(arr(4)))
        copy_module(m_t, m_rg)
    for _ in range(2):
        check(torch, m_rg, m_t, arr(*shape))
    for k, v in m_t.state_dict().items():
        np.testing.assert_allclose(m_rg.state_dict()[k].numpy(), v.numpy(), rtol=1e-10)
    m_rg.eval()
    m_t.eval()
    check(torch, m_rg, m_t, arr(*shape))


@pytest.mark.parametrize("cls, shape", [("BatchNorm3d", (2, 4, 3, 3)), ("InstanceNorm3d", (2, 4, 3)),
                                        ("SyncBatchNorm", (4,))])
def test_norm_layer_errors_match_torch(cls, shape):
    raises_like(torch, lambda: getattr(nn, cls)(4)(rg.randn(*shape)),
                lambda: getattr(torch.nn, cls)(4)(torch.randn(*shape)))


def test_convert_sync_batchnorm():
    net = nn.Sequential(nn.Conv2d(2, 4, 1), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm1d(3)))
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    assert isinstance(converted[1], nn.SyncBatchNorm) and isinstance(converted[2][0], nn.SyncBatchNorm)
    assert converted[1].weight is net[1].weight and converted[1].running_mean is net[1].running_mean
    ref = torch.nn.SyncBatchNorm.convert_sync_batchnorm(torch.nn.Sequential(torch.nn.Conv2d(2, 4, 1),
                                                                           torch.nn.BatchNorm2d(4)))
    assert repr(converted[1]) == repr(ref[1])
    with pytest.raises(NotImplementedError, match="process_group"):
        nn.SyncBatchNorm(4, process_group=object())
