"""The neural-network ops of rustgrad._C: forward and backward against PyTorch's float64 reference
results (tests/data), gradcheck in float64 (first and second order), and PyTorch's error messages.

The ops are called through ``rustgrad._C`` directly (the ``nn.functional`` layer is tested
elsewhere), with arguments normalised as that layer passes them.
"""

import json
import math
import pathlib

import numpy as np
import pytest

import rustgrad
from rustgrad import _C
from rustgrad.nn import functional as F
from rustgrad.autograd import gradcheck, gradgradcheck

DATA = pathlib.Path(__file__).parent / "data"
CASES = json.loads((DATA / "cases.json").read_text())["cases"]
REF = np.load(DATA / "torch_reference.npz")


def ref(case, name):
    return REF[f"{case}/{name}"]


def cases_of(*ops):
    return sorted(k for k, v in CASES.items() if v["op"] in ops)


def T(a, requires_grad=False, dtype=None):
    a = np.array(a, copy=True, order="C")
    if a.ndim == 0:
        # rustgrad.tensor(0-d array) gives shape [1] in the core (reported); from_numpy keeps [].
        t = rustgrad.from_numpy(a).clone()
        t = t if dtype is None else t.to(dtype)
    else:
        t = rustgrad.tensor(a, dtype=dtype)
    if requires_grad:
        t.requires_grad_(True)
    return t


def close(actual, expected, rtol=1e-9, atol=1e-11):
    a = actual.detach().numpy() if isinstance(actual, _C.Tensor) else np.asarray(actual)
    np.testing.assert_allclose(a, expected, rtol=rtol, atol=atol)


def pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def rand(*shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def leaf(*shape, seed=0, scale=1.0):
    return T(rand(*shape, seed=seed, scale=scale), requires_grad=True)


# ----- reference cases ---------------------------------------------------------------------------

def test_reference_covers_the_ops():
    ops = {v["op"] for v in CASES.values()}
    for op in ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "interpolate", "cross_entropy",
               "nll_loss", "batch_norm", "mse_loss", "binary_cross_entropy_with_logits", "gelu", "leaky_relu"]:
        assert op in ops
    assert len(cases_of("conv2d")) == 18


def conv_args(kw):
    padding = kw.get("padding", 0)
    padding = padding if isinstance(padding, str) else pair(padding)
    return pair(kw.get("stride", 1)), padding, pair(kw.get("dilation", 1)), kw.get("groups", 1)


@pytest.mark.parametrize("case", cases_of("conv2d"))
def test_conv2d_reference(case):
    spec = CASES[case]
    x, w = T(ref(case, "x"), True), T(ref(case, "w"), True)
    b = T(ref(case, "b"), True) if "b" in spec["inputs"] else None
    stride, padding, dilation, groups = conv_args(spec["kwargs"])
    y = _C.conv2d(x, w, b, stride, padding, dilation, groups)
    close(y, ref(case, "y"))
    assert y.grad_fn.name() == "ConvolutionBackward0"
    y.backward(T(ref(case, "grad_out")))
    close(x.grad, ref(case, "dx"))
    close(w.grad, ref(case, "dw"))
    if b is not None:
        close(b.grad, ref(case, "db"))


