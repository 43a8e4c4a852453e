"""nn.init (dirac_, orthogonal_, sparse_), ReduceLROnPlateau, adaptive max pooling, unfold/fold:
values against NumPy/PyTorch, gradients against finite differences, errors and reprs."""

import math
import re

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck


@pytest.fixture(autouse=True)
def seed():
    rg.manual_seed(0)


def n(t):
    return t.detach().numpy()


# ----- nn.init ------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,gain", [((3, 5), 2.0), ((5, 3), 1.0), ((6, 2, 3), 0.5), ((4, 4), 1.0)])
def test_orthogonal(shape, gain):
    w = rg.empty(*shape, dtype=rg.float64)
    assert nn.init.orthogonal_(w, gain=gain) is w
    a = n(w).reshape(shape[0], -1)
    if a.shape[0] <= a.shape[1]:
        np.testing.assert_allclose(a @ a.T, gain ** 2 * np.eye(a.shape[0]), atol=1e-12)
    else:
        np.testing.assert_allclose(a.T @ a, gain ** 2 * np.eye(a.shape[1]), atol=1e-12)
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions are supported"):
        nn.init.orthogonal_(rg.empty(3))


def test_orthogonal_is_seeded():
    rg.manual_seed(5)
    a = nn.init.orthogonal_(rg.empty(4, 4))
    rg.manual_seed(5)
    b = nn.init.orthogonal_(rg.empty(4, 4))
    assert rg.equal(a, b)


def test_sparse():
    w = rg.empty(10, 6)
    nn.init.sparse_(w, 0.25, std=0.5)
    assert (w == 0).sum(0).tolist() == [3] * 6
    assert 0.2 < float(w[w != 0].std()) < 1.0
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        nn.init.sparse_(rg.empty(2, 3, 4), 0.1)


@pytest.mark.parametrize("shape,groups", [((4, 2, 3), 1), ((4, 2, 3, 3), 2), ((2, 3, 3, 4, 5), 1), ((6, 2, 3, 3), 3)])
def test_dirac(shape, groups):
    torch = pytest.importorskip("torch")
    w = nn.init.dirac_(rg.empty(*shape), groups)
    tw = torch.nn.init.dirac_(torch.empty(*shape), groups)
    np.testing.assert_array_equal(n(w), tw.numpy())
    # A dirac-initialised convolution (padding keeps the size) is the identity on the kept channels.
    if len(shape) == 4 and groups == 1:
        x = rg.randn(1, 2, 5, 5)
        np.testing.assert_allclose(n(F.conv2d(x, w, padding=1))[:, :2], n(x), atol=1e-6)


def test_dirac_errors():
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions are supported"):
        nn.init.dirac_(rg.empty(3, 3))
    with pytest.raises(ValueError, match="dim 0 must be divisible by groups"):
        nn.init.dirac_(rg.empty(3, 2, 3), 2)


@pytest.mark.parametrize("nl,param", [("linear", None), ("conv_transpose2d", None), ("sigmoid", None),
                                      ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                                      ("selu", None)])
def test_calculate_gain(nl, param):
    torch = pytest.importorskip("torch")
    assert nn.init.calculate_gain(nl, param) == torch.nn.init.calculate_gain(nl, param)


# ----- ReduceLROnPlateau --------------------------------------------------------------------------

METRICS = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.91]


@pytest.mark.parametrize("kwargs", [
    {},
    {"patience": 1},
    {"patience": 2, "cooldown": 2, "factor": 0.5},
    {"mode": "max", "patience": 1, "threshold": 0.01},
    {"threshold_mode": "abs", "threshold": 0.02, "patience": 0, "min_lr": 0.02},
    {"mode": "max", "threshold_mode": "abs", "patience": 1, "min_lr": [0.05, 0.001]},
    {"patience": 0, "eps": 0.5},
])
def test_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")

    def make(lib):
        a, b = lib.zeros(2, requires_grad=True), lib.zeros(3, requires_grad=True)
        opt = lib.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
        return opt, lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)

    opt, sched = make(rg)
    topt, tsched = make(torch)
    for m in METRICS:
        opt.step()
        topt.step()
        sched.step(m)
        tsched.step(m)
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
        assert [g["lr"] for g in opt.param_groups] == pytest.approx([g["lr"] for g in topt.param_groups])
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.last_epoch, sched.best) == (
            tsched.num_bad_epochs, tsched.cooldown_counter, tsched.last_epoch, tsched.best)


def test_plateau_state_dict_and_tensor_metric():
    p = rg.zeros(2, requires_grad=True)
    opt = rg.optim.SGD([p], lr=1.0)
    s = rg.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    s.step(rg.tensor(1.0))
    s.step(rg.tensor(2.0))
    assert s.get_last_lr() == [0.5]
    state = s.state_dict()
    assert "optimizer" not in state and state["best"] == 1.0 and state["mode"] == "min"
    s2 = rg.optim.lr_scheduler.ReduceLROnPlateau(rg.optim.SGD([p], lr=0.5), mode="max")
    s2.load_state_dict(state)
    assert s2.mode == "min" and s2.best == 1.0 and s2._is_better(0.5, 1.0)
    assert isinstance(s, rg.optim.lr_scheduler.LRScheduler)


