"""F.affine_grid and F.grid_sample (4-D, bilinear/nearest, zeros/border/reflection): values against a
NumPy loop reference, gradients (input and grid) against finite differences and PyTorch, PyTorch's
warnings and errors."""

import re
import warnings

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck

from op_testing import n

ALIGN_MSG = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
             "Please specify align_corners=True if the old behavior is desired. See the documentation of "
             "grid_sample for details.")


# ----- NumPy reference ----------------------------------------------------------------------------

def np_affine_grid(theta, size, align_corners):
    def lin(s):
        if s <= 1:
            return np.zeros(1)
        r = np.linspace(-1, 1, s)
        return r if align_corners else r * (s - 1) / s
    N, _, H, W = size
    ys, xs = np.meshgrid(lin(H), lin(W), indexing="ij")
    base = np.stack([xs, ys, np.ones_like(xs)], -1)  # (H, W, 3)
    return np.einsum("hwk,njk->nhwj", base, theta)


def np_reflect(c, lo2, hi2):
    if lo2 == hi2:
        return 0.0
    lo, span = lo2 / 2, (hi2 - lo2) / 2
    c = abs(c - lo)
    flips = np.floor(c / span)
    extra = np.fmod(c, span)
    return extra + lo if flips % 2 == 0 else span - extra + lo


def np_source(c, size, pad, ac):
    c = (c + 1) / 2 * (size - 1) if ac else ((c + 1) * size - 1) / 2
    if pad == "border":
        c = min(max(c, 0), size - 1)
    elif pad == "reflection":
        c = np_reflect(c, 0, 2 * (size - 1)) if ac else np_reflect(c, -1, 2 * size - 1)
        c = min(max(c, 0), size - 1)
    return c


def np_grid_sample(x, g, mode, pad, ac):
    N, C, H, W = x.shape
    _, Ho, Wo, _ = g.shape
    out = np.zeros((N, C, Ho, Wo))

    def px(b, yy, xx):
        return x[b, :, yy, xx] if 0 <= yy < H and 0 <= xx < W else np.zeros(C)
    for b in range(N):
        for i in range(Ho):
            for j in range(Wo):
                ix = np_source(g[b, i, j, 0], W, pad, ac)
                iy = np_source(g[b, i, j, 1], H, pad, ac)
                if mode == "nearest":
                    out[b, :, i, j] = px(b, int(np.rint(iy)), int(np.rint(ix)))
                    continue
                x0, y0 = int(np.floor(ix)), int(np.floor(iy))
                fx, fy = ix - x0, iy - y0
                out[b, :, i, j] = (px(b, y0, x0) * (1 - fx) * (1 - fy) + px(b, y0, x0 + 1) * fx * (1 - fy)
                                   + px(b, y0 + 1, x0) * (1 - fx) * fy + px(b, y0 + 1, x0 + 1) * fx * fy)
    return out