@pytest.mark.parametrize("case", cases_of("conv2d"))
def test_conv2d_reference_float32(case):
    """float32 stays within 1e-5 (relative to the output's scale) of the float64 reference."""
    spec = CASES[case]
    f32 = rustgrad.float32
    x, w = T(ref(case, "x"), True, f32), T(ref(case, "w"), True, f32)
    b = T(ref(case, "b"), True, f32) if "b" in spec["inputs"] else None
    y = _C.conv2d(x, w, b, *conv_args(spec["kwargs"]))
    y.backward(T(ref(case, "grad_out"), dtype=f32))
    for got, name in [(y, "y"), (x.grad, "dx"), (w.grad, "dw")]:
        want = ref(case, name)
        scale = np.abs(want).max()
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("cfg", [
    # (x shape, w shape, stride, padding, dilation, groups): float32 shapes that take the direct
    # (AVX-512) kernels where the CPU has them; float64 always takes im2col + gemm.
    ((3, 32, 14, 14), (64, 32, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((2, 16, 9, 11), (24, 8, 3, 3), (1, 1), (1, 1), (1, 1), 2),
    ((2, 12, 10, 9), (20, 12, 3, 2), (2, 1), (1, 0), (1, 1), 1),
    ((2, 9, 11, 10), (16, 9, 3, 3), (1, 1), (2, 2), (2, 2), 1),
    ((2, 8, 8, 8), (8, 8, 4, 4), (1, 1), "same", (1, 1), 1),
    ((2, 1, 28, 28), (32, 1, 3, 3), (1, 1), (1, 1), (1, 1), 1),
])
def test_conv2d_float32_matches_float64(cfg):
    xs, ws, stride, padding, dilation, groups = cfg
    x64, w64, b64 = rand(*xs), rand(*ws, seed=1), rand(ws[0], seed=2)
    out64 = None
    results = {}
    for dtype in (rustgrad.float64, rustgrad.float32):
        x, w, b = T(x64, True, dtype), T(w64, True, dtype), T(b64, True, dtype)
        y = _C.conv2d(x, w, b, stride, padding, dilation, groups)
        if out64 is None:
            out64 = rand(*y.shape, seed=3)
        y.backward(T(out64, dtype=dtype))
        results[dtype] = [t.detach().numpy().astype(np.float64) for t in (y, x.grad, w.grad, b.grad)]
    for got, want in zip(results[rustgrad.float32], results[rustgrad.float64]):
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * np.abs(want).max())


def test_conv2d_unbatched_matches_batched():
    x, w, b = rand(3, 7, 6), rand(4, 3, 3, 3, seed=1), rand(4, seed=2)
    y3 = _C.conv2d(T(x), T(w), T(b), (1, 2), (1, 0), (1, 1), 1)
    y4 = _C.conv2d(T(x[None]), T(w), T(b), (1, 2), (1, 0), (1, 1), 1)
    assert y3.shape == (4, 7, 2)
    close(y3, y4.numpy()[0])


def pool_args(kw, with_dilation=True):
    k = pair(kw["kernel_size"])
    stride = pair(kw["stride"]) if kw.get("stride") is not None else k
    out = [k, stride, pair(kw.get("padding", 0))]
    if with_dilation:
        out.append(pair(kw.get("dilation", 1)))
    return out


@pytest.mark.parametrize("case", cases_of("max_pool2d"))
def test_max_pool2d_reference(case):
    kw = CASES[case]["kwargs"]
    x = T(ref(case, "x"), True)
    y, idx = _C.max_pool2d(x, *pool_args(kw), kw.get("ceil_mode", False), True)
    close(y, ref(case, "y"))
    assert idx.dtype == rustgrad.int64
    np.testing.assert_array_equal(idx.numpy(), ref(case, "indices"))
    y.backward(T(ref(case, "grad_out")))
    close(x.grad, ref(case, "dx"))
    # Without return_indices: the values alone.
    y2 = _C.max_pool2d(x, *pool_args(kw), kw.get("ceil_mode", False), False)
    assert isinstance(y2, _C.Tensor)
    close(y2, ref(case, "y"))


@pytest.mark.parametrize("case", cases_of("avg_pool2d"))
def test_avg_pool2d_reference(case):
    kw = CASES[case]["kwargs"]
    x = T(ref(case, "x"), True)
    y = _C.avg_pool2d(x, *pool_args(kw, False), kw.get("ceil_mode", False), kw.get("count_include_pad", True),
                      kw.get("divisor_override"))
    close(y, ref(case, "y"))
    y.backward(T(ref(case, "grad_out")))
    close(x.grad, ref(case, "dx"))


@pytest.mark.parametrize("case", cases_of("adaptive_avg_pool2d"))
def test_adaptive_avg_pool2d_reference(case):
    x = T(ref(case, "x"), True)
    y = _C.adaptive_avg_pool2d(x, tuple(CASES[case]["kwargs"]["output_size"]))
    close(y, ref(case, "y"))
    y.backward(T(ref(case, "grad_out")))
    close(x.grad, ref(case, "dx"))


@pytest.mark.parametrize("case", cases_of("interpolate"))
def test_interpolate_reference(case):
    kw = CASES[case]["kwargs"]
    x = T(ref(case, "x"), True)
    if "size" in kw:
        size, scale = tuple(kw["size"]), None
    else:
        sf = float(kw["scale_factor"])
        size = tuple(int(math.floor(d * sf)) for d in x.shape[2:])
        scale = (sf, sf)
    y = _C.interpolate(x, size, kw["mode"], kw.get("align_corners"), scale)
    close(y, ref(case, "y"))
    y.backward(T(ref(case, "grad_out")))
    close(x.grad, ref(case, "dx"))


@pytest.mark.parametrize("case", cases_of("batch_norm"))
def test_batch_norm_reference(case):
    kw = CASES[case]["kwargs"]
    x, w, b = T(ref(case, "x"), True), T(ref(case, "weight"), True), T(ref(case, "bias"), True)
    rm, rv = T(ref(case, "running_mean")), T(ref(case, "running_var"))
    y = _C.batch_norm(x, rm, rv, w, b, kw["training"], kw["momentum"], kw["eps"])
    close(y, ref(case, "y"))
    close(rm, ref(case, "running_mean_after"))
    close(rv, ref(case, "running_var_after"))
    y.backward(T(ref(case, "grad_out")))
    close(x.grad, ref(case, "dx"), atol=1e-10)
    close(w.grad, ref(case, "dweight"))
    close(b.grad, ref(case, "dbias"))


@pytest.mark.parametrize("case", cases_of("cross_entropy"))
def test_cross_entropy_reference(case):
    spec, kw = CASES[case], CASES[case]["kwargs"]
    x = T(ref(case, "x"), True)
    target = T(ref(case, "target"))
    weight = T(ref(case, "weight")) if "weight" in spec["inputs"] else None
    loss = _C.cross_entropy(x, target, weight, kw.get("ignore_index", -100), kw.get("reduction", "mean"),
                            kw.get("label_smoothing", 0.0))
    close(loss, ref(case, "loss"))
    assert loss.shape == ref(case, "loss").shape
    loss.sum().backward()
    close(x.grad, ref(case, "dx"))


@pytest.mark.parametrize("case", cases_of("nll_loss"))
def test_nll_loss_reference(case):
    spec, kw = CASES[case], CASES[case]["kwargs"]
    # log_softmax(log_probs) == log_probs, with the same Jacobian as at the original scores.
    x = T(ref(case, "log_probs"), True)
    weight = T(ref(case, "weight")) if "weight" in spec["inputs"] else None
    loss = _C.nll_loss(x.log_softmax(1), T(ref(case, "target")), weight, kw.get("ignore_index", -100),
                       kw.get("reduction", "mean"))
    close(loss, ref(case, "loss"))
    loss.sum().backward()
    close(x.grad, ref(case, "dx_through_log_softmax"))


def test_mse_loss_reference():
    case = "mse_loss_0"
    x = T(ref(case, "x"), True)
    loss = _C.mse_loss(x, T(ref(case, "target")), "mean")
    close(loss, ref(case, "loss"))
    loss.sum().backward()
    close(x.grad, ref(case, "dx"))


def test_bce_with_logits_reference():
    case = "bce_with_logits_0"
    x = T(ref(case, "x"), True)
    loss = _C.binary_cross_entropy_with_logits(x, T(ref(case, "target")), None, T(ref(case, "pos_weight")), "mean")
    close(loss, ref(case, "loss"))
    loss.sum().backward()
    close(x.grad, ref(case, "dx"))


ACTIVATIONS = {
    "gelu": lambda x, kw: _C.gelu(x, kw.get("approximate", "none")),
    "leaky_relu": lambda x, kw: _C.leaky_relu(x, kw["negative_slope"]),
    "softmax": lambda x, kw: x.softmax(kw["dim"]),
    "log_softmax": lambda x, kw: x.log_softmax(kw["dim"]),
}


@pytest.mark.parametrize("case", cases_of(*ACTIVATIONS))
def test_activation_reference(case):
    spec = CASES[case]
    x = T(ref(case, "x"), True)
    y = ACTIVATIONS[spec["op"]](x, spec["kwargs"])
    close(y, ref(case, "y"))
    y.backward(T(ref(case, "grad_out")))
    close(x.grad, ref(case, "dx"))


def test_other_activations_forward():
    a = np.linspace(-3, 3, 13)
    x = T(a)
    close(_C.elu(x, 0.7), np.where(a > 0, a, 0.7 * np.expm1(a)))
    close(_C.silu(x), a / (1 + np.exp(-a)))
    close(_C.softplus(x, 2.0, 4.0), np.where(2 * a > 4, a, np.log1p(np.exp(2 * a)) / 2))
    close(_C.hardtanh(x, -1.5, 2.0), np.clip(a, -1.5, 2.0))
    for fn in [lambda t: _C.elu(t, 0.7), _C.silu, lambda t: _C.softplus(t, 2.0, 4.0),
               lambda t: _C.gelu(t, "tanh"), lambda t: _C.leaky_relu(t, 0.2)]:
        assert gradcheck(fn, (T(a + 0.05, True),))


# ----- gradcheck (float64) ---------------------------------------------------------------------------

CONV_CONFIGS = [
    # (x shape, w shape, stride, padding, dilation, groups)
    ((2, 2, 5, 5), (3, 2, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((1, 2, 6, 5), (2, 2, 3, 2), (2, 1), (1, 0), (1, 1), 1),
    ((1, 2, 7, 7), (2, 2, 3, 3), (1, 1), (2, 2), (2, 2), 1),
    ((2, 4, 4, 4), (4, 2, 3, 3), (1, 2), (1, 1), (1, 1), 2),
    ((1, 2, 4, 5), (2, 1, 1, 1), (1, 1), (0, 0), (1, 1), 2),
    ((1, 2, 5, 5), (2, 2, 4, 3), (1, 1), "same", (1, 1), 1),
    ((1, 1, 5, 6), (2, 1, 2, 2), (3, 2), "valid", (1, 1), 1),
]


@pytest.mark.parametrize("cfg", CONV_CONFIGS, ids=[str(i) for i in range(len(CONV_CONFIGS))])
def test_conv2d_gradcheck(cfg):
    xs, ws, stride, padding, dilation, groups = cfg
    x, w, b = leaf(*xs), leaf(*ws, seed=1), leaf(ws[0], seed=2)
    assert gradcheck(lambda x, w, b: _C.conv2d(x, w, b, stride, padding, dilation, groups), (x, w, b))


@pytest.mark.parametrize("cfg", [CONV_CONFIGS[0], CONV_CONFIGS[1], CONV_CONFIGS[3], CONV_CONFIGS[5]])
def test_conv2d_gradgradcheck(cfg):
    xs, ws, stride, padding, dilation, groups = cfg
    xs = (1,) + xs[1:]
    x, w, b = leaf(*xs), leaf(*ws, seed=1), leaf(ws[0], seed=2)
    assert gradgradcheck(lambda x, w, b: _C.conv2d(x, w, b, stride, padding, dilation, groups), (x, w, b))


def test_conv2d_double_backward_matches_finite_differences_of_the_gradient():
    # d/dx of sum(dL/dw) where L = sum(conv(x, w)^2): goes through both backward ops.
    x, w = leaf(1, 2, 4, 4), leaf(2, 2, 3, 3, seed=1)

    def gw_sum(x):
        y = _C.conv2d(x, w, None, (1, 1), (1, 1), (1, 1), 1)
        (gw,) = rustgrad.autograd.grad((y * y).sum(), w, create_graph=True)
        return gw.sum()

    (analytic,) = rustgrad.autograd.grad(gw_sum(x), x)
    eps, base = 1e-6, x.detach().numpy().copy()
    numeric = np.zeros_like(base)
    for i in np.ndindex(base.shape):
        p, m = base.copy(), base.copy()
        p[i] += eps
        m[i] -= eps
        numeric[i] = (gw_sum(T(p)).item() - gw_sum(T(m)).item()) / (2 * eps)
    np.testing.assert_allclose(analytic.numpy(), numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("args", [
    ((2, 2), (2, 2), (0, 0), (1, 1), False),
    ((3, 3), (2, 2), (1, 1), (1, 1), True),
    ((2, 3), (1, 2), (1, 1), (2, 1), False),
])
def test_max_pool2d_gradcheck(args):
    x = leaf(2, 2, 5, 6)  # distinct values: no ties
    assert gradcheck(lambda x: _C.max_pool2d(x, *args, False), (x,))
    assert gradgradcheck(lambda x: _C.max_pool2d(x, *args, False), (x,))


@pytest.mark.parametrize("shape", [(2, 3, 28, 28), (1, 1, 2, 2), (3, 2, 9, 33), (1, 2, 7, 7), (1, 1, 4, 70)])
def test_max_pool2d_2x2_float32_matches_float64(shape):
    # float32 2x2 pooling has a vectorised path (tails of every width, NaNs, ties); float64 runs
    # the scalar loop. Both must pick the same values and the same (first-on-tie) indices.
    rng = np.random.default_rng(1)
    x = np.round(rng.standard_normal(shape), 1)
    x.flat[rng.integers(0, x.size, 4)] = np.nan
    x[..., 1::3] = np.round(x[..., 1::3])
    a, ai = F.max_pool2d(rustgrad.tensor(x, dtype=rustgrad.float32), 2, return_indices=True)
    b, bi = F.max_pool2d(rustgrad.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(a.numpy(), b.numpy().astype(np.float32))
    np.testing.assert_array_equal(ai.numpy(), bi.numpy())


@pytest.mark.parametrize("args", [
    ((2, 2), (2, 2), (0, 0), False, True, None),
    ((3, 3), (2, 2), (1, 1), True, False, None),
    ((3, 2), (2, 1), (1, 1), False, True, 5),
])
def test_avg_pool2d_gradcheck(args):
    x = leaf(1, 2, 5, 6)
    assert gradcheck(lambda x: _C.avg_pool2d(x, *args), (x,))
    assert gradgradcheck(lambda x: _C.avg_pool2d(x, *args), (x,))


@pytest.mark.parametrize("size", [(1, 1), (3, 4), (7, 5)])
def test_adaptive_avg_pool2d_gradcheck(size):
    x = leaf(1, 2, 5, 6)
    assert gradcheck(lambda x: _C.adaptive_avg_pool2d(x, size), (x,))


@pytest.mark.parametrize("mode,size,ac,scale", [
    ("nearest", (7, 5), None, None),
    ("nearest", (6, 9), None, (2.0, 3.0)),
    ("bilinear", (7, 5), False, None),
    ("bilinear", (5, 8), True, None),
    ("bilinear", (2, 3), False, None),
    ("bilinear", (6, 8), False, (2.0, 2.5)),
])
def test_interpolate_gradcheck(mode, size, ac, scale):
    x = leaf(1, 2, 3, 4)
    fn = lambda x: _C.interpolate(x, size, mode, ac, scale)  # noqa: E731
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 4), (2, 3, 2, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(shape, training):
    c = shape[1]
    x, w, b = leaf(*shape), leaf(c, seed=1), leaf(c, seed=2)
    rm, rv = T(rand(c, seed=3)), T(np.abs(rand(c, seed=4)) + 0.5)

    def fn(x, w, b):
        # Fresh running stats each call, so the in-place update does not leak between calls.
        return _C.batch_norm(x, rm.clone(), rv.clone(), w, b, training, 0.1, 1e-5)

    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))
    # Without affine parameters, too.
    assert gradcheck(lambda x: _C.batch_norm(x, rm.clone(), rv.clone(), None, None, training, 0.1, 1e-5), (x,))


CE_CONFIGS = [
    # (input shape, kwargs, probability target)
    ((4, 5), {}, False),
    ((4, 5), {"reduction": "sum", "label_smoothing": 0.2}, False),
    ((4, 5), {"reduction": "none", "ignore_index": 1}, False),
    ((4, 5), {"weighted": True, "label_smoothing": 0.1}, False),
    ((5,), {}, False),
    ((2, 3, 2, 2), {"weighted": True}, False),
    ((2, 3, 4), {"reduction": "none", "label_smoothing": 0.3}, False),
    ((4, 5), {}, True),
    ((2, 3, 2), {"weighted": True, "label_smoothing": 0.2, "reduction": "sum"}, True),
]


def ce_call(x, target, kw, c, weight_seed=5):
    weight = T(np.abs(rand(c, seed=weight_seed)) + 0.2) if kw.get("weighted") else None
    return _C.cross_entropy(x, target, weight, kw.get("ignore_index", -100), kw.get("reduction", "mean"),
                            kw.get("label_smoothing", 0.0))


def class_target(shape, c, seed=7):
    rows = shape[:1] + shape[2:] if len(shape) > 1 else ()
    return T(np.random.default_rng(seed).integers(0, c, size=rows).astype(np.int64))


@pytest.mark.parametrize("cfg", CE_CONFIGS, ids=[str(i) for i in range(len(CE_CONFIGS))])
def test_cross_entropy_gradcheck(cfg):
    shape, kw, prob = cfg
    c = shape[1] if len(shape) > 1 else shape[0]
    x = leaf(*shape)
    if prob:
        p = np.abs(rand(*shape, seed=9))
        p /= p.sum(axis=1, keepdims=True)
        target = T(p, True)  # probability targets receive gradients too
        assert gradcheck(lambda x, t: ce_call(x, t, kw, c), (x, target))
        assert gradgradcheck(lambda x, t: ce_call(x, t, kw, c), (x, target))
    else:
        target = class_target(shape, c)
        assert gradcheck(lambda x: ce_call(x, target, kw, c), (x,))
        assert gradgradcheck(lambda x: ce_call(x, target, kw, c), (x,))


def test_cross_entropy_matches_log_softmax_then_nll():
    x, t = rand(6, 4), np.array([0, 3, 1, 1, 2, 0])
    w = np.array([0.5, 1.0, 2.0, 1.5])
    loss = _C.cross_entropy(T(x), T(t), T(w), 1, "mean", 0.0).item()
    lp = x - np.log(np.exp(x).sum(1, keepdims=True))
    keep = t != 1
    want = -(w[t] * lp[np.arange(6), t])[keep].sum() / w[t][keep].sum()
    assert abs(loss - want) < 1e-12


def test_cross_entropy_all_ignored_mean_is_nan():
    loss = _C.cross_entropy(T(rand(3, 4)), T(np.array([2, 2, 2])), None, 2, "mean", 0.0)
    assert math.isnan(loss.item())


@pytest.mark.parametrize("kw", [{}, {"reduction": "sum", "ignore_index": 0}, {"reduction": "none", "weighted": True}])
@pytest.mark.parametrize("shape", [(4, 5), (5,), (2, 5, 3)])
def test_nll_loss_gradcheck(kw, shape):
    c = shape[1] if len(shape) > 1 else shape[0]
    x = leaf(*shape)
    target = class_target(shape, c)
    weight = T(np.abs(rand(c, seed=5)) + 0.2) if kw.get("weighted") else None

    def fn(x):
        return _C.nll_loss(x, target, weight, kw.get("ignore_index", -100), kw.get("reduction", "mean"))

    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_pointwise_losses_gradcheck(reduction):
    x, t = leaf(3, 4), leaf(3, 4, seed=1)
    assert gradcheck(lambda x, t: _C.mse_loss(x, t, reduction), (x, t))
    assert gradgradcheck(lambda x, t: _C.mse_loss(x, t, reduction), (x, t))
    assert gradcheck(lambda x, t: _C.l1_loss(x, t, reduction), (x, t))
    # Broadcast target.
    tb = leaf(4, seed=2)
    assert gradcheck(lambda x, t: _C.mse_loss(x, t, reduction), (x, tb))
    # Probabilities strictly inside (0, 1).
    p = T(np.random.default_rng(3).uniform(0.1, 0.9, (3, 4)), True)
    q = T(np.random.default_rng(4).uniform(0.0, 1.0, (3, 4)), True)
    w = T(np.random.default_rng(5).uniform(0.5, 2.0, (4,)))
    assert gradcheck(lambda p, q: _C.binary_cross_entropy(p, q, w, reduction), (p, q))
    pw = T(np.array([0.5, 1.0, 2.0, 3.0]))
    assert gradcheck(lambda x, q: _C.binary_cross_entropy_with_logits(x, q, w, pw, reduction), (x, q))
    assert gradcheck(lambda x, q: _C.binary_cross_entropy_with_logits(x, q, None, None, reduction), (x, q))


def test_pointwise_losses_forward():
    x, t = rand(3, 4), rand(3, 4, seed=1)
    close(_C.mse_loss(T(x), T(t), "none"), (x - t) ** 2)
    close(_C.l1_loss(T(x), T(t), "sum"), np.abs(x - t).sum())
    p = np.random.default_rng(3).uniform(0.05, 0.95, (3, 4))
    q = np.random.default_rng(4).uniform(0.0, 1.0, (3, 4))
    close(_C.binary_cross_entropy(T(p), T(q), None, "mean"), -(q * np.log(p) + (1 - q) * np.log(1 - p)).mean())
    pw = np.array([0.5, 1.0, 2.0, 3.0])
    sig = 1 / (1 + np.exp(-x))
    want = -(pw * q * np.log(sig) + (1 - q) * np.log(1 - sig))
    close(_C.binary_cross_entropy_with_logits(T(x), T(q), None, T(pw), "none"), want)
    # log clamped at -100 for probabilities 0 and 1.
    close(_C.binary_cross_entropy(T(np.array([0.0, 1.0])), T(np.array([1.0, 0.0])), None, "none"), [100.0, 100.0])


# ----- dropout ------------------------------------------------------------------------------------

def test_dropout():
    rustgrad.manual_seed(3)
    x = T(np.ones((200, 50)), True)
    y = _C.dropout(x, 0.3, True)
    yv = y.detach().numpy()
    kept = yv != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(yv[kept], 1 / 0.7)
    assert y.grad_fn.name() == "NativeDropoutBackward0"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), yv)  # gradient is the same mask
    # Reproducible from the seed.
    rustgrad.manual_seed(3)
    np.testing.assert_array_equal(_C.dropout(x, 0.3, True).detach().numpy(), yv)
    np.testing.assert_array_equal(_C.dropout(x, 0.3, False).detach().numpy(), x.detach().numpy())
    assert (_C.dropout(x, 1.0, True).detach().numpy() == 0).all()
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        _C.dropout(x, 1.5, True)


# ----- batch norm behaviour ---------------------------------------------------------------------------

def test_batch_norm_updates_running_stats_in_place():
    x = rand(8, 3, 4, scale=2.0) + 1.0
    rm, rv = T(np.zeros(3)), T(np.ones(3))
    before = rm.data_ptr() if hasattr(rm, "data_ptr") else None
    y = _C.batch_norm(T(x), rm, rv, None, None, True, 0.25, 1e-5)
    mean = x.mean(axis=(0, 2))
    var_unbiased = x.var(axis=(0, 2), ddof=1)
    close(rm, 0.25 * mean)
    close(rv, 0.75 + 0.25 * var_unbiased)
    if before is not None:
        assert rm.data_ptr() == before
    xn = (x - mean[None, :, None]) / np.sqrt(x.var(axis=(0, 2))[None, :, None] + 1e-5)
    close(y, xn)
    # Eval uses the running statistics and leaves them alone.
    y = _C.batch_norm(T(x), rm, rv, None, None, False, 0.25, 1e-5)
    close(y, (x - 0.25 * mean[None, :, None]) / np.sqrt(0.75 + 0.25 * var_unbiased[None, :, None] + 1e-5))
    close(rm, 0.25 * mean)


def test_batch_norm_without_running_stats_in_training():
    x = rand(5, 2)
    y = _C.batch_norm(T(x), None, None, None, None, True, 0.1, 1e-5)
    close(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5))