@pytest.mark.parametrize("kwargs,exc,msg", [
    ({"factor": 1.0}, ValueError, "Factor should be < 1.0."),
    ({"mode": "foo"}, ValueError, "mode foo is unknown!"),
    ({"threshold_mode": "foo"}, ValueError, "threshold mode foo is unknown!"),
    ({"min_lr": [0.1, 0.2]}, ValueError, "expected 1 min_lrs, got 2"),
])
def test_plateau_errors(kwargs, exc, msg):
    opt = rg.optim.SGD([rg.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(exc, match=re.escape(msg)):
        rg.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        rg.optim.lr_scheduler.ReduceLROnPlateau([])


# ----- adaptive max pooling -----------------------------------------------------------------------

@pytest.mark.parametrize("size", [(3, 4), (7, 9), 1, (5, 2), (None, 4), (4, None), 6])
def test_adaptive_max_pool2d_values_indices_grad(size):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 9))
    rx, tx = rg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, idx = F.adaptive_max_pool2d(rx, size, return_indices=True)
    tout, tidx = torch.nn.functional.adaptive_max_pool2d(tx, size, return_indices=True)
    np.testing.assert_array_equal(n(out), tout.detach().numpy())
    np.testing.assert_array_equal(n(idx), tidx.numpy())
    g = np.random.default_rng(2).standard_normal(tuple(out.shape))
    out.backward(rg.tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(n(rx.grad), tx.grad.numpy())


def test_adaptive_max_pool_against_numpy_and_gradcheck():
    x = rg.randn(1, 2, 5, 7, dtype=rg.float64)
    out = F.adaptive_max_pool2d(x, (3, 4))
    expected = np.empty((1, 2, 3, 4))
    for i in range(3):
        for j in range(4):
            h0, h1 = (i * 5) // 3, -(-((i + 1) * 5) // 3)
            w0, w1 = (j * 7) // 4, -(-((j + 1) * 7) // 4)
            expected[..., i, j] = n(x)[..., h0:h1, w0:w1].max((-1, -2))
    np.testing.assert_array_equal(n(out), expected)
    assert gradcheck(lambda t: F.adaptive_max_pool2d(t, (3, 4)), (x.requires_grad_(),))
    y = rg.randn(2, 3, 10, dtype=rg.float64, requires_grad=True)
    o1, i1 = F.adaptive_max_pool1d(y, 4, return_indices=True)
    assert o1.shape == (2, 3, 4)
    np.testing.assert_array_equal(np.take_along_axis(n(y), n(i1), -1), n(o1))
    assert gradcheck(lambda t: F.adaptive_max_pool1d(t, 3), (y,))


def test_adaptive_max_pool_modules():
    torch = pytest.importorskip("torch")
    for ours, theirs in [(nn.AdaptiveMaxPool2d(3), torch.nn.AdaptiveMaxPool2d(3)),
                         (nn.AdaptiveMaxPool2d((3, None), return_indices=True),
                          torch.nn.AdaptiveMaxPool2d((3, None), return_indices=True)),
                         (nn.AdaptiveMaxPool1d(3), torch.nn.AdaptiveMaxPool1d(3))]:
        assert repr(ours) == repr(theirs)
    x = np.random.default_rng(0).standard_normal((3, 6, 5))
    out, idx = nn.AdaptiveMaxPool2d((4, None), return_indices=True)(rg.tensor(x))
    tout, tidx = torch.nn.AdaptiveMaxPool2d((4, None), return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(n(out), tout.numpy())
    np.testing.assert_array_equal(n(idx), tidx.numpy())
    np.testing.assert_array_equal(n(nn.AdaptiveMaxPool1d(2)(rg.tensor(x))),
                                  torch.nn.AdaptiveMaxPool1d(2)(torch.tensor(x)).numpy())


@pytest.mark.parametrize("fn,exc,msg", [
    (lambda: F.adaptive_max_pool2d(rg.zeros(2, 3), 2), RuntimeError,
     "adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: [2, 3]"),
    (lambda: F.adaptive_max_pool2d(rg.zeros(2, 3, 4), (2, 2, 2)), ValueError, "Input dimension should be at least 4"),
    (lambda: F.adaptive_max_pool2d(rg.zeros(2, 0, 4), 2), RuntimeError,
     "adaptive_max_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has sizes "
     "[2, 0, 4] with dimension 1 being empty"),
    (lambda: F.adaptive_max_pool2d(rg.zeros(2, 3, 4, dtype=rg.int64), 2), NotImplementedError,
     "\"adaptive_max_pool2d\" not implemented for 'Long'"),
    (lambda: F.adaptive_max_pool1d(rg.zeros(2), 2), RuntimeError,
     "Expected 2 to 3 dimensions, but got 1-dimensional tensor for argument #1 'self' (while checking arguments for "
     "adaptive_max_pool1d)"),
    (lambda: F.adaptive_max_pool1d(rg.zeros(2, 3), (2, 2)), RuntimeError,
     "adaptive_max_pool1d() argument 'output_size' should contain one int (got 2)"),
])
def test_adaptive_max_pool_errors(fn, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        fn()


# ----- unfold / fold ------------------------------------------------------------------------------

UNFOLD_ARGS = [
    {"kernel_size": 2},
    {"kernel_size": (2, 3), "dilation": (2, 1), "padding": 1, "stride": (2, 1)},
    {"kernel_size": 3, "padding": (0, 2), "stride": 2},
    {"kernel_size": 1},
]


@pytest.mark.parametrize("args", UNFOLD_ARGS)
def test_unfold_fold_against_numpy(args):
    x = rg.randn(2, 3, 6, 7, dtype=rg.float64)
    out = F.unfold(x, **args)
    kh, kw = F._pair(args["kernel_size"])
    dh, dw = F._pair(args.get("dilation", 1))
    ph, pw = F._pair(args.get("padding", 0))
    sh, sw = F._pair(args.get("stride", 1))
    xp = np.pad(n(x), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (6 + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (7 + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    cols = np.empty((2, 3, kh, kw, oh, ow))
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
    np.testing.assert_array_equal(n(out), cols.reshape(2, 3 * kh * kw, oh * ow))
    # fold is unfold's adjoint: <unfold(x), y> == <x, fold(y)>.
    y = rg.randn(*out.shape, dtype=rg.float64)
    folded = F.fold(y, (6, 7), **args)
    assert folded.shape == (2, 3, 6, 7)
    assert float((out * y).sum()) == pytest.approx(float((x * folded).sum()), rel=1e-12)
    assert gradcheck(lambda t: F.unfold(t, **args), (rg.randn(1, 2, 6, 7, dtype=rg.float64).requires_grad_(),))
    assert gradcheck(lambda t: F.fold(t, (6, 7), **args), (y[:1, :].clone().requires_grad_(),))


@pytest.mark.parametrize("args", UNFOLD_ARGS)
def test_unfold_fold_torch_parity(args):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7))
    ours = nn.Unfold(**args)(rg.tensor(x))
    theirs = torch.nn.Unfold(**args)(torch.tensor(x))
    np.testing.assert_array_equal(n(ours), theirs.numpy())
    back = nn.Fold((6, 7), **args)(ours)
    tback = torch.nn.Fold((6, 7), **args)(theirs)
    np.testing.assert_allclose(n(back), tback.numpy(), rtol=1e-12)
    # Unbatched input.
    np.testing.assert_array_equal(n(F.unfold(rg.tensor(x[0]), **args)),
                                  torch.nn.functional.unfold(torch.tensor(x[0]), **args).numpy())
    assert repr(nn.Unfold(**args)) == repr(torch.nn.Unfold(**args))
    assert repr(nn.Fold((6, 7), **args)) == repr(torch.nn.Fold((6, 7), **args))


@pytest.mark.parametrize("fn,msg", [
    (lambda: F.unfold(rg.zeros(1, 2, 3, 3), 4),
     "Given input with spatial size (3, 3), kernel_size=(4, 4), dilation=(1, 1), padding=(0, 0), calculated shape of "
     "the array of sliding blocks as (0, 0), but its components must be at least one."),
    (lambda: F.unfold(rg.zeros(1, 2, 3, 3), 0),
     "kernel size should be greater than zero, but got kernel_height: 0 kernel_width: 0"),
    (lambda: F.unfold(rg.zeros(1, 2, 3, 3), 2, stride=0),
     "stride should be greater than zero, but got stride_height: 0 stride_width: 0"),
    (lambda: F.unfold(rg.zeros(1, 2, 3, 3), 2, padding=-1),
     "padding should be non-negative, but got pad_height: -1 pad_width: -1"),
    (lambda: F.unfold(rg.zeros(1, 2, 3, 3), 2, dilation=0),
     "dilation should be greater than zero, but got dilation_height: 0 dilation_width: 0"),
    (lambda: F.fold(rg.zeros(1, 7, 4), (3, 3), 2),
     "Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got input.size(1)=7 "
     "and kernel_size=(2, 2)."),
    (lambda: F.fold(rg.zeros(1, 8, 5), (3, 3), 2),
     "Given output_size=(3, 3), kernel_size=(2, 2), dilation=(1, 1), padding=(0, 0), stride=(1, 1), expected size "
     "of input's dimension 2 to match the calculated number of sliding blocks 2 * 2 = 4, but got input.size(2)=5."),
    (lambda: F.fold(rg.zeros(1, 2, 8, 5), (3, 3), 2),
     "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions for input, "
     "but got: [1, 2, 8, 5]"),
])
def test_unfold_fold_errors(fn, msg):
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        fn()
