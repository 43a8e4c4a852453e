"""1-d convolution and pooling, upsampling and pixel-shuffle modules, group and instance norm:
values against numpy (float64), gradients against finite differences, PyTorch parity (outputs,
gradients, reprs) and PyTorch's error messages."""

import re
import warnings

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck

from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)


def rnd(*shape, seed=0):
    return np.random.default_rng(seed + 17 * len(shape)).standard_normal(shape)


def t64(a, grad=False):
    return rg.tensor(np.asarray(a, dtype=np.float64), dtype=rg.float64, requires_grad=grad)


# ----- numpy references ----------------------------------------------------------------------------

def np_conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    n, c, length = x.shape
    o, cg, k = w.shape
    if padding == "valid":
        padding = 0
    if padding == "same":
        total = dilation * (k - 1)
        left = total // 2
        xp = np.pad(x, ((0, 0), (0, 0), (left, total - left)))
    else:
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    out_len = (xp.shape[2] - dilation * (k - 1) - 1) // stride + 1
    out = np.zeros((n, o, out_len))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(out_len):
            window = xp[:, g * cg:(g + 1) * cg, i * stride:i * stride + dilation * (k - 1) + 1:dilation]
            out[:, oc, i] = np.einsum("nck,ck->n", window, w[oc])
    if b is not None:
        out += b[None, :, None]
    return out


def np_pool1d(x, k, s, p, op, dilation=1, ceil_mode=False, count_include_pad=True):
    n = x.shape[-1]
    span = n + 2 * p - dilation * (k - 1) - 1
    out_len = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out_len - 1) * s >= n + p:
        out_len -= 1
    out = np.zeros(x.shape[:-1] + (out_len,))
    idx = np.zeros(out.shape, dtype=np.int64)
    for i in range(out_len):
        start = i * s - p
        pos = [start + j * dilation for j in range(k)]
        inside = [q for q in pos if 0 <= q < n]
        if op == "max":
            vals = x[..., inside]
            out[..., i] = vals.max(-1)
            idx[..., i] = np.array(inside)[vals.argmax(-1)]
        else:
            end_pad = min(start + k, n + p)
            divisor = (end_pad - start) if count_include_pad else len(inside)
            out[..., i] = x[..., inside].sum(-1) / divisor
    return out, idx


def np_adaptive_avg1d(x, size):
    n = x.shape[-1]
    out = np.zeros(x.shape[:-1] + (size,))
    for i in range(size):
        a, b = (i * n) // size, -((-(i + 1) * n) // size)
        out[..., i] = x[..., a:b].mean(-1)
    return out


def np_group_norm(x, g, w=None, b=None, eps=1e-5):
    n, c = x.shape[:2]
    xg = x.reshape(n, g, -1)
    out = ((xg - xg.mean(-1, keepdims=True)) / np.sqrt(xg.var(-1, keepdims=True) + eps)).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    if w is not None:
        out = out * w.reshape(shape)
    if b is not None:
        out = out + b.reshape(shape)
    return out