# ----- errors ---------------------------------------------------------------------------------------

def zeros(*shape, dtype=None):
    return rustgrad.zeros(*shape, dtype=dtype)


def test_conv2d_errors():
    with pytest.raises(RuntimeError) as e:
        _C.conv2d(zeros(8, 3, 28, 28), zeros(32, 1, 3, 3), None, (1, 1), (0, 0), (1, 1), 1)
    assert str(e.value) == ("Given groups=1, weight of size [32, 1, 3, 3], expected input[8, 3, 28, 28] to have 1 "
                            "channels, but got 3 channels instead")
    with pytest.raises(RuntimeError) as e:
        _C.conv2d(zeros(1, 1, 2, 2), zeros(4, 1, 3, 3), None, (1, 1), (0, 0), (1, 1), 1)
    assert str(e.value) == ("Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). "
                            "Kernel size can't be greater than actual input size")
    with pytest.raises(RuntimeError, match="padding='same' is not supported for strided convolutions"):
        _C.conv2d(zeros(1, 1, 5, 5), zeros(1, 1, 3, 3), None, (2, 2), "same", (1, 1), 1)
    with pytest.raises(RuntimeError, match="Invalid padding string: 'full'"):
        _C.conv2d(zeros(1, 1, 5, 5), zeros(1, 1, 3, 3), None, (1, 1), "full", (1, 1), 1)
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got "
                                           r"input of size: \[5, 5\]"):
        _C.conv2d(zeros(5, 5), zeros(1, 1, 3, 3), None, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(RuntimeError, match=r"Given weight of size \[4, 1, 3, 3\], expected bias to be 1-dimensional "
                                           r"with 4 elements, but got bias of size \[3\] instead"):
        _C.conv2d(zeros(1, 1, 5, 5), zeros(4, 1, 3, 3), zeros(3), (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(RuntimeError, match="expected weight to be divisible by 2 at dimension 0"):
        _C.conv2d(zeros(1, 2, 5, 5), zeros(3, 1, 3, 3), None, (1, 1), (0, 0), (1, 1), 2)
    with pytest.raises(RuntimeError, match="non-positive stride is not supported"):
        _C.conv2d(zeros(1, 1, 5, 5), zeros(1, 1, 3, 3), None, (0, 1), (0, 0), (1, 1), 1)
    with pytest.raises(RuntimeError, match="negative padding is not supported"):
        _C.conv2d(zeros(1, 1, 5, 5), zeros(1, 1, 3, 3), None, (1, 1), (-1, 0), (1, 1), 1)
    with pytest.raises(RuntimeError, match=r"Input type \(torch.FloatTensor\) and weight type "
                                           r"\(torch.DoubleTensor\) should be the same"):
        _C.conv2d(zeros(1, 1, 5, 5), zeros(1, 1, 3, 3, dtype=rustgrad.float64), None, (1, 1), (0, 0), (1, 1), 1)


def test_pool_errors():
    x = zeros(1, 3, 9, 10)
    with pytest.raises(RuntimeError) as e:
        _C.max_pool2d(x, (3, 3), (1, 1), (2, 2), (1, 1), False, False)
    assert str(e.value) == ("pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 "
                            "and dilation=1")
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel size"):
        _C.avg_pool2d(x, (2, 2), (2, 2), (0, 2), False, True, None)
    with pytest.raises(RuntimeError, match=r"Given input size: \(3x2x2\). Calculated output size: \(3x0x0\). "
                                           r"Output size is too small"):
        _C.max_pool2d(zeros(3, 2, 2), (3, 3), (1, 1), (0, 0), (1, 1), False, False)
    with pytest.raises(RuntimeError, match="divisor must be not zero"):
        _C.avg_pool2d(x, (2, 2), (2, 2), (0, 0), False, True, 0)
    with pytest.raises(RuntimeError, match="non-empty 3D or 4D"):
        _C.max_pool2d(zeros(4, 4), (2, 2), (2, 2), (0, 0), (1, 1), False, False)
    with pytest.raises(RuntimeError, match=r"adaptive_avg_pool2d\(\): Expected 3D or 4D tensor, but got \[4, 4\]"):
        _C.adaptive_avg_pool2d(zeros(4, 4), (2, 2))


def test_pool_output_sizes_in_ceil_mode():
    # PyTorch drops a last window that would start in the right padding.
    x = zeros(1, 1, 5, 5)
    assert _C.max_pool2d(x, (2, 2), (2, 2), (1, 1), (1, 1), True, False).shape == (1, 1, 3, 3)
    assert _C.max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), True, False).shape == (1, 1, 3, 3)
    assert _C.max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), False, False).shape == (1, 1, 2, 2)
    assert _C.avg_pool2d(zeros(1, 1, 6, 6), (3, 3), (2, 2), (1, 1), True, True, None).shape == (1, 1, 4, 4)
    assert _C.avg_pool2d(zeros(1, 1, 5, 5), (3, 3), (2, 2), (1, 1), True, True, None).shape == (1, 1, 3, 3)


