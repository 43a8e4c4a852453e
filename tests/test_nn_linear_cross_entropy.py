"""linear_cross_entropy / LinearCrossEntropyLoss (PyTorch's reference path) and DataParallel on a
machine without several GPUs: values, gradients, parameters and errors against PyTorch."""

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


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_matches_torch(reduction, smoothing):
    target = RNG.integers(0, 5, 6)
    target[2] = -100
    t_rg, t_t = rg.tensor(target), torch.tensor(target)
    class_weight = np.abs(arr(5))
    cw_rg, cw_t = rg.tensor(class_weight), torch.tensor(class_weight)
    check(torch, lambda x, w, b: F.linear_cross_entropy(x, w, t_rg, linear_bias=b, weight=cw_rg, reduction=reduction,
                                                        label_smoothing=smoothing),
          lambda x, w, b: TF.linear_cross_entropy(x, w, t_t, linear_bias=b, weight=cw_t, reduction=reduction,
                                                  label_smoothing=smoothing),
          arr(6, 3), arr(5, 3), arr(5))


def test_out_features_and_probabilities():
    target = RNG.integers(0, 4, (5, 2))
    t_rg, t_t = rg.tensor(target), torch.tensor(target)
    check(torch, lambda x, w: F.linear_cross_entropy(x, w, t_rg, ignore_index=1),
          lambda x, w: TF.linear_cross_entropy(x, w, t_t, ignore_index=1), arr(5, 3), arr(4, 2, 3))
    probs = np.abs(arr(5, 4))
    probs /= probs.sum(1, keepdims=True)
    check(torch, lambda x, w, p: F.linear_cross_entropy(x, w, p), lambda x, w, p: TF.linear_cross_entropy(x, w, p),
          arr(5, 3), arr(4, 3), probs)
    x = rg.tensor(arr(4, 3), requires_grad=True)
    w = rg.tensor(arr(5, 3), requires_grad=True)
    assert gradcheck(lambda x, w: F.linear_cross_entropy(x, w, rg.tensor([0, 4, 2, 1])), (x, w))


@pytest.mark.parametrize("call", [
    lambda F, t: F.linear_cross_entropy(t.randn(2, 3, 4), t.randn(5, 4), t.tensor([1])),
    lambda F, t: F.linear_cross_entropy(t.randn(2, 3), t.randn(5), t.tensor([1, 2])),
    lambda F, t: F.linear_cross_entropy(t.randn(2, 3), t.randn(5, 4), t.tensor([1, 2])),
    lambda F, t: F.linear_cross_entropy(t.randn(2, 3), t.randn(5, 3), t.tensor([1, 2]), linear_bias=t.randn(4)),
    lambda F, t: F.linear_cross_entropy(t.randn(3), t.randn(5, 2, 3), t.tensor(1)),
    lambda F, t: F.linear_cross_entropy(t.randn(2, 3), t.randn(5, 3), t.rand(2, 5), ignore_index=0),
])
def test_errors_match_torch(call):
    raises_like(torch, lambda: call(F, rg), lambda: call(TF, torch))


def test_module_matches_torch():
    m_t = torch.nn.LinearCrossEntropyLoss(3, 4, out_features=(2,), bias=True, label_smoothing=0.1).double()
    m_rg = nn.LinearCrossEntropyLoss(3, 4, out_features=(2,), bias=True, label_smoothing=0.1).double()
    assert repr(m_rg) == repr(m_t)
    assert list(m_rg.state_dict()) == list(m_t.state_dict())
    copy_module(m_t, m_rg)
    target = RNG.integers(0, 4, (5, 2))
    check(torch, lambda x: m_rg(x, rg.tensor(target)), lambda x: m_t(x, torch.tensor(target)), arr(5, 3))
    with pytest.raises(RuntimeError, match=r"expected label_smoothing to be in range \[0, 1\], got 2"):
        nn.LinearCrossEntropyLoss(3, 4, label_smoothing=2)
    with pytest.raises(RuntimeError, match=r"expected weight shape to be \(4,\), got \(3,\)"):
        nn.LinearCrossEntropyLoss(3, 4, weight=rg.ones(3))


def test_chunked_options_are_refused():
    opts = nn.LinearCrossEntropyOptions(batch_chunk_size=2)
    assert opts.batch_chunk_size == 2 and opts.chunking_method == "auto"
    with pytest.raises(NotImplementedError, match="options"):
        F.linear_cross_entropy(rg.randn(2, 3), rg.randn(4, 3), rg.tensor([1, 2]), options=opts)


def test_data_parallel_without_gpus_calls_the_module():
    inner = nn.Linear(3, 2)
    dp = nn.DataParallel(inner)
    ref = torch.nn.DataParallel(torch.nn.Linear(3, 2))
    assert repr(dp) == repr(ref)
    assert list(dp.state_dict()) == list(ref.state_dict()) == ["module.weight", "module.bias"]
    x = rg.randn(4, 3)
    if not rg.cuda.is_available():
        assert dp.device_ids == []
        np.testing.assert_array_equal(dp(x).detach().numpy(), inner(x).detach().numpy())
    assert dp.module is inner


def test_functional_helpers():
    F.assert_int_or_pair(3, "kernel_size", "{} must be int or pair")
    F.assert_int_or_pair((1, 2), "kernel_size", "{} must be int or pair")
    with pytest.raises(AssertionError, match="kernel_size must be int or pair"):
        F.assert_int_or_pair((1, 2, 3), "kernel_size", "{} must be int or pair")

    def with_flag(x, flag=False):
        return ("true", x)

    def without_flag(x, flag=False):
        """Doc of the false branch."""
        return ("false", x)

    fn = F.boolean_dispatch("flag", 1, False, with_flag, without_flag, "mymod", "pick")
    assert fn(1) == ("false", 1) and fn(1, True) == ("true", 1) and fn(1, flag=True) == ("true", 1)
    assert fn.__name__ == "pick" and fn.__module__ == "mymod" and fn.__doc__ == "Doc of the false branch."
    ref = TF.boolean_dispatch("flag", 1, False, with_flag, without_flag, "mymod", "pick")
    assert [ref(1), ref(1, True), ref(1, flag=True)] == [fn(1), fn(1, True), fn(1, flag=True)]