def np_pixel_shuffle(x, r):
    *batch, c, h, w = x.shape
    y = x.reshape(*batch, c // (r * r), r, r, h, w)
    nb = len(batch)
    y = y.transpose(*range(nb), nb, nb + 3, nb + 1, nb + 4, nb + 2)
    return y.reshape(*batch, c // (r * r), h * r, w * r)


# ----- values --------------------------------------------------------------------------------------

CONV_CASES = [
    dict(),
    dict(stride=2),
    dict(padding=2),
    dict(padding=1, dilation=2, stride=3),
    dict(groups=2),
    dict(groups=4, padding=1),
    dict(padding="same", dilation=2),
    dict(padding="same"),
    dict(padding="valid", stride=2),
]


@pytest.mark.parametrize("kw", CONV_CASES, ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_conv1d_matches_numpy(kw, bias):
    groups = kw.get("groups", 1)
    x, w, b = rnd(2, 4, 11), rnd(6 if groups != 4 else 8, 4 // groups, 3, seed=1), rnd(6 if groups != 4 else 8, seed=2)
    out = F.conv1d(t64(x), t64(w), t64(b) if bias else None, **kw)
    np.testing.assert_allclose(out.numpy(), np_conv1d(x, w, b if bias else None, **kw), rtol=1e-12, atol=1e-12)


def test_conv1d_unbatched_and_tuple_args():
    x, w = rnd(4, 9), rnd(5, 4, 2, seed=1)
    out = F.conv1d(t64(x), t64(w), stride=(2,), padding=(1,), dilation=(1,))
    assert out.shape == (5, 5)
    np.testing.assert_allclose(out.numpy(), np_conv1d(x[None], w, stride=2, padding=1)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kw", [dict(kernel_size=3), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=2, stride=1, dilation=3, padding=1),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=4, stride=3, ceil_mode=True)], ids=str)
def test_max_pool1d_matches_numpy(kw):
    x = rnd(2, 3, 10)
    out, idx = F.max_pool1d(t64(x), return_indices=True, **kw)
    ref, ref_idx = np_pool1d(x, kw["kernel_size"], kw.get("stride", kw["kernel_size"]), kw.get("padding", 0), "max",
                             kw.get("dilation", 1), kw.get("ceil_mode", False))
    np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    assert idx.dtype == rg.int64
    np.testing.assert_array_equal(F.max_pool1d(t64(x), **kw).numpy(), ref)
    # Unbatched (C, L) input.
    np.testing.assert_array_equal(F.max_pool1d(t64(x[0]), **kw).numpy(), ref[0])


@pytest.mark.parametrize("kw", [dict(kernel_size=3), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
                                dict(kernel_size=4, stride=3, padding=2, ceil_mode=True),
                                dict(kernel_size=4, stride=3, padding=2, ceil_mode=True, count_include_pad=False)],
                         ids=str)
def test_avg_pool1d_matches_numpy(kw):
    x = rnd(2, 3, 10)
    out = F.avg_pool1d(t64(x), **kw)
    ref, _ = np_pool1d(x, kw["kernel_size"], kw.get("stride", kw["kernel_size"]), kw.get("padding", 0), "avg",
                       ceil_mode=kw.get("ceil_mode", False), count_include_pad=kw.get("count_include_pad", True))
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(F.avg_pool1d(t64(x[1]), **kw).numpy(), ref[1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("size", [1, 3, 4, 7, 10, 13])
def test_adaptive_avg_pool1d_matches_numpy(size):
    x = rnd(2, 3, 10)
    np.testing.assert_allclose(F.adaptive_avg_pool1d(t64(x), size).numpy(), np_adaptive_avg1d(x, size), rtol=1e-12)
    np.testing.assert_allclose(F.adaptive_avg_pool1d(t64(x[0]), (size,)).numpy(), np_adaptive_avg1d(x[0], size),
                               rtol=1e-12)


@pytest.mark.parametrize("shape,r", [((1, 8, 2, 3), 2), ((2, 3, 18, 2, 2), 3), ((4, 1, 1), 2), ((2, 5, 3, 3), 1)])
def test_pixel_shuffle_matches_numpy_and_unshuffle_inverts(shape, r):
    x = rnd(*shape)
    y = F.pixel_shuffle(t64(x), r)
    np.testing.assert_array_equal(y.numpy(), np_pixel_shuffle(x, r))
    np.testing.assert_array_equal(F.pixel_unshuffle(y, r).numpy(), x)
    np.testing.assert_array_equal(nn.PixelShuffle(r)(t64(x)).numpy(), y.numpy())
    np.testing.assert_array_equal(nn.PixelUnshuffle(r)(y).numpy(), x)


@pytest.mark.parametrize("shape,groups", [((3, 6), 3), ((2, 6, 5), 2), ((2, 4, 3, 5), 4), ((2, 4, 3, 5), 1)])
def test_group_norm_matches_numpy(shape, groups):
    x, w, b = rnd(*shape), rnd(shape[1], seed=1), rnd(shape[1], seed=2)
    out = F.group_norm(t64(x), groups, t64(w), t64(b), eps=1e-3)
    np.testing.assert_allclose(out.numpy(), np_group_norm(x, groups, w, b, 1e-3), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(F.group_norm(t64(x), groups).numpy(), np_group_norm(x, groups), rtol=1e-10,
                               atol=1e-12)
    m = nn.GroupNorm(groups, shape[1], eps=1e-3).double()
    with rg.no_grad():
        m.weight.copy_(t64(w))
        m.bias.copy_(t64(b))
    np.testing.assert_allclose(m(t64(x)).detach().numpy(), np_group_norm(x, groups, w, b, 1e-3), rtol=1e-10, atol=1e-12)


def test_group_norm_module_parameters():
    m = nn.GroupNorm(2, 6)
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(m.weight.detach().numpy(), np.ones(6))
    np.testing.assert_array_equal(m.bias.detach().numpy(), np.zeros(6))
    assert nn.GroupNorm(2, 6, affine=False).weight is None
    assert nn.GroupNorm(2, 6, bias=False).bias is None


@pytest.mark.parametrize("shape", [(2, 3, 7), (2, 3, 4, 5)])
def test_instance_norm_matches_numpy(shape):
    x, w, b = rnd(*shape), rnd(3, seed=1), rnd(3, seed=2)
    n, c = shape[:2]
    ref = np_group_norm(x.reshape(1, n * c, -1), n * c).reshape(shape)
    np.testing.assert_allclose(F.instance_norm(t64(x)).numpy(), ref, rtol=1e-10, atol=1e-12)
    ref_affine = ref * w.reshape((1, 3) + (1,) * (len(shape) - 2)) + b.reshape((1, 3) + (1,) * (len(shape) - 2))
    np.testing.assert_allclose(F.instance_norm(t64(x), weight=t64(w), bias=t64(b)).numpy(), ref_affine,
                               rtol=1e-10, atol=1e-12)
    cls = nn.InstanceNorm1d if len(shape) == 3 else nn.InstanceNorm2d
    m = cls(3, affine=True).double()
    with rg.no_grad():
        m.weight.copy_(t64(w))
        m.bias.copy_(t64(b))
    np.testing.assert_allclose(m(t64(x)).detach().numpy(), ref_affine, rtol=1e-10, atol=1e-12)
    # Unbatched input normalises the same way as a batch of one.
    np.testing.assert_allclose(m(t64(x[1])).detach().numpy(), ref_affine[1], rtol=1e-10, atol=1e-12)


def test_instance_norm_running_stats_update_and_eval():
    x = rnd(4, 3, 6)
    m = nn.InstanceNorm1d(3, track_running_stats=True, momentum=0.2).double()
    assert m.running_mean is not None and int(m.num_batches_tracked) == 0
    m(t64(x))
    mean = x.mean(-1).mean(0)
    var = x.var(-1, ddof=1).mean(0)
    np.testing.assert_allclose(m.running_mean.numpy(), 0.2 * mean, rtol=1e-12)
    np.testing.assert_allclose(m.running_var.numpy(), 0.8 + 0.2 * var, rtol=1e-12)
    m.eval()
    out = m(t64(x)).numpy()
    ref = (x - m.running_mean.numpy()[None, :, None]) / np.sqrt(m.running_var.numpy()[None, :, None] + 1e-5)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)


def test_instance_norm_defaults_have_no_parameters_or_buffers():
    m = nn.InstanceNorm2d(4)
    assert list(m.parameters()) == [] and list(m.buffers()) == []
    assert m.running_mean is None and m.weight is None


@pytest.mark.parametrize("kw,expected", [
    (dict(scale_factor=2), (1, 2, 6, 8)),
    (dict(size=(5, 3)), (1, 2, 5, 3)),
    (dict(scale_factor=(2, 1), mode="bilinear"), (1, 2, 6, 4)),
])
def test_upsample_module_is_interpolate(kw, expected):
    x = t64(rnd(1, 2, 3, 4))
    out = nn.Upsample(**kw)(x)
    assert out.shape == expected
    np.testing.assert_array_equal(out.numpy(), F.interpolate(x, **kw).numpy())
    np.testing.assert_array_equal(nn.UpsamplingNearest2d(scale_factor=3)(x).numpy(),
                                  F.interpolate(x, scale_factor=3, mode="nearest").numpy())
    np.testing.assert_array_equal(nn.UpsamplingBilinear2d(size=(4, 6))(x).numpy(),
                                  F.interpolate(x, size=(4, 6), mode="bilinear", align_corners=True).numpy())


def test_1d_upsampling_matches_numpy():
    x = rnd(2, 3, 4)
    np.testing.assert_array_equal(nn.Upsample(scale_factor=2)(t64(x)).numpy(), x.repeat(2, axis=-1))
    # align_corners=True: output position i samples input position i * (4 - 1) / (7 - 1).
    pos = np.arange(7) * 3 / 6
    lo = np.minimum(np.floor(pos).astype(int), 2)
    ref = x[..., lo] * (1 - (pos - lo)) + x[..., lo + 1] * (pos - lo)
    out = F.interpolate(t64(x), size=7, mode="linear", align_corners=True)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(F.interpolate(t64(x), size=2, mode="area").numpy(),
                               x.reshape(2, 3, 2, 2).mean(-1), rtol=1e-12)


def test_nearest_upsample_repeats_pixels():
    x = rnd(1, 1, 2, 3)
    out = nn.Upsample(scale_factor=2)(t64(x)).numpy()
    np.testing.assert_array_equal(out, x.repeat(2, axis=2).repeat(2, axis=3))


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv1d_module_padding_modes(padding_mode):
    m = nn.Conv1d(2, 3, 3, padding=2, padding_mode=padding_mode).double()
    x = rnd(2, 2, 6)
    mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[padding_mode]
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2)), mode=mode)
    ref = np_conv1d(xp, m.weight.detach().numpy(), m.bias.detach().numpy())
    np.testing.assert_allclose(m(t64(x)).detach().numpy(), ref, rtol=1e-12, atol=1e-12)


def test_conv1d_module_shapes_and_init():
    m = nn.Conv1d(4, 6, 3, groups=2, bias=False)
    assert m.weight.shape == (6, 2, 3) and m.bias is None
    assert m.kernel_size == (3,) and m.stride == (1,) and m.padding == (0,) and m.dilation == (1,)
    bound = 1 / np.sqrt(2 * 3)
    assert np.abs(m.weight.detach().numpy()).max() <= bound
    assert m(rg.randn(2, 4, 10)).shape == (2, 6, 8)
    assert m(rg.randn(4, 10)).shape == (6, 8)


def test_pool_modules():
    x = t64(rnd(2, 3, 9))
    np.testing.assert_array_equal(nn.MaxPool1d(3, 2, 1)(x).numpy(), F.max_pool1d(x, 3, 2, 1).numpy())
    out, idx = nn.MaxPool1d(2, return_indices=True)(x)
    assert out.shape == idx.shape == (2, 3, 4)
    np.testing.assert_array_equal(nn.AvgPool1d(3, 2, 1, count_include_pad=False)(x).numpy(),
                                  F.avg_pool1d(x, 3, 2, 1, count_include_pad=False).numpy())
    np.testing.assert_array_equal(nn.AdaptiveAvgPool1d(4)(x).numpy(), F.adaptive_avg_pool1d(x, 4).numpy())


# ----- gradients -----------------------------------------------------------------------------------

GRAD_CASES = {
    "conv1d": lambda: (lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2),
                       (t64(rnd(2, 2, 7), True), t64(rnd(3, 2, 2, seed=1), True), t64(rnd(3, seed=2), True))),
    "conv1d_groups_same": lambda: (lambda x, w: F.conv1d(x, w, padding="same", groups=2),
                                   (t64(rnd(1, 4, 5), True), t64(rnd(4, 2, 3, seed=1), True))),
    "conv1d_unbatched": lambda: (lambda x, w: F.conv1d(x, w), (t64(rnd(2, 5), True), t64(rnd(3, 2, 2, seed=1), True))),
    "max_pool1d": lambda: (lambda x: F.max_pool1d(x, 3, 2, 1), (t64(rnd(2, 2, 7), True),)),
    "max_pool1d_dilated": lambda: (lambda x: F.max_pool1d(x, 2, 1, 1, dilation=2, ceil_mode=True),
                                   (t64(rnd(2, 6), True),)),
    "avg_pool1d": lambda: (lambda x: F.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                           (t64(rnd(2, 2, 8), True),)),
    "adaptive_avg_pool1d": lambda: (lambda x: F.adaptive_avg_pool1d(x, 3), (t64(rnd(2, 2, 7), True),)),
    "pixel_shuffle": lambda: (lambda x: F.pixel_shuffle(x, 2) * t64(rnd(1, 2, 4, 6, seed=5)),
                              (t64(rnd(1, 8, 2, 3), True),)),
    "pixel_unshuffle": lambda: (lambda x: F.pixel_unshuffle(x, 2) * t64(rnd(1, 8, 2, 3, seed=5)),
                                (t64(rnd(1, 2, 4, 6), True),)),
    "group_norm": lambda: (lambda x, w, b: F.group_norm(x, 2, w, b),
                           (t64(rnd(2, 4, 3), True), t64(rnd(4, seed=1), True), t64(rnd(4, seed=2), True))),
    "instance_norm": lambda: (lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
                              (t64(rnd(2, 2, 2, 3), True), t64(rnd(2, seed=1), True), t64(rnd(2, seed=2), True))),
    "upsample_linear_1d": lambda: (lambda x: nn.Upsample(scale_factor=2.5, mode="linear")(x),
                                   (t64(rnd(1, 2, 3), True),)),
    "upsample_nearest_1d": lambda: (lambda x: F.interpolate(x, size=7), (t64(rnd(1, 2, 3), True),)),
    "upsample_bilinear": lambda: (lambda x: nn.UpsamplingBilinear2d(scale_factor=2)(x), (t64(rnd(1, 1, 2, 3), True),)),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradcheck(name):
    fn, inputs = GRAD_CASES[name]()
    assert gradcheck(fn, inputs)


# ----- errors --------------------------------------------------------------------------------------
# Each entry runs the same call in rustgrad and (in the parity test below) in PyTorch.

ERRORS = [
    (lambda lib, F, nn: F.conv1d(lib.randn(2, 3, 4, 10), lib.randn(6, 3, 3)), RuntimeError,
     "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: [2, 3, 4, 10]"),
    (lambda lib, F, nn: F.conv1d(lib.randn(2, 4, 10), lib.randn(6, 3, 3)), RuntimeError,
     "Given groups=1, weight of size [6, 3, 3], expected input[2, 4, 10] to have 3 channels, but got 4 channels "
     "instead"),
    (lambda lib, F, nn: F.conv1d(lib.randn(2, 4, 10), lib.randn(6, 4, 3), groups=3), RuntimeError,
     "Given groups=3, weight of size [6, 4, 3], expected input[2, 4, 10] to have 12 channels, but got 4 channels "
     "instead"),
    (lambda lib, F, nn: F.conv1d(lib.randn(2, 4, 10), lib.randn(6, 4, 3), padding="foo"), RuntimeError,
     "Invalid padding string: 'foo'"),
    (lambda lib, F, nn: F.conv1d(lib.randn(2, 4, 10), lib.randn(6, 4, 3), padding="same", stride=2), RuntimeError,
     "padding='same' is not supported for strided convolutions"),
    (lambda lib, F, nn: F.conv1d(lib.randn(2, 4, 10), lib.randn(6, 4, 30)), RuntimeError,
     "Calculated padded input size per channel: (10). Kernel size: (30). Kernel size can't be greater than actual "
     "input size"),
    (lambda lib, F, nn: F.max_pool1d(lib.randn(2, 3, 4, 10), 2), RuntimeError,
     "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, but "
     "got:[2, 3, 4, 10]"),
    (lambda lib, F, nn: F.max_pool1d(lib.randn(2, 4, 10), 2, padding=2), RuntimeError,
     "max_pool1d() padding should be at most half of kernel size, but got padding=2 and kernel_size=2"),
    (lambda lib, F, nn: F.max_pool1d(lib.randn(2, 4, 10), 20), RuntimeError,
     "max_pool1d() Invalid computed output size: 0"),
    (lambda lib, F, nn: F.avg_pool1d(lib.randn(2, 3, 4, 10), 2), RuntimeError,
     "Expected 2 to 3 dimensions, but got 4-dimensional tensor for argument #1 'self' (while checking arguments for "
     "avg_pool1d)"),
    (lambda lib, F, nn: F.avg_pool1d(lib.randn(2, 4, 10), 2, padding=2), RuntimeError,
     "pad should be at most half of effective kernel size, but got pad=2, kernel_size=2 and dilation=1"),
    (lambda lib, F, nn: F.avg_pool1d(lib.randn(2, 4, 10), 20), RuntimeError,
     "Given input size: (4x1x10). Calculated output size: (4x1x0). Output size is too small"),
    (lambda lib, F, nn: F.adaptive_avg_pool1d(lib.randn(2, 3, 4, 10), 2), RuntimeError,
     "Expected 2 to 3 dimensions, but got 4-dimensional tensor for argument #1 'self' (while checking arguments for "
     "adaptive_avg_pool1d)"),
    (lambda lib, F, nn: F.adaptive_avg_pool1d(lib.randn(2, 4, 10), (2, 3)), RuntimeError,
     "adaptive_avg_pool1d() argument 'output_size' should contain one int (got 2)"),
    (lambda lib, F, nn: F.conv1d(lib.randn(2, 4, 10), lib.randn(6, 4)), RuntimeError,
     "weight should have at least three dimensions"),
    (lambda lib, F, nn: F.conv1d(lib.randn(2, 4, 10), lib.randn(6, 4, 3, 3)), RuntimeError,
     "Expected 4-dimensional input for 4-dimensional weight [6, 4, 3, 3], but got 3-dimensional input of size "
     "[2, 4, 10] instead"),
    (lambda lib, F, nn: F.conv1d(lib.randn(2, 4, 10), lib.randn(6, 4, 3), lib.randn(6, 1)), RuntimeError,
     "Given weight of size [6, 4, 3], expected bias to be 1-dimensional with 6 elements, but got bias of size [6, 1] "
     "instead"),
    (lambda lib, F, nn: F.conv1d(lib.randn(2, 4, 10), lib.randn(6, 4, 3), stride=(1, 2)), RuntimeError,
     "expected stride to be a single integer value or a list of 1 values to match the convolution dimensions, but "
     "got stride=[1, 2]"),
    (lambda lib, F, nn: F.conv1d(lib.randn(2, 4, 10), lib.randn(6, 4, 3), padding=(1, 2)), RuntimeError,
     "expected padding to be a single integer value or a list of 1 values to match the convolution dimensions, but "
     "got padding=[1, 2]"),
    (lambda lib, F, nn: F.max_pool1d(lib.randn(2, 4, 10), (2, 2)), RuntimeError,
     "max_pool1d() kernel_size must be an int, list of ints or tuple of ints of size 1 but got size 2"),
    (lambda lib, F, nn: F.max_pool1d(lib.randn(2, 4, 10), 2, stride=(1, 2)), RuntimeError,
     "max_pool1d() stride must be None, an int, list of ints, or tuple of ints of size 1 but got size 2"),
    (lambda lib, F, nn: F.max_pool1d(lib.randn(2, 4, 10), 2, padding=(1, 2)), RuntimeError,
     "max_pool1d() padding must be an int, list of ints, or tuple of ints of size 1 but got size 2"),
    (lambda lib, F, nn: F.max_pool1d(lib.randn(2, 4, 10), 2, dilation=(1, 2)), RuntimeError,
     "max_pool1d() dilation must be an int, list of ints or tuple of ints of size 1 but got size 2"),
    (lambda lib, F, nn: F.max_pool1d(lib.randn(2, 4, 10), 0), RuntimeError,
     "max_pool1d() kernel_size must be greater than zero, but got 0"),
    (lambda lib, F, nn: F.max_pool1d(lib.randn(2, 4, 10), 2, stride=0), RuntimeError,
     "max_pool1d() stride must be greater than zero, but got 0"),
    (lambda lib, F, nn: F.max_pool1d(lib.randn(2, 4, 10), 2, padding=-1), RuntimeError,
     "max_pool1d() padding must be non-negative, but got -1"),
    (lambda lib, F, nn: F.max_pool1d(lib.randn(2, 4, 10), 2, dilation=0), RuntimeError,
     "max_pool1d() dilation must be greater than zero, but got 0"),
    (lambda lib, F, nn: F.avg_pool1d(lib.randn(2, 4, 10), (2, 2)), RuntimeError,
     "avg_pool1d() argument 'kernel_size' should contain one int (got 2)"),
    (lambda lib, F, nn: F.avg_pool1d(lib.randn(2, 4, 10), 2, stride=(1, 2)), RuntimeError,
     "avg_pool1d() argument 'stride' should contain one int (got 2)"),
    (lambda lib, F, nn: F.avg_pool1d(lib.randn(2, 4, 10), 2, stride=0), RuntimeError, "stride should not be zero"),
    (lambda lib, F, nn: F.avg_pool1d(lib.randn(2, 4, 10), 0, stride=1), RuntimeError,
     "kernel size should be greater than zero, but got kH: 1 kW: 0"),
    (lambda lib, F, nn: F.avg_pool1d(lib.randn(2, 4, 10), 2, stride=-1), RuntimeError,
     "stride should be greater than zero, but got dH: 1 dW: -1"),
    (lambda lib, F, nn: F.avg_pool1d(lib.randn(2, 4, 10), 2, padding=-1), RuntimeError,
     "pad must be non-negative, but got pad: -1"),
    (lambda lib, F, nn: nn.Conv1d(4, 6, 3, padding_mode="foo"), ValueError,
     "padding_mode must be one of {"),
    (lambda lib, F, nn: nn.Conv1d(4, 6, 3, groups=3), ValueError, "in_channels must be divisible by groups"),
    (lambda lib, F, nn: nn.Conv1d(4, 6, 3, groups=4), ValueError, "out_channels must be divisible by groups"),
    (lambda lib, F, nn: nn.Conv1d(4, 6, 3, padding="same", stride=2), ValueError,
     "padding='same' is not supported for strided convolutions"),
    (lambda lib, F, nn: F.pixel_shuffle(lib.randn(2, 5, 3, 3), 2), RuntimeError,
     "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of upscale_factor, but "
     "input.size(-3)=5 is not divisible by 4"),
    (lambda lib, F, nn: F.pixel_shuffle(lib.randn(5, 3), 2), RuntimeError,
     "pixel_shuffle expects input to have at least 3 dimensions, but got input with 2 dimension(s)"),
    (lambda lib, F, nn: F.pixel_shuffle(lib.randn(2, 8, 3, 3), 0), RuntimeError,
     "pixel_shuffle expects a positive upscale_factor, but got 0"),
    (lambda lib, F, nn: F.pixel_unshuffle(lib.randn(2, 5, 3, 4), 2), RuntimeError,
     "pixel_unshuffle expects height to be divisible by downscale_factor, but input.size(-2)=3 is not divisible by 2"),
    (lambda lib, F, nn: F.pixel_unshuffle(lib.randn(2, 5, 4, 3), 2), RuntimeError,
     "pixel_unshuffle expects width to be divisible by downscale_factor, but input.size(-1)=3 is not divisible by 2"),
    (lambda lib, F, nn: F.pixel_unshuffle(lib.randn(3, 3), 2), RuntimeError,
     "pixel_unshuffle expects input to have at least 3 dimensions, but got input with 2 dimension(s)"),
    (lambda lib, F, nn: nn.GroupNorm(3, 4), ValueError, "num_channels (4) must be divisible by num_groups (3)"),
    (lambda lib, F, nn: F.group_norm(lib.randn(2, 4, 5), 3), RuntimeError,
     "Expected number of channels in input to be divisible by num_groups, but got input of shape [2, 4, 5] and "
     "num_groups=3"),
    (lambda lib, F, nn: F.group_norm(lib.randn(4), 2), RuntimeError,
     "Expected at least 2 dimensions for input tensor but received 1"),
    (lambda lib, F, nn: F.group_norm(lib.randn(2, 4, 5), 2, lib.ones(3)), RuntimeError,
     "Expected weight to be a vector of size equal to the number of channels in input, but got weight of shape [3] "
     "and input of shape [2, 4, 5]"),
    (lambda lib, F, nn: nn.InstanceNorm1d(3)(lib.randn(2, 3, 4, 5)), ValueError,
     "expected 2D or 3D input (got 4D input)"),
    (lambda lib, F, nn: nn.InstanceNorm2d(3)(lib.randn(2, 3)), ValueError, "expected 3D or 4D input (got 2D input)"),
    (lambda lib, F, nn: nn.InstanceNorm1d(3, affine=True)(lib.randn(2, 4, 5)), ValueError,
     "expected input's size at dim=1 to match num_features (3), but got: 4."),
    (lambda lib, F, nn: F.instance_norm(lib.randn(2, 3, 1)), ValueError,
     "Expected more than 1 spatial element when training, got input size "),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_error_messages(i):
    fn, exc, msg = ERRORS[i]
    with pytest.raises(exc, match=re.escape(msg)):
        fn(rg, F, nn)


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_error_messages_are_pytorchs(i):
    torch = pytest.importorskip("torch")
    fn, exc, msg = ERRORS[i]
    with pytest.raises(exc, match=re.escape(msg)):
        fn(torch, torch.nn.functional, torch.nn)


def test_instance_norm_warns_on_channel_mismatch_without_affine():
    with pytest.warns(UserWarning, match=re.escape("input's size at dim=1 does not match num_features")):
        out = nn.InstanceNorm1d(3)(rg.randn(2, 4, 5))
    assert out.shape == (2, 4, 5)


def test_no_warning_when_channels_match():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.InstanceNorm1d(3)(rg.randn(2, 3, 5))


# ----- reprs ---------------------------------------------------------------------------------------

REPRS = [
    lambda nn: nn.Conv1d(4, 6, 3),
    lambda nn: nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2, bias=False, padding_mode="reflect"),
    lambda nn: nn.Conv1d(4, 6, (3,), padding="same"),
    lambda nn: nn.MaxPool1d(3),
    lambda nn: nn.MaxPool1d(3, 2, 1, 2, True, True),
    lambda nn: nn.AvgPool1d(3),
    lambda nn: nn.AvgPool1d(3, 2, 1, True, False),
    lambda nn: nn.AdaptiveAvgPool1d(5),
    lambda nn: nn.Upsample(scale_factor=2),
    lambda nn: nn.Upsample(size=(3, 4), mode="bilinear", align_corners=True),
    lambda nn: nn.Upsample(scale_factor=(2, 3)),
    lambda nn: nn.UpsamplingNearest2d(scale_factor=2),
    lambda nn: nn.UpsamplingBilinear2d(size=4),
    lambda nn: nn.PixelShuffle(2),
    lambda nn: nn.PixelUnshuffle(3),
    lambda nn: nn.GroupNorm(2, 4),
    lambda nn: nn.GroupNorm(2, 4, eps=1e-3, affine=False),
    lambda nn: nn.GroupNorm(2, 4, bias=False),
    lambda nn: nn.InstanceNorm1d(3),
    lambda nn: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
    lambda nn: nn.InstanceNorm1d(3, eps=1e-3, momentum=None, affine=True, bias=False),
    lambda nn: nn.Sequential(nn.Conv1d(2, 4, 3), nn.GroupNorm(2, 4), nn.MaxPool1d(2), nn.AdaptiveAvgPool1d(1)),
]


def test_reprs_known():
    assert repr(REPRS[0](nn)) == "Conv1d(4, 6, kernel_size=(3,), stride=(1,))"
    assert repr(REPRS[15](nn)) == "GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)"
    assert repr(REPRS[18](nn)) == ("InstanceNorm1d(3, eps=1e-05, momentum=0.1, affine=False, bias=False, "
                                   "track_running_stats=False)")


@pytest.mark.parametrize("i", range(len(REPRS)))
def test_repr_matches_pytorch(i):
    torch = pytest.importorskip("torch")
    assert repr(REPRS[i](nn)) == repr(REPRS[i](torch.nn))


def test_state_dict_keys_match_pytorch():
    torch = pytest.importorskip("torch")
    for i in range(len(REPRS)):
        assert list(REPRS[i](nn).state_dict()) == list(REPRS[i](torch.nn).state_dict())


# ----- PyTorch parity: same weights, same outputs and gradients -----------------------------------

def _copy_weights(src, dst, torch):
    dst.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in src.state_dict().items()})


MODULE_CASES = [
    ("Conv1d", lambda nn: nn.Conv1d(4, 6, 3), (2, 4, 9)),
    ("Conv1d_strided", lambda nn: nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2), (2, 4, 9)),
    ("Conv1d_same_nobias", lambda nn: nn.Conv1d(4, 4, 4, padding="same", groups=4, bias=False), (2, 4, 9)),
    ("Conv1d_reflect", lambda nn: nn.Conv1d(3, 2, 3, padding=2, padding_mode="reflect"), (2, 3, 7)),
    ("Conv1d_circular", lambda nn: nn.Conv1d(3, 2, 3, padding=1, padding_mode="circular"), (3, 7)),
    ("Conv1d_replicate", lambda nn: nn.Conv1d(3, 2, 2, padding="same", padding_mode="replicate"), (2, 3, 7)),
    ("MaxPool1d", lambda nn: nn.MaxPool1d(3, 2, 1, ceil_mode=True), (2, 3, 10)),
    ("AvgPool1d", lambda nn: nn.AvgPool1d(4, 3, 2, ceil_mode=True, count_include_pad=False), (2, 3, 10)),
    ("AdaptiveAvgPool1d", lambda nn: nn.AdaptiveAvgPool1d(4), (2, 3, 10)),
    ("Upsample_nearest", lambda nn: nn.Upsample(scale_factor=2), (1, 2, 3, 4)),
    ("Upsample_bilinear", lambda nn: nn.Upsample(size=(5, 7), mode="bilinear"), (1, 2, 3, 4)),
    ("UpsamplingBilinear2d", lambda nn: nn.UpsamplingBilinear2d(scale_factor=2), (1, 2, 3, 4)),
    ("UpsamplingNearest2d", lambda nn: nn.UpsamplingNearest2d(size=(6, 5)), (1, 2, 3, 4)),
    ("Upsample_nearest_1d", lambda nn: nn.Upsample(scale_factor=2.5), (1, 2, 3)),
    ("Upsample_nearest_1d_size", lambda nn: nn.Upsample(size=8), (2, 2, 5)),
    ("Upsample_linear_1d", lambda nn: nn.Upsample(scale_factor=1.7, mode="linear"), (2, 2, 5)),
    ("Upsample_linear_1d_corners", lambda nn: nn.Upsample(size=9, mode="linear", align_corners=True), (2, 2, 5)),
    ("Upsample_area_1d", lambda nn: nn.Upsample(size=3, mode="area"), (2, 2, 7)),
    ("PixelShuffle", lambda nn: nn.PixelShuffle(2), (2, 8, 3, 2)),
    ("PixelUnshuffle", lambda nn: nn.PixelUnshuffle(2), (2, 2, 4, 6)),
    ("GroupNorm", lambda nn: nn.GroupNorm(3, 6, eps=1e-3), (2, 6, 5)),
    ("GroupNorm4d", lambda nn: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    ("InstanceNorm1d", lambda nn: nn.InstanceNorm1d(3), (2, 3, 7)),
    ("InstanceNorm2d_affine", lambda nn: nn.InstanceNorm2d(3, affine=True), (2, 3, 4, 5)),
    ("InstanceNorm2d_unbatched", lambda nn: nn.InstanceNorm2d(3, affine=True), (3, 4, 5)),
]


@pytest.mark.parametrize("name,make,shape", MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
def test_module_matches_pytorch(name, make, shape):
    torch = pytest.importorskip("torch")
    mine = make(nn).double()
    theirs = make(torch.nn).double()
    # Non-trivial affine parameters, then the same weights in both.
    with rg.no_grad():
        for k, p in enumerate(mine.parameters()):
            p.copy_(t64(rnd(*p.shape, seed=10 + k)))
    _copy_weights(mine, theirs, torch)
    x = rnd(*shape, seed=3)
    xm, xt = t64(x, True), torch.tensor(x, requires_grad=True)
    out_m, out_t = mine(xm), theirs(xt)
    np.testing.assert_allclose(out_m.detach().numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rnd(*out_t.shape, seed=4)
    out_m.backward(t64(g))
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (n1, p1), (n2, p2) in zip(mine.named_parameters(), theirs.named_parameters()):
        assert n1 == n2
        np.testing.assert_allclose(p1.grad.numpy(), p2.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_max_pool1d_indices_match_pytorch():
    torch = pytest.importorskip("torch")
    x = rnd(2, 3, 11)
    for kw in [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, dilation=2, ceil_mode=True)]:
        o, i = F.max_pool1d(t64(x), return_indices=True, **kw)
        to, ti = torch.nn.functional.max_pool1d(torch.tensor(x), return_indices=True, **kw)
        np.testing.assert_array_equal(o.numpy(), to.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())


def test_instance_norm_running_stats_match_pytorch():
    torch = pytest.importorskip("torch")
    mine = nn.InstanceNorm2d(3, affine=True, track_running_stats=True, momentum=0.3).double()
    theirs = torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True, momentum=0.3).double()
    for step in range(3):
        x = rnd(2, 3, 4, 4, seed=step)
        np.testing.assert_allclose(mine(t64(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
    for key in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(mine, key).numpy(), getattr(theirs, key).numpy(), rtol=1e-12)
    mine.eval()
    theirs.eval()
    x = rnd(2, 3, 4, 4, seed=9)
    np.testing.assert_allclose(mine(t64(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                               atol=1e-12)