def test_loss_errors():
    x = zeros(4, 10)
    with pytest.raises(IndexError) as e:
        _C.cross_entropy(x, rustgrad.tensor([1, 10, 2, 3]), None, -100, "mean", 0.0)
    assert str(e.value) == "Target 10 is out of bounds."
    with pytest.raises(IndexError, match="Target -1 is out of bounds."):
        _C.nll_loss(x, rustgrad.tensor([1, -1, 2, 3]), None, -100, "mean")
    with pytest.raises(ValueError, match=r"Expected input batch_size \(4\) to match target batch_size \(3\)."):
        _C.cross_entropy(x, rustgrad.tensor([1, 2, 3]), None, -100, "mean", 0.0)
    with pytest.raises(RuntimeError, match=r"weight tensor should be defined either for all 10 classes or no "
                                           r"classes but got weight tensor of shape: \[3\]"):
        _C.cross_entropy(x, rustgrad.tensor([1, 2, 3, 4]), zeros(3), -100, "mean", 0.0)
    with pytest.raises(RuntimeError, match=r"Expected target size \[2, 4\], got \[2, 3\]"):
        _C.cross_entropy(zeros(2, 5, 4), rustgrad.zeros(2, 3, dtype=rustgrad.int64), None, -100, "mean", 0.0)
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0. Got: 1.5"):
        _C.cross_entropy(x, rustgrad.tensor([1, 2, 3, 4]), None, -100, "mean", 1.5)
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        _C.cross_entropy(x, rustgrad.tensor([1, 2, 3, 4]), None, -100, "avg", 0.0)
    with pytest.raises(RuntimeError, match="Expected floating point type for target with class probabilities, got Long"):
        _C.cross_entropy(x, rustgrad.zeros(4, 10, dtype=rustgrad.int64), None, -100, "mean", 0.0)
    with pytest.raises(RuntimeError, match="expected scalar type Long but found Float"):
        _C.nll_loss(x, rustgrad.zeros(4), None, -100, "mean")
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        _C.binary_cross_entropy(rustgrad.tensor([0.5, 1.5]), rustgrad.tensor([0.0, 1.0]), None, "mean")
    with pytest.raises(ValueError, match="Target size"):
        _C.binary_cross_entropy_with_logits(zeros(3), zeros(3, 1), None, None, "mean")
    with pytest.raises(RuntimeError, match="must match the size of tensor b"):
        _C.mse_loss(zeros(3, 4), zeros(3, 5), "mean")