def data(seed=0, shape=(2, 3, 4, 5), out_hw=(3, 4), spread=1.3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    g = rng.uniform(-spread, spread, (shape[0], *out_hw, 2))
    return x, g


# ----- affine_grid --------------------------------------------------------------------------------

@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 7, 2), (2, 1, 1, 3)])
def test_affine_grid_values(align_corners, size):
    theta = np.random.default_rng(1).standard_normal((2, 2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = F.affine_grid(rg.tensor(theta), size, align_corners=align_corners)
    assert out.shape == (size[0], size[2], size[3], 2)
    np.testing.assert_allclose(n(out), np_affine_grid(theta, size, align_corners), rtol=1e-12, atol=1e-14)


def test_affine_grid_identity_and_grad():
    eye = rg.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=rg.float64)
    g = F.affine_grid(eye, (1, 1, 2, 3), align_corners=True)
    np.testing.assert_allclose(n(g)[0, :, :, 0], [[-1, 0, 1], [-1, 0, 1]])
    np.testing.assert_allclose(n(g)[0, :, :, 1], [[-1, -1, -1], [1, 1, 1]])
    theta = rg.randn(2, 2, 3, dtype=rg.float64).requires_grad_()
    assert gradcheck(lambda t: F.affine_grid(t, (2, 1, 3, 4), align_corners=False), (theta,))


def test_affine_grid_warnings_and_errors():
    th = rg.randn(2, 2, 3)
    with pytest.warns(UserWarning, match=re.escape(ALIGN_MSG)):
        F.affine_grid(th, (2, 3, 4, 5))
    with pytest.warns(UserWarning, match=re.escape("Since version 1.3.0, affine_grid behavior has changed for "
                                                   "unit-size grids when align_corners=True.")):
        F.affine_grid(th, (2, 3, 1, 5), align_corners=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.affine_grid(th, (2, 3, 4, 5), align_corners=False)  # no warning
    cases = [
        (lambda: F.affine_grid(th, (2, 3, 4), align_corners=False), NotImplementedError,
         "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, respectively. Got size (2, 3, 4)."),
        (lambda: F.affine_grid(th.long(), (2, 3, 4, 5), align_corners=False), ValueError,
         "Expected theta to have floating point type, but got"),
        (lambda: F.affine_grid(rg.randn(2, 3, 3), (2, 3, 4, 5), align_corners=False), ValueError,
         "Expected a batch of 2D affine matrices of shape Nx2x3 for size (2, 3, 4, 5). Got"),
        (lambda: F.affine_grid(th, (2, 3, 4, 5, 6), align_corners=False), ValueError,
         "Expected a batch of 3D affine matrices of shape Nx3x4 for size (2, 3, 4, 5, 6). Got"),
        (lambda: F.affine_grid(th, (2, 3, 0, 5), align_corners=False), ValueError,
         "Expected non-zero, positive output size. Got (2, 3, 0, 5)"),
        (lambda: F.affine_grid(th, (3, 3, 4, 5), align_corners=False), RuntimeError,
         "Expected size for first two dimensions of batch2 tensor to be: [3, 3] but got: [2, 3]."),
    ]
    for call, exc, msg in cases:
        with pytest.raises(exc, match=re.escape(msg)):
            call()


# ----- grid_sample --------------------------------------------------------------------------------

MODES = [(m, p, a) for m in ("bilinear", "nearest") for p in ("zeros", "border", "reflection") for a in (False, True)]


@pytest.mark.parametrize("mode,pad,ac", MODES)
def test_grid_sample_values(mode, pad, ac):
    x, g = data(seed=3)
    out = F.grid_sample(rg.tensor(x), rg.tensor(g), mode=mode, padding_mode=pad, align_corners=ac)
    assert out.shape == (2, 3, 3, 4)
    np.testing.assert_allclose(n(out), np_grid_sample(x, g, mode, pad, ac), rtol=1e-12, atol=1e-12)


def test_grid_sample_identity():
    x = rg.randn(1, 2, 4, 5, dtype=rg.float64)
    eye = rg.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=rg.float64)
    for ac in (False, True):
        out = F.grid_sample(x, F.affine_grid(eye, (1, 2, 4, 5), align_corners=ac), align_corners=ac)
        np.testing.assert_allclose(n(out), n(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pad", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("ac", [False, True])
def test_grid_sample_gradcheck(pad, ac):
    x, g = data(seed=5, shape=(1, 2, 3, 4), out_hw=(2, 3))
    xt = rg.tensor(x).requires_grad_()
    gt = rg.tensor(g).requires_grad_()
    assert gradcheck(lambda a, b: F.grid_sample(a, b, padding_mode=pad, align_corners=ac), (xt, gt))


def test_grid_sample_nearest_grads():
    x, g = data(seed=6, shape=(1, 2, 3, 4), out_hw=(2, 3))
    xt = rg.tensor(x).requires_grad_()
    gt = rg.tensor(g).requires_grad_()
    assert gradcheck(lambda a: F.grid_sample(a, gt.detach(), mode="nearest", align_corners=False), (xt,))
    F.grid_sample(xt, gt, mode="nearest", align_corners=False).sum().backward()
    assert gt.grad is not None and not n(gt.grad).any()


def test_grid_sample_warnings_and_errors():
    x, g = rg.randn(2, 3, 4, 5), rg.rand(2, 6, 7, 2) * 2 - 1
    with pytest.warns(UserWarning, match=re.escape(ALIGN_MSG)):
        F.grid_sample(x, g)
    cases = [
        (lambda: F.grid_sample(x, g, mode="foo", align_corners=False), ValueError,
         "nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: 'foo'"),
        (lambda: F.grid_sample(x, g, padding_mode="foo", align_corners=False), ValueError,
         "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or 'reflection', but got: 'foo'"),
        (lambda: F.grid_sample(x, g[:1], align_corners=False), RuntimeError,
         "grid_sampler(): expected grid and input to have same batch size, but got input with sizes [2, 3, 4, 5] and "
         "grid with sizes [1, 6, 7, 2]"),
        (lambda: F.grid_sample(x, g[..., :1], align_corners=False), RuntimeError,
         "grid_sampler(): expected grid to have size 2 in last dimension, but got grid with sizes [2, 6, 7, 1]"),
        (lambda: F.grid_sample(x[0], g, align_corners=False), RuntimeError,
         "grid_sampler(): expected grid and input to have same batch size, but got input with sizes [3, 4, 5] and "
         "grid with sizes [2, 6, 7, 2]"),
        (lambda: F.grid_sample(x, g.double(), align_corners=False), RuntimeError,
         "expected scalar type Float but found Double"),
        (lambda: F.grid_sample(rg.randn(2, 3, 0, 5), g, align_corners=False), RuntimeError,
         "grid_sampler(): expected input to have non-empty spatial dimensions, but input has sizes [2, 3, 0, 5] with "
         "dimension 2 being empty"),
        (lambda: F.grid_sample(x, g, mode="bicubic", align_corners=False), NotImplementedError, "bicubic"),
    ]
    for call, exc, msg in cases:
        with pytest.raises(exc, match=re.escape(msg)):
            call()


# ----- PyTorch parity -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode,pad,ac", MODES)
def test_grid_sample_torch(mode, pad, ac):
    torch = pytest.importorskip("torch")
    x, g = data(seed=7, shape=(2, 3, 5, 6), out_hw=(4, 7), spread=1.5)
    xr, gr = rg.tensor(x, requires_grad=True), rg.tensor(g, requires_grad=True)
    xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
    o1 = F.grid_sample(xr, gr, mode=mode, padding_mode=pad, align_corners=ac)
    o2 = torch.nn.functional.grid_sample(xt, gt, mode=mode, padding_mode=pad, align_corners=ac)
    np.testing.assert_allclose(n(o1), o2.detach().numpy(), rtol=1e-12, atol=1e-13)
    w = np.random.default_rng(8).standard_normal(o2.shape)
    (o1 * rg.tensor(w)).sum().backward()
    (o2 * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(n(xr.grad), xt.grad.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(n(gr.grad), gt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_affine_grid_sample_torch_float32():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    theta = (np.eye(2, 3) + 0.3 * rng.standard_normal((2, 2, 3))).astype(np.float32)
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    for ac in (False, True):
        thr, tht = rg.tensor(theta, requires_grad=True), torch.tensor(theta, requires_grad=True)
        gr = F.affine_grid(thr, (2, 3, 4, 7), align_corners=ac)
        gt = torch.nn.functional.affine_grid(tht, (2, 3, 4, 7), align_corners=ac)
        np.testing.assert_allclose(n(gr), gt.detach().numpy(), rtol=1e-6, atol=1e-6)
        o1 = F.grid_sample(rg.tensor(x), gr, align_corners=ac)
        o2 = torch.nn.functional.grid_sample(torch.tensor(x), gt, align_corners=ac)
        np.testing.assert_allclose(n(o1), o2.detach().numpy(), rtol=1e-5, atol=1e-5)
        o1.sum().backward()
        o2.sum().backward()
        np.testing.assert_allclose(n(thr.grad), tht.grad.numpy(), rtol=1e-4, atol=1e-4)
    th3 = rng.standard_normal((2, 3, 4))
    np.testing.assert_allclose(n(F.affine_grid(rg.tensor(th3), (2, 1, 3, 4, 5), align_corners=False)),
                               torch.nn.functional.affine_grid(torch.tensor(th3), (2, 1, 3, 4, 5),
                                                               align_corners=False).numpy(), rtol=1e-12, atol=1e-14)
