"""autocast's casting, against PyTorch's CPU autocast: which dtype each listed op computes in,
nesting, the decorator, and float32 gradients for float32 leaves.

Needs the half dtypes (rustgrad.bfloat16 / rustgrad.float16, with .to(dtype)): the dtypes branch."""

import numpy as np
import pytest

import rustgrad
import rustgrad.nn.functional as F

torch = pytest.importorskip("torch")


def _pair(shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return rustgrad.tensor(x), torch.tensor(x)


def _name(dtype):
    return str(dtype).split(".")[-1]


# name -> (how to call it with a library, input shapes); each input is given as float32 and as bfloat16.
CASES = {
    "matmul": (lambda lib, a, b: a @ b, [(2, 3), (3, 4)]),
    "mm": (lambda lib, a, b: lib.mm(a, b), [(2, 3), (3, 4)]),
    "bmm": (lambda lib, a, b: lib.bmm(a, b), [(2, 2, 3), (2, 3, 4)]),
    "addmm": (lambda lib, a, b, c: lib.addmm(a, b, c), [(2, 4), (2, 3), (3, 4)]),
    "baddbmm": (lambda lib, a, b, c: lib.baddbmm(a, b, c), [(2, 2, 4), (2, 2, 3), (2, 3, 4)]),
    "linear": (lambda lib, a, w, b: lib.nn.functional.linear(a, w, b), [(2, 3), (4, 3), (4,)]),
    "conv2d": (lambda lib, a, w: lib.nn.functional.conv2d(a, w), [(1, 2, 5, 5), (3, 2, 3, 3)]),
    "softmax": (lambda lib, a: lib.softmax(a, 0), [(3, 4)]),
    "log_softmax": (lambda lib, a: lib.nn.functional.log_softmax(a, 1), [(3, 4)]),
    "exp": (lambda lib, a: lib.exp(a), [(3,)]),
    "sum": (lambda lib, a: a.sum(), [(3, 4)]),
    "prod": (lambda lib, a: a.prod(), [(3,)]),
    "layer_norm": (lambda lib, a: lib.nn.functional.layer_norm(a, (4,)), [(3, 4)]),
    "mse_loss": (lambda lib, a, b: lib.nn.functional.mse_loss(a, b), [(3, 4), (3, 4)]),
    "l1_loss": (lambda lib, a, b: lib.nn.functional.l1_loss(a, b), [(3, 4), (3, 4)]),
    "cross_entropy": (lambda lib, a: lib.nn.functional.cross_entropy(a, lib.tensor([0, 1, 3])), [(3, 4)]),
    "bce_with_logits": (lambda lib, a, b: lib.nn.functional.binary_cross_entropy_with_logits(a, b.sigmoid()),
                        [(3,), (3,)]),
    "cat": (lambda lib, a, b: lib.cat([a, b]), [(2, 3), (2, 3)]),
    "stack": (lambda lib, a, b: lib.stack([a, b]), [(2, 3), (2, 3)]),
    "add": (lambda lib, a, b: a + b, [(2, 3), (2, 3)]),
    "relu": (lambda lib, a: lib.relu(a), [(3,)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtypes", ["float32", "bfloat16", "mixed"])
def test_cpu_autocast_computes_each_op_in_pytorchs_dtype(name, dtypes):
    fn, shapes = CASES[name]
    ours, theirs = [], []
    for i, shape in enumerate(shapes):
        a, b = _pair(shape, seed=i)
        low = dtypes == "bfloat16" or (dtypes == "mixed" and i % 2 == 1)
        ours.append(a.to(rustgrad.bfloat16) if low else a)
        theirs.append(b.to(torch.bfloat16) if low else b)
    with torch.autocast("cpu"):
        expected = fn(torch, *theirs)
    with rustgrad.autocast("cpu"):
        got = fn(rustgrad, *ours)
    assert _name(got.dtype) == _name(expected.dtype)
    tol = 3e-2 if _name(expected.dtype) == "bfloat16" else 1e-2
    np.testing.assert_allclose(got.float().detach().numpy(), expected.float().detach().numpy(), rtol=tol, atol=tol)


def test_autocast_outside_the_region_and_float64_untouched():
    a, _ = _pair((2, 2))
    with rustgrad.autocast("cpu"):
        assert (a @ a).dtype == rustgrad.bfloat16
        assert (a.double() @ a.double()).dtype == rustgrad.float64
        with rustgrad.autocast("cpu", enabled=False):
            assert (a @ a).dtype == rustgrad.float32
        assert (a @ a).dtype == rustgrad.bfloat16
        assert rustgrad.get_autocast_dtype("cpu") == rustgrad.bfloat16
    assert (a @ a).dtype == rustgrad.float32
    with rustgrad.autocast("cpu", dtype=rustgrad.float16):
        assert (a @ a).dtype == rustgrad.float16
        assert rustgrad.is_autocast_enabled("cpu")
    assert not rustgrad.is_autocast_enabled("cpu")


def test_autocast_decorator_and_deprecated_cpu_spelling():
    @rustgrad.autocast("cpu")
    def product(a):
        return a @ a

    a, _ = _pair((2, 2))
    assert product(a).dtype == rustgrad.bfloat16
    with pytest.warns(FutureWarning, match=r"`torch.cpu.amp.autocast\(args...\)` is deprecated"):
        with rustgrad.cpu.amp.autocast():
            assert (a @ a).dtype == rustgrad.bfloat16


def test_autocast_unsupported_cpu_dtype_warns_and_disables():
    a, _ = _pair((2, 2))
    with pytest.warns(UserWarning, match="In CPU autocast, but the target dtype is not supported"):
        with rustgrad.autocast("cpu", dtype=rustgrad.float64):
            assert (a @ a).dtype == rustgrad.float32


def test_autocast_training_step_gives_float32_gradients():
    rustgrad.manual_seed(0)
    model = rustgrad.nn.Linear(3, 2)
    x, target = rustgrad.randn(4, 3), rustgrad.tensor([0, 1, 1, 0])
    with rustgrad.autocast("cpu"):
        logits = model(x)
        loss = F.cross_entropy(logits, target)
    assert logits.dtype == rustgrad.bfloat16 and loss.dtype == rustgrad.float32
    loss.backward()
    assert model.weight.grad.dtype == rustgrad.float32
    # the same step in float32: bfloat16's 8-bit mantissa keeps the gradient within a few percent
    model.zero_grad()
    F.cross_entropy(model(x), target).backward()
    reference = model.weight.grad.numpy().copy()
    model.zero_grad()
    with rustgrad.autocast("cpu"):
        F.cross_entropy(model(x), target).backward()
    np.testing.assert_allclose(model.weight.grad.numpy(), reference, rtol=5e-2, atol=5e-2)


class _Product(rustgrad.autograd.Function):
    @staticmethod
    @rustgrad.amp.custom_fwd(device_type="cpu", cast_inputs=rustgrad.float32)
    def forward(ctx, a, b):
        _Product.inner = (a.dtype, b.dtype, rustgrad.is_autocast_enabled("cpu"), (a @ b).dtype)
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    @rustgrad.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad @ b.t(), a.t() @ grad


def test_custom_fwd_cast_inputs_runs_forward_without_autocast():
    a = rustgrad.ones(2, 2).to(rustgrad.bfloat16).requires_grad_()
    b = rustgrad.ones(2, 2, requires_grad=True)
    with rustgrad.autocast("cpu"):
        out = _Product.apply(a, b)
    assert out.dtype == rustgrad.float32
    assert _Product.inner == (rustgrad.float32, rustgrad.float32, False, rustgrad.float32)
    out.sum().backward()
    assert b.grad.tolist() == [[2.0, 2.0], [2.0, 2.0]]