def test_batch_norm_and_interpolate_errors():
    with pytest.raises(RuntimeError, match="running_mean should contain 3 elements not 4"):
        _C.batch_norm(zeros(4, 3), zeros(4), zeros(4), None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training, got input size "
                                         r"torch.Size\(\[1, 3\]\)"):
        _C.batch_norm(zeros(1, 3), None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="align_corners option can only be set with the interpolating modes"):
        _C.interpolate(zeros(1, 1, 4, 4), (8, 8), "nearest", True, None)
    with pytest.raises(NotImplementedError, match="Got 3D input, but bilinear mode needs 4D input"):
        _C.interpolate(zeros(1, 4, 4), (8, 8), "bilinear", False, None)


def test_float32_ops_run_and_agree_with_float64():
    x64 = rand(2, 3, 8, 8)
    for fn in [
        lambda x: _C.max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), False, False),
        lambda x: _C.avg_pool2d(x, (3, 3), (2, 2), (1, 1), True, False, None),
        lambda x: _C.adaptive_avg_pool2d(x, (3, 5)),
        lambda x: _C.interpolate(x, (13, 9), "bilinear", False, None),
        lambda x: _C.batch_norm(x, None, None, None, None, True, 0.1, 1e-5),
        lambda x: _C.cross_entropy(x, rustgrad.zeros(2, 8, 8, dtype=rustgrad.int64), None, -100, "mean", 0.1),
    ]:
        a = fn(T(x64)).numpy()
        b = fn(T(x64, dtype=rustgrad.float32)).numpy()
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


