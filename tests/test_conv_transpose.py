"""conv_transpose2d / nn.ConvTranspose2d: values against a direct numpy scatter, gradients by finite
differences, PyTorch's errors, and parity with PyTorch when it is installed."""

import re

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck, gradgradcheck


def np_conv_transpose2d(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), groups=1,
                        dilation=(1, 1)):
    """Each input pixel scatters its weighted kernel into the (padded) output."""
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    cout = cog * groups
    oh = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    ow = (wd - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    full = np.zeros((n, cout, oh + 2 * padding[0] + kh * dilation[0], ow + 2 * padding[1] + kw * dilation[1]))
    cig = cin // groups
    for g in range(groups):
        for ci in range(g * cig, (g + 1) * cig):
            for co in range(cog):
                for i in range(h):
                    for j in range(wd):
                        for a in range(kh):
                            for c in range(kw):
                                full[:, g * cog + co, i * stride[0] + a * dilation[0],
                                     j * stride[1] + c * dilation[1]] += x[:, ci, i, j] * w[ci, co, a, c]
    out = full[:, :, padding[0]:padding[0] + oh, padding[1]:padding[1] + ow]
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out


CASES = [  # (x shape, w shape, stride, padding, output_padding, groups, dilation, bias)
    ((1, 1, 1, 1), (1, 1, 1, 1), (1, 1), (0, 0), (0, 0), 1, (1, 1), False),
    ((2, 3, 4, 5), (3, 2, 3, 3), (1, 1), (0, 0), (0, 0), 1, (1, 1), True),
    ((2, 4, 5, 4), (4, 3, 3, 2), (2, 3), (1, 0), (1, 2), 1, (1, 1), True),
    ((1, 4, 3, 3), (4, 2, 3, 3), (2, 2), (1, 1), (0, 0), 2, (2, 1), True),
    ((3, 2, 6, 7), (2, 5, 4, 4), (2, 2), (1, 1), (0, 0), 1, (1, 1), False),  # the DCGAN up-block shape
    ((2, 6, 3, 3), (6, 1, 2, 2), (1, 1), (0, 0), (0, 0), 6, (1, 1), True),  # depthwise
]


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("case", CASES)
def test_matches_numpy(case):
    xs, ws, s, p, op, g, d, has_b = case
    x, w, b = rand(*xs), rand(*ws, seed=1), rand(ws[1] * g, seed=2)
    y = F.conv_transpose2d(rg.tensor(x), rg.tensor(w), rg.tensor(b) if has_b else None, s, p, op, g, d)
    expected = np_conv_transpose2d(x, w, b if has_b else None, s, p, op, g, d)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)
    y32 = F.conv_transpose2d(rg.tensor(x).float(), rg.tensor(w).float(), rg.tensor(b).float() if has_b else None,
                             s, p, op, g, d)
    np.testing.assert_allclose(y32.numpy(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", CASES[1:4])
def test_gradients(case):
    xs, ws, s, p, op, g, d, has_b = case
    x = rg.tensor(rand(*xs), requires_grad=True)
    w = rg.tensor(rand(*ws, seed=1), requires_grad=True)
    b = rg.tensor(rand(ws[1] * g, seed=2), requires_grad=True)
    fn = lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op, g, d)  # noqa: E731
    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


def test_unbatched_and_module():
    m = rg.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, bias=False, dilation=2)
    assert repr(m) == ("ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2), "
                       "output_padding=(1, 1), groups=2, bias=False)")
    assert m.weight.shape == (4, 3, 3, 3)
    assert repr(rg.nn.ConvTranspose2d(4, 6, 3)) == "ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(1, 1))"
    x = rg.randn(4, 5, 5)
    np.testing.assert_allclose(m(x).detach().numpy(), m(x.unsqueeze(0))[0].detach().numpy(), rtol=1e-6)
    up = rg.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    assert up(rg.randn(1, 2, 5, 5)).shape == (1, 3, 9, 9)
    assert up(rg.randn(1, 2, 5, 5), output_size=[10, 10]).shape == (1, 3, 10, 10)
    assert up(rg.randn(1, 2, 5, 5), output_size=(1, 3, 10, 10)).shape == (1, 3, 10, 10)
    with pytest.raises(ValueError, match=re.escape(
            "requested an output size of [12, 12], but valid sizes range from [9, 9] to [10, 10] (for an input of "
            "rustgrad.Size([5, 5]))")):
        up(rg.randn(1, 2, 5, 5), output_size=[12, 12])
    with pytest.raises(ValueError, match=re.escape('Only "zeros" padding mode is supported for ConvTranspose2d')):
        rg.nn.ConvTranspose2d(2, 3, 3, padding_mode="reflect")


@pytest.mark.parametrize("call,msg", [
    (lambda: F.conv_transpose2d(rg.randn(1, 5, 5, 5), rg.randn(4, 3, 3, 3)),
     "Given transposed=1, weight of size [4, 3, 3, 3], expected input[1, 5, 5, 5] to have 4 channels, but got 5 "
     "channels instead"),
    (lambda: F.conv_transpose2d(rg.randn(1, 5, 5, 5), rg.randn(5, 3, 3, 3), stride=2, output_padding=2),
     "output padding must be smaller than either stride or dilation, but got output_padding_height: 2 "
     "output_padding_width: 2 stride_height: 2 stride_width: 2 dilation_height: 1 dilation_width: 1"),
    (lambda: F.conv_transpose2d(rg.randn(1, 5, 5, 5), rg.randn(5, 3, 3, 3), groups=2),
     "Given groups=2, expected weight to be divisible by 2 at dimension 0, but got weight of size [[5, 3, 3, 3]] "
     "instead"),
    (lambda: F.conv_transpose2d(rg.randn(1, 5, 5, 5), rg.randn(5, 3, 3, 3), bias=rg.randn(4)),
     "Given transposed=1, weight of size [5, 3, 3, 3], expected bias to be 1-dimensional with 3 elements, but got "
     "bias of size [4] instead"),
    (lambda: F.conv_transpose2d(rg.randn(1, 5, 1, 1), rg.randn(5, 3, 3, 3), padding=2),
     "Given input size per channel: (1 x 1). Calculated output size per channel: (-1 x -1). Output size is too small"),
    (lambda: F.conv_transpose2d(rg.randn(1, 5, 5, 5), rg.randn(5, 3, 3, 3), stride=0),
     "non-positive stride is not supported"),
    (lambda: F.conv_transpose2d(rg.randn(1, 5, 5, 5), rg.randn(5, 3, 3, 3), padding=-1),
     "negative padding is not supported"),
    (lambda: F.conv_transpose2d(rg.randn(1, 5, 5, 5), rg.randn(5, 3, 3, 3).double()),
     "expected scalar type Float but found Double"),
])
def test_errors(call, msg):
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        call()


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_torch(case, dtype):
    torch = pytest.importorskip("torch")
    xs, ws, s, p, op, g, d, has_b = case
    x, w, b = (a.astype(dtype) for a in (rand(*xs), rand(*ws, seed=1), rand(ws[1] * g, seed=2)))
    results = []
    for lib in (rg, torch):
        X, W, B = (lib.tensor(a, requires_grad=True) for a in (x, w, b))
        y = lib.nn.functional.conv_transpose2d(X, W, B if has_b else None, s, p, op, g, d)
        (y * y).sum().backward()
        results.append([t.detach().numpy() for t in (y, X.grad, W.grad)] + ([B.grad.numpy()] if has_b else []))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, **tol)
