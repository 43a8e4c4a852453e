"""F.unfold / F.fold and nn.Unfold / nn.Fold: values against NumPy, fold as unfold's adjoint,
gradients against finite differences, PyTorch parity (values, unbatched input, reprs) and
PyTorch's errors."""

import re

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck

from op_testing import n
from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)


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