# ----- double backward through the gradient's dependence on the upstream gradient ------------------
# gradgradcheck above differentiates the gradient with respect to the op's inputs; for linear ops
# (pooling, resampling, NLL) that dependence is nil, so here the gradient is differentiated with
# respect to the upstream gradient v instead: d/dv of vjp(v) exercises the backward's own backward.

def vjp_check(op, inputs, out_shape, seed=11):
    v = leaf(*out_shape, seed=seed)

    def vjp(v):
        out = op(*inputs)
        grads = rustgrad.autograd.grad(out, list(inputs), v, create_graph=True)
        assert all(g.requires_grad for g in grads), "the gradient must carry a graph"
        return tuple(grads)

    assert gradcheck(vjp, (v,))


def test_vjp_double_backward_of_linear_ops():
    x = leaf(1, 2, 5, 6)
    vjp_check(lambda x: _C.avg_pool2d(x, (3, 3), (2, 2), (1, 1), True, False, None), [x], (1, 2, 3, 4))
    vjp_check(lambda x: _C.adaptive_avg_pool2d(x, (4, 4)), [x], (1, 2, 4, 4))
    vjp_check(lambda x: _C.max_pool2d(x, (2, 2), (2, 2), (1, 1), (1, 1), False, False), [x], (1, 2, 3, 4))
    vjp_check(lambda x: _C.interpolate(x, (7, 4), "bilinear", True, None), [x], (1, 2, 7, 4))
    vjp_check(lambda x: _C.interpolate(x, (9, 9), "nearest", None, None), [x], (1, 2, 9, 9))
    target = T(np.array([0, 2, 1, 2]))
    lp = leaf(4, 3)
    vjp_check(lambda lp: _C.nll_loss(lp, target, None, -100, "none"), [lp], (4,))


def test_vjp_double_backward_of_conv_and_batch_norm():
    x, w, b = leaf(1, 2, 4, 5), leaf(3, 2, 3, 2, seed=1), leaf(3, seed=2)
    vjp_check(lambda x, w, b: _C.conv2d(x, w, b, (2, 1), (1, 1), (1, 1), 1), [x, w, b], (1, 3, 2, 6))
    xb, wb, bb = leaf(3, 2, 2), leaf(2, seed=3), leaf(2, seed=4)
    vjp_check(lambda x, w, b: _C.batch_norm(x, None, None, w, b, True, 0.1, 1e-5), [xb, wb, bb], (3, 2, 2))
    t = class_target((3, 4), 4)
    xc = leaf(3, 4)
    vjp_check(lambda x: _C.cross_entropy(x, t, None, -100, "none", 0.2), [xc], (3,))


def test_grad_fn_names():
    x = leaf(1, 2, 4, 4)
    assert _C.max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), False, False).grad_fn.name() == \
        "MaxPool2DWithIndicesBackward0"
    assert _C.avg_pool2d(x, (2, 2), (2, 2), (0, 0), False, True, None).grad_fn.name() == "AvgPool2DBackward0"
    assert _C.interpolate(x, (8, 8), "nearest", None, None).grad_fn.name() == "UpsampleNearest2DBackward0"
    assert _C.batch_norm(x, None, None, None, None, True, 0.1, 1e-5).grad_fn.name() == "NativeBatchNormBackward0"
    assert _C.cross_entropy(x.reshape(2, 16), T(np.array([1, 2])), None, -100, "mean", 0.0).grad_fn.name() == \
        "NllLossBackward0"
