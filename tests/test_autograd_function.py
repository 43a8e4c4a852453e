"""Custom ``autograd.Function``: PyTorch's semantics, checked three ways.

* The function classes are written once (``fns(lib)``) and built on ``lib.autograd.Function`` for
  ``lib`` in (rustgrad, torch): tests taking the ``lib`` fixture run the same class bodies and the
  same assertions on both, so every expected number and message here is also checked against
  ``torch.autograd.Function`` where torch imports (the torch half skips without it).
* ``*_matches_torch`` tests compute a result with both libraries and compare them (they import
  torch with ``pytest.importorskip``).
* float64 finite differences: ``rustgrad.autograd.gradcheck`` / ``gradgradcheck``.

Tests marked ``xfail(strict=True)`` document behaviours where rustgrad's Rust core differs from
PyTorch; their reasons name the file and function.
"""

import functools
import gc
import math
import re
import sys
import threading
import traceback
import types
import warnings

import numpy as np
import pytest

import rustgrad as rg
from rustgrad.autograd import gradcheck, gradgradcheck

HAS_CUDA = rg.cuda.is_available()


@pytest.fixture(params=["rustgrad", "torch"])
def lib(request):
    if request.param == "torch":
        return pytest.importorskip("torch")
    return rg


def lib_param(name, *marks):
    return pytest.param(name, marks=marks, id=name)


def get_lib(name):
    return pytest.importorskip("torch") if name == "torch" else rg


def t64(lib, values, requires_grad=True):
    return lib.tensor(values, dtype=lib.float64, requires_grad=requires_grad)


def vals(x):
    return x.detach().tolist()


def flat(v):
    """A nested list of numbers, flattened."""
    if isinstance(v, (list, tuple)):
        return [y for item in v for y in flat(item)]
    return [v]


def norm(msg):
    """A message with the library's own name taken out ("torch.float64" and "rustgrad.float64" alike)."""
    return msg.replace("rustgrad.", "LIB.").replace("torch.", "LIB.").replace("torch::autograd::", "")


def error_of(fn, exc=Exception):
    with pytest.raises(exc) as info:
        fn()
    return info.value


# --------------------------------------------------------------------------------------------------
# The function classes, one body for both libraries.

@functools.cache
def fns(lib):
    Function = lib.autograd.Function
    once_differentiable = lib.autograd.function.once_differentiable
    log = []  # what forward/backward saw, for tests to read

    class MyRelu(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * (x > 0).to(g.dtype)

    class MulScale(Function):
        """x * y * scale, ctx filled in forward."""

        @staticmethod
        def forward(ctx, x, y, scale):
            ctx.save_for_backward(x, y)
            ctx.scale = scale
            log.append(("forward", ctx.needs_input_grad))
            return x * y * scale

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            log.append(("backward", ctx.needs_input_grad))
            gx = g * y * ctx.scale if ctx.needs_input_grad[0] else None
            gy = g * x * ctx.scale if ctx.needs_input_grad[1] else None
            return gx, gy, None

    class MulScaleSetup(Function):
        """The same, with forward(x, y, scale) and setup_context(ctx, inputs, output)."""

        @staticmethod
        def forward(x, y, scale):
            return x * y * scale

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, y, scale = inputs
            ctx.save_for_backward(x, y)
            ctx.scale = scale
            log.append(("setup_context", ctx.needs_input_grad, tuple(output.shape)))

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            gx = g * y * ctx.scale if ctx.needs_input_grad[0] else None
            gy = g * x * ctx.scale if ctx.needs_input_grad[1] else None
            return gx, gy, None

    class Affine(Function):
        """Non-tensor arguments: an int, a float, None and a tuple."""

        @staticmethod
        def forward(ctx, x, k, bias, nothing, shape):
            assert nothing is None and isinstance(k, int) and isinstance(bias, float)
            ctx.in_shape = tuple(x.shape)
            ctx.k = k
            log.append(("affine", ctx.needs_input_grad))
            return x.reshape(shape) * k + bias

        @staticmethod
        def backward(ctx, g):
            return g.reshape(ctx.in_shape) * ctx.k, None, None, None, None

    class SinCos(Function):
        """Several outputs, one of them not a tensor: backward gets one gradient per output."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin(), 7, x.cos()

        @staticmethod
        def backward(ctx, g_sin, g_seven, g_cos):
            x, = ctx.saved_tensors
            log.append(("sincos", g_seven is None, g_sin is None, g_cos is None))
            return g_sin * x.cos() - g_cos * x.sin()

    class SaveKinds(Function):
        """Saves an input, an output, an intermediate, None and another input."""

        @staticmethod
        def forward(ctx, x, w):
            t = x * w
            out = t.tanh()
            ctx.save_for_backward(x, out, t, None, w)
            return out

        @staticmethod
        def backward(ctx, g):
            x, out, t, nothing, w = ctx.saved_tensors
            log.append(("savekinds", nothing is None, tuple(t.shape)))
            d = g * (1 - out * out)
            return d * w, (d * x).sum(0)

    class SaveIntermediate(Function):
        """The backward reads an intermediate computed in forward (so it has no graph of its own)."""

        @staticmethod
        def forward(ctx, x, w):
            t = x * w
            ctx.save_for_backward(t, x, w)
            return t.tanh()

        @staticmethod
        def backward(ctx, g):
            t, x, w = ctx.saved_tensors
            d = g * (1 - t.tanh() ** 2)
            return d * w, (d * x).sum(0)

    class ExpOut(Function):
        """Saves its output."""

        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            y, = ctx.saved_tensors
            return g * y

    class SaveInput(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * x

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 3 * x ** 2

    class CubeOnce(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            x, = ctx.saved_tensors
            log.append(("once", lib.is_grad_enabled()))
            return g * 3 * x * x

    class MulInplace(Function):
        """x.mul_(2) in forward, marked dirty."""

        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class DirtyNotReturned(Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class DirtyNotInput(Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            ctx.mark_dirty(y)
            return y

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class MarkDirtyOnly(Function):
        """Marks its input dirty without writing to it."""

        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    class Sort(Function):
        """values and indices; the indices are not differentiable."""

        @staticmethod
        def forward(ctx, x):
            values, indices = x.sort()
            ctx.mark_non_differentiable(indices)
            ctx.save_for_backward(indices)
            return values, indices

        @staticmethod
        def backward(ctx, g_values, g_indices):
            indices, = ctx.saved_tensors
            log.append(("sort", g_indices is None or (g_indices.dtype, vals(g_indices))))
            grad = lib.zeros_like(g_values)
            grad[indices] = g_values
            return grad

    class ArgMax(Function):
        @staticmethod
        def forward(ctx, x):
            i = x.argmax()
            ctx.mark_non_differentiable(i)
            return i

        @staticmethod
        def backward(ctx, g):
            return None

    class NonDiffFloat(Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            ctx.mark_non_differentiable(y)
            return y

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class TwoOut(Function):
        """x*2 and x*3; materialize_grads set from an argument."""

        @staticmethod
        def forward(ctx, x, materialize):
            ctx.set_materialize_grads(materialize)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g2, g3):
            log.append(("twoout", None if g2 is None else vals(g2), None if g3 is None else vals(g3)))
            grad = None
            if g2 is not None:
                grad = g2 * 2
            if g3 is not None:
                grad = g3 * 3 if grad is None else grad + g3 * 3
            return grad, None

    class WrongCount(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    class TooMany(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    class ExtraNones(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2, None, None

    class WrongShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return g.reshape(1).expand(2)

    class BroadcastGrad(Function):
        """Returns a gradient of shape [2, 3] (and float32) for a float64 [3] input."""

        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.expand(2, 3).to(lib.float32)

    class IntGrad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return 3

    class GradForNonTensor(Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g, g

    class SaveNonTensor(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, 3)
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g

    class Identity(Function):
        """Returns its input as it is."""

        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 5

    class UseSecond(Function):
        """The output is computed from the input that does not require grad."""

        @staticmethod
        def forward(ctx, a, b):
            return b * 2

        @staticmethod
        def backward(ctx, g):
            return g * 0 + 7, None

    class IntTimesFloat(Function):
        @staticmethod
        def forward(ctx, i, x):
            ctx.save_for_backward(i)
            return x * i

        @staticmethod
        def backward(ctx, g):
            i, = ctx.saved_tensors
            return None, g * i

    class AddConst(Function):
        @staticmethod
        def forward(ctx, a, k, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, None, g

    class BackwardError(Exception):
        pass

    class Boom(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            err = BackwardError("boom in backward")
            log.append(("boom", err))
            raise err  # THE-BACKWARD-LINE

    class ForwardBoom(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            raise KeyError("boom in forward")

        @staticmethod
        def backward(ctx, g):
            return g

    class SignSTE(Function):
        """Straight-through estimator: sign in forward, the gradient passed where |x| <= 1."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sign()

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * (x.abs() <= 1).to(g.dtype)

    class Linear(Function):
        """x @ w.T + b, for the threads test."""

        @staticmethod
        def forward(ctx, x, w, b):
            ctx.save_for_backward(x, w)
            return x.matmul(w.t()) + b

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            return g.matmul(w), g.t().matmul(x), g.sum(0)

    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            g2 = g * 2
            x_again, = ctx.saved_tensors  # read twice: the tensors must stay this call's
            return g2 * x_again

    ns = types.SimpleNamespace(**{k: v for k, v in locals().items() if isinstance(v, type)})
    ns.log = log
    ns.lib = lib
    return ns


# --------------------------------------------------------------------------------------------------
# 1. forward/backward, setup_context, non-tensor arguments, several outputs, needs_input_grad

@pytest.mark.parametrize("name", ["MulScale", "MulScaleSetup"])
def test_static_forward_backward_and_setup_context(lib, name):
    f = getattr(fns(lib), name)
    x, y = t64(lib, [1.0, 2.0, 3.0]), t64(lib, [4.0, 5.0, 6.0])
    out = f.apply(x, y, 2.0)
    assert vals(out) == [8.0, 20.0, 36.0]
    assert out.grad_fn.name() == name + "Backward"
    (out * t64(lib, [1.0, 10.0, 100.0], False)).sum().backward()
    assert vals(x.grad) == [8.0, 100.0, 1200.0]
    assert vals(y.grad) == [2.0, 40.0, 600.0]


def test_setup_context_sees_inputs_and_output(lib):
    ns = fns(lib)
    ns.log.clear()
    ns.MulScaleSetup.apply(t64(lib, [1.0, 2.0]), t64(lib, [3.0, 4.0], False), 0.5)
    assert ns.log == [("setup_context", (True, False, False), (2,))]


@pytest.mark.parametrize("name", ["MulScale", "MulScaleSetup", "SaveKinds", "Cube", "ExpOut", "MyRelu",
                                  "SinCosSum"])
def test_gradcheck_float64(name):
    ns = fns(rg)
    x = rg.tensor([[0.3, -1.2, 0.7], [1.5, -0.4, 2.0]], dtype=rg.float64, requires_grad=True)
    w = rg.tensor([0.9, -0.6, 1.1], dtype=rg.float64, requires_grad=True)
    if name in ("MulScale", "MulScaleSetup"):
        fn, inputs = (lambda a, b: getattr(ns, name).apply(a, b, 1.5)), (x, w)
    elif name == "SaveKinds":
        fn, inputs = ns.SaveKinds.apply, (x, w)
    elif name == "SinCosSum":
        fn, inputs = (lambda a: tuple(o for o in ns.SinCos.apply(a) if not isinstance(o, int))), (x,)
    else:
        fn, inputs = getattr(ns, name).apply, (x,)
    assert gradcheck(fn, inputs, eps=1e-6, atol=1e-6)


def test_gradcheck_catches_a_wrong_backward():
    class Wrong(rg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 3 * x  # should be 3 * x**2

    x = rg.tensor([0.5, 1.5], dtype=rg.float64, requires_grad=True)
    assert not gradcheck(Wrong.apply, (x,), raise_exception=False)


def test_non_tensor_arguments(lib):
    ns = fns(lib)
    ns.log.clear()
    x = t64(lib, [[1.0, 2.0], [3.0, 4.0]])
    out = ns.Affine.apply(x, 3, 0.5, None, (4,))
    assert tuple(out.shape) == (4,)
    assert vals(out) == [3.5, 6.5, 9.5, 12.5]
    assert ns.log == [("affine", (True, False, False, False, False))]
    assert len(out.grad_fn.next_functions) == 1  # one edge per tensor input
    (out * t64(lib, [1.0, 2.0, 3.0, 4.0], False)).sum().backward()
    assert vals(x.grad) == [[3.0, 6.0], [9.0, 12.0]]


def test_several_outputs_backward_gets_one_gradient_per_output(lib):
    ns = fns(lib)
    ns.log.clear()
    x = t64(lib, [0.0, 0.5, 1.0])
    s, seven, c = ns.SinCos.apply(x)
    assert seven == 7 and s.grad_fn.name() == c.grad_fn.name() == "SinCosBackward"
    (s.sum() + 2 * c.sum()).backward()
    # The non-tensor output's gradient is None; unused ones are not (materialized).
    assert ns.log == [("sincos", True, False, False)]
    expected = [math.cos(v) - 2 * math.sin(v) for v in (0.0, 0.5, 1.0)]
    assert vals(x.grad) == pytest.approx(expected, abs=1e-15)

    # Only one tensor output used: the other's gradient arrives as zeros.
    x.grad = None
    ns.log.clear()
    ns.SinCos.apply(x)[2].sum().backward()
    assert ns.log == [("sincos", True, False, False)]
    assert vals(x.grad) == pytest.approx([-math.sin(v) for v in (0.0, 0.5, 1.0)], abs=1e-15)


def test_backward_returning_none_for_inputs(lib):
    ns = fns(lib)
    ns.log.clear()
    x, y = t64(lib, [1.0, 2.0]), t64(lib, [3.0, 4.0], False)
    ns.MulScale.apply(x, y, 1.0).sum().backward()
    assert vals(x.grad) == [3.0, 4.0] and y.grad is None
    assert ns.log == [("forward", (True, False, False)), ("backward", (True, False, False))]

    # An input that requires grad but gets None from backward keeps .grad None.
    a, b = t64(lib, [1.0, 2.0]), t64(lib, [3.0, 4.0])
    ns.IntTimesFloat.apply(lib.tensor([2, 3]), a).sum().backward()
    assert vals(a.grad) == [2.0, 3.0]
    ns.UseSecond.apply(a, b.detach()).sum().backward()
    assert vals(a.grad) == [9.0, 10.0]
    # Returning more Nones than inputs is allowed.
    c = t64(lib, [1.0])
    ns.ExtraNones.apply(c).sum().backward()
    assert vals(c.grad) == [2.0]


@pytest.mark.parametrize("which", ["first", "second", "both", "neither"])
def test_needs_input_grad(lib, which):
    ns = fns(lib)
    ns.log.clear()
    x = t64(lib, [1.0, 2.0], which in ("first", "both"))
    y = t64(lib, [3.0, 4.0], which in ("second", "both"))
    out = ns.MulScale.apply(x, y, 2.0)
    flags = (x.requires_grad, y.requires_grad, False)
    assert ns.log == [("forward", flags)]
    assert out.requires_grad == (which != "neither")
    if which != "neither":
        out.sum().backward()
        assert ns.log[1] == ("backward", flags)
        assert (x.grad is not None) == x.requires_grad and (y.grad is not None) == y.requires_grad


# --------------------------------------------------------------------------------------------------
# 2. save_for_backward / saved_tensors and in-place changes of saved tensors

def test_saved_tensors_of_every_kind(lib):
    ns = fns(lib)
    ns.log.clear()
    x = t64(lib, [[0.1, -0.3], [0.5, 0.2]])
    w = t64(lib, [0.7, -1.2])
    ns.SaveKinds.apply(x, w).sum().backward()
    assert ns.log == [("savekinds", True, (2, 2))]
    xs, ws = vals(x), vals(w)
    d = [[1 - math.tanh(xs[i][j] * ws[j]) ** 2 for j in range(2)] for i in range(2)]
    assert flat(vals(x.grad)) == pytest.approx([d[i][j] * ws[j] for i in range(2) for j in range(2)], rel=1e-14)
    assert vals(w.grad) == pytest.approx([sum(d[i][j] * xs[i][j] for i in range(2)) for j in range(2)],
                                         rel=1e-14)


def test_save_for_backward_rejects_non_tensors(lib):
    err = error_of(lambda: fns(lib).SaveNonTensor.apply(t64(lib, [1.0, 2.0])), TypeError)
    assert str(err) == "save_for_backward can only save variables, but argument 1 is of type int"


def test_saved_tensors_freed_after_backward(lib):
    ns = fns(lib)
    x = t64(lib, [1.0, 2.0])
    out = ns.Cube.apply(x).sum()
    out.backward(retain_graph=True)
    out.backward()
    assert vals(x.grad) == [6.0, 24.0]
    err = error_of(out.backward, RuntimeError)
    assert str(err).startswith("Trying to backward through the graph a second time (or directly access saved "
                               "tensors after they have already been freed).")


def _inplace_cases(lib):
    """(name, thunk raising at backward) for a saved leaf, a saved non-leaf input, a saved output."""
    ns = fns(lib)

    def saved_leaf():
        x = t64(lib, [1.0, 2.0, 3.0])
        y = ns.SaveInput.apply(x)
        with lib.no_grad():
            x.mul_(1)
        y.sum().backward()

    def saved_nonleaf_input():
        x = t64(lib, [1.0, 2.0, 3.0])
        h = x * 1
        y = ns.SaveInput.apply(h)
        h.mul_(3)
        y.sum().backward()

    def saved_output():
        x = t64(lib, [1.0, 2.0, 3.0])
        y = ns.ExpOut.apply(x)
        with lib.no_grad():
            y.add_(1)
        y.sum().backward()

    return [("saved_leaf", saved_leaf), ("saved_nonleaf_input", saved_nonleaf_input),
            ("saved_output", saved_output)]


@pytest.mark.parametrize("case", ["saved_leaf", "saved_nonleaf_input", "saved_output"])
def test_inplace_change_of_saved_tensor_raises_at_backward(lib, case):
    thunk = dict(_inplace_cases(lib))[case]
    msg = norm(str(error_of(thunk, RuntimeError)))
    assert msg.startswith("one of the variables needed for gradient computation has been modified by an inplace "
                          "operation: [LIB.DoubleTensor [3]]")
    assert "is at version 1; expected version 0 instead. Hint: " in msg
    owner = {"saved_leaf": None, "saved_nonleaf_input": "Mul", "saved_output": "ExpOut"}[case]
    if owner is None:
        assert "which is output" not in msg
    else:
        assert re.search(rf"\], which is output 0 of {owner}(Backward\d*)?, is at version", msg), msg


@pytest.mark.parametrize("case", ["saved_leaf", "saved_nonleaf_input", "saved_output"])
def test_inplace_change_message_matches_torch(case):
    torch = pytest.importorskip("torch")
    ours = norm(str(error_of(dict(_inplace_cases(rg))[case], RuntimeError)))
    theirs = norm(str(error_of(dict(_inplace_cases(torch))[case], RuntimeError)))
    assert ours == theirs


def test_any_inplace_write_invalidates_a_saved_tensor_but_reads_do_not():
    ns = fns(rg)
    x = rg.tensor([1.0, 2.0], dtype=rg.float64, requires_grad=True)
    y = ns.SaveInput.apply(x)
    with rg.no_grad():
        x.add_(0)  # any in-place write counts, even one that changes nothing
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        y.sum().backward()
    x2 = rg.tensor([1.0, 2.0], dtype=rg.float64, requires_grad=True)
    y2 = ns.SaveInput.apply(x2)
    _ = x2 + 1  # out-of-place use changes nothing
    y2.sum().backward()
    assert vals(x2.grad) == [1.0, 2.0]


# --------------------------------------------------------------------------------------------------
# 3. mark_dirty, mark_non_differentiable, set_materialize_grads

def test_mark_dirty_inplace_on_non_leaf(lib):
    ns = fns(lib)
    x = t64(lib, [1.0, 2.0, 3.0])
    h = x * 1
    out = ns.MulInplace.apply(h)
    assert out is h
    assert vals(h) == [2.0, 4.0, 6.0]
    assert h.grad_fn.name() == "MulInplaceBackward"
    assert h.grad_fn.next_functions[0][0].name() == "MulBackward0"
    (out * t64(lib, [1.0, 10.0, 100.0], False)).sum().backward()
    assert vals(x.grad) == [2.0, 20.0, 200.0]


def test_mark_dirty_on_tensor_not_requiring_grad(lib):
    ns = fns(lib)
    z = lib.tensor([1.0, 2.0])
    out = ns.MulInplace.apply(z)
    assert out is z and vals(z) == [2.0, 4.0] and not z.requires_grad and z.grad_fn is None


def test_mark_dirty_leaf_requiring_grad_raises(lib):
    ns = fns(lib)
    x = t64(lib, [1.0, 2.0])
    err = error_of(lambda: ns.MulInplace.apply(x), RuntimeError)
    assert str(err) == "a leaf Variable that requires grad has been used in an in-place operation."
    assert vals(x) == [2.0, 4.0]  # forward ran before the check
    # Under no_grad the same call is allowed; the leaf comes back as a detached alias.
    with lib.no_grad():
        out = ns.MulInplace.apply(x)
    assert out is not x and out.grad_fn is None and not out.requires_grad
    assert out.data_ptr() == x.data_ptr() and vals(out) == [4.0, 8.0]
    assert x.requires_grad and x.is_leaf and x.grad_fn is None


@pytest.mark.parametrize("grad_mode", [True, False])
def test_mark_dirty_tensor_must_be_returned(lib, grad_mode):
    ns = fns(lib)
    h = t64(lib, [1.0, 2.0]) * 1
    with lib.set_grad_enabled(grad_mode):
        err = error_of(lambda: ns.DirtyNotReturned.apply(h), RuntimeError)
    assert str(err) == ("Some elements marked as dirty during the forward method were not returned as output. "
                        "The inputs that are modified inplace must all be outputs of the Function.")


def test_mark_dirty_on_a_non_input_warns(lib):
    ns = fns(lib)
    x = t64(lib, [1.0, 2.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = ns.DirtyNotInput.apply(x)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert any(m.startswith("ctx.mark_dirty() received a tensor that was not an input. Only input Tensors that "
                            "have been mutated should be passed to ctx.mark_dirty().") for m in messages), messages
    out.sum().backward()
    assert vals(x.grad) == [2.0, 2.0]
    # Nothing recorded, nothing to warn about.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with lib.no_grad():
            ns.DirtyNotInput.apply(x)
        ns.DirtyNotInput.apply(lib.ones(2))




@pytest.mark.parametrize("libname", [
    lib_param("rustgrad"),
    lib_param("torch"),
])
def test_mark_dirty_bumps_version(libname):
    lib = get_lib(libname)
    ns = fns(lib)
    h = t64(lib, [1.0, 2.0]) * 1
    before = h._version
    ns.MulInplace.apply(h)
    assert h._version - before == 2  # mul_ once, mark_dirty once
    # Marked dirty without a write: a tensor saved earlier is stale all the same.
    x = t64(lib, [1.0, 2.0])
    h = x * 1
    s = h.sin()  # saves h
    ns.MarkDirtyOnly.apply(h)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        s.sum().backward()




@pytest.mark.parametrize("libname", [
    lib_param("rustgrad"),
    lib_param("torch"),
])
def test_mark_dirty_on_a_view_rewrites_the_base_history(libname):
    lib = get_lib(libname)
    ns = fns(lib)
    x = t64(lib, [1.0, 2.0, 3.0])
    h = x * 1
    ns.MulInplace.apply(h[:2])
    assert vals(h) == [2.0, 4.0, 3.0]
    h.sum().backward()
    assert vals(x.grad) == [2.0, 2.0, 1.0]


def test_mark_non_differentiable_sort(lib):
    ns = fns(lib)
    ns.log.clear()
    x = t64(lib, [3.0, 1.0, 2.0])
    values, indices = ns.Sort.apply(x)
    assert vals(values) == [1.0, 2.0, 3.0] and vals(indices) == [1, 2, 0]
    assert values.requires_grad and values.grad_fn.name() == "SortBackward"
    assert not indices.requires_grad and indices.grad_fn is None
    (values * t64(lib, [1.0, 10.0, 100.0], False)).sum().backward()
    assert vals(x.grad) == [100.0, 1.0, 10.0]
    # The non-differentiable output's gradient is materialized as zeros of its dtype.
    assert ns.log == [("sort", (lib.int64, [0, 0, 0]))]


def test_mark_non_differentiable_argmax_and_float(lib):
    ns = fns(lib)
    x = t64(lib, [3.0, 1.0, 2.0])
    i = ns.ArgMax.apply(x)
    assert i.item() == 0 and not i.requires_grad and i.grad_fn is None
    y = ns.NonDiffFloat.apply(x)
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    err = error_of(lambda: y.sum().backward(), RuntimeError)
    assert str(err) == "element 0 of tensors does not require grad and does not have a grad_fn"


@pytest.mark.parametrize("materialize", [True, False])
def test_set_materialize_grads(lib, materialize):
    ns = fns(lib)
    ns.log.clear()
    x = t64(lib, [1.0, 2.0])
    a, b = ns.TwoOut.apply(x, materialize)
    (b * 5).sum().backward()
    assert ns.log == [("twoout", [0.0, 0.0] if materialize else None, [5.0, 5.0])]
    assert vals(x.grad) == [15.0, 15.0]
    ns.log.clear()
    x.grad = None
    a, b = ns.TwoOut.apply(x, materialize)
    lib.autograd.backward([a.sum(), b.sum()])
    assert ns.log == [("twoout", [1.0, 1.0], [1.0, 1.0])]
    assert vals(x.grad) == [5.0, 5.0]


# --------------------------------------------------------------------------------------------------
# 4. once_differentiable

def test_once_differentiable_first_order(lib):
    ns = fns(lib)
    ns.log.clear()
    x = t64(lib, [1.0, -2.0, 0.5])
    ns.CubeOnce.apply(x).sum().backward()
    assert vals(x.grad) == [3.0, 12.0, 0.75]
    assert ns.log == [("once", False)]
    # With create_graph the backward still runs under no_grad.
    ns.log.clear()
    g, = lib.autograd.grad(ns.CubeOnce.apply(x).sum(), x, create_graph=True)
    assert vals(g) == [3.0, 12.0, 0.75] and ns.log == [("once", False)]


def test_once_differentiable_double_backward_raises(lib):
    ns = fns(lib)
    x = t64(lib, [1.0, 2.0])
    y = ns.CubeOnce.apply(x)
    g, = lib.autograd.grad((y * y).sum(), x, create_graph=True)  # the incoming gradient 2y needs grad
    assert vals(g) == [6.0, 192.0] and g.requires_grad
    err = error_of(lambda: g.sum().backward(), RuntimeError)
    assert str(err) == "trying to differentiate twice a function that was marked with @once_differentiable"


# --------------------------------------------------------------------------------------------------
# 5. grad_fn, next_functions, what backward may return

def test_grad_fn_name_and_next_functions(lib):
    ns = fns(lib)
    x = t64(lib, [-1.0, 2.0])
    y = ns.MyRelu.apply(x)
    assert y.grad_fn.name() == "MyReluBackward"
    assert vals(y) == [0.0, 2.0]
    (nxt, nr), = y.grad_fn.next_functions
    assert norm(nxt.name()) == "AccumulateGrad" and nr == 0
    z = ns.Cube.apply(ns.Cube.apply(x * 1))
    chain = [z.grad_fn.name(), z.grad_fn.next_functions[0][0].name(),
             z.grad_fn.next_functions[0][0].next_functions[0][0].name()]
    assert chain == ["CubeBackward", "CubeBackward", "MulBackward0"]
    const = lib.ones(2, dtype=lib.float64)
    nf = ns.AddConst.apply(x, 1, const).grad_fn.next_functions
    assert [(None if n is None else norm(n.name()), i) for n, i in nf] == [("AccumulateGrad", 0), (None, 0)]
    nf = ns.AddConst.apply(x * 2, 1, x).grad_fn.next_functions
    assert [(norm(n.name()), i) for n, i in nf] == [("MulBackward0", 0), ("AccumulateGrad", 0)]


def test_wrong_number_of_gradients(lib):
    ns = fns(lib)
    x = t64(lib, [1.0, 2.0])
    err = error_of(lambda: ns.WrongCount.apply(x, x.detach()).sum().backward(), RuntimeError)
    assert str(err) == "function WrongCountBackward returned an incorrect number of gradients (expected 2, got 1)"
    err = error_of(lambda: ns.TooMany.apply(x).sum().backward(), RuntimeError)
    assert str(err) == "function TooManyBackward returned an incorrect number of gradients (expected 1, got 2)"


def test_wrong_gradient_shape(lib):
    x = t64(lib, [1.0, 2.0, 3.0])
    err = error_of(lambda: fns(lib).WrongShape.apply(x).backward(), RuntimeError)
    assert str(err) == ("Function WrongShapeBackward returned an invalid gradient at index 0 - got [2] but "
                        "expected shape compatible with [3]")


def test_broadcast_gradient_is_summed_and_cast(lib):
    x = t64(lib, [1.0, 2.0, 3.0])
    fns(lib).BroadcastGrad.apply(x).sum().backward()
    assert vals(x.grad) == [2.0, 2.0, 2.0] and x.grad.dtype == lib.float64


def test_gradient_of_wrong_type_or_for_a_non_tensor(lib):
    ns = fns(lib)
    x = t64(lib, [1.0, 2.0])
    err = error_of(lambda: ns.IntGrad.apply(x).sum().backward(), RuntimeError)
    assert str(err) == "expected Variable or None (got int)"
    err = error_of(lambda: ns.GradForNonTensor.apply(x, 2).sum().backward(), RuntimeError)
    assert str(err) == ("function GradForNonTensorBackward returned a gradient different than None at position 2, "
                        "but the corresponding forward input was not a Variable")


# --------------------------------------------------------------------------------------------------
# 6. double backward

def _second_derivatives(lib):
    ns = fns(lib)
    out = {}
    x = t64(lib, [1.0, 2.0, -0.5])
    g, = lib.autograd.grad(ns.Cube.apply(x).sum(), x, create_graph=True)
    out["cube"] = vals(lib.autograd.grad(g.sum(), x)[0])
    g, = lib.autograd.grad(ns.ExpOut.apply(x).sum(), x, create_graph=True)
    out["exp"] = vals(lib.autograd.grad((g * g).sum(), x)[0])
    a, b = t64(lib, [1.0, -2.0]), t64(lib, [0.5, 3.0])
    ga, gb = lib.autograd.grad(ns.MulScale.apply(a, b, 3.0).sum(), (a, b), create_graph=True)
    out["mulscale"] = [vals(t) for t in lib.autograd.grad((ga * gb).sum(), (a, b))]
    # An intermediate saved in forward has no graph: the second derivative misses its terms, alike.
    x2 = t64(lib, [[0.1, -0.3], [0.5, 0.2]])
    w = t64(lib, [0.7, -1.2])
    gx, gw = lib.autograd.grad(ns.SaveIntermediate.apply(x2, w).sum(), (x2, w), create_graph=True)
    out["intermediate"] = [vals(t) for t in lib.autograd.grad(gx.sum() + gw.sum(), (x2, w))]
    return out


def test_double_backward_matches_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _second_derivatives(rg), _second_derivatives(torch)
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert flat(ours[k]) == pytest.approx(flat(theirs[k]), rel=1e-13, abs=1e-15), k


def test_double_backward_values():
    got = _second_derivatives(rg)
    assert got["cube"] == [6.0, 12.0, -3.0]
    assert got["exp"] == pytest.approx([2 * math.exp(2 * v) for v in (1.0, 2.0, -0.5)], rel=1e-14)
    # d/da sum(3b * 3a) = 9b, d/db = 9a
    assert got["mulscale"] == [[4.5, 27.0], [9.0, -18.0]]


@pytest.mark.parametrize("name", ["Cube", "ExpOut", "MulScale", "MyRelu"])
def test_gradgradcheck(name):
    ns = fns(rg)
    x = rg.tensor([0.3, -1.2, 0.7], dtype=rg.float64, requires_grad=True)
    y = rg.tensor([1.5, 0.4, -2.0], dtype=rg.float64, requires_grad=True)
    if name == "MulScale":
        assert gradgradcheck(lambda a, b: ns.MulScale.apply(a, b, 1.5), (x, y))
    else:
        assert gradgradcheck(getattr(ns, name).apply, (x,))


def test_gradgradcheck_flags_a_saved_intermediate():
    ns = fns(rg)
    x = rg.tensor([[0.1, -0.3], [0.5, 0.2]], dtype=rg.float64, requires_grad=True)
    w = rg.tensor([0.7, -1.2], dtype=rg.float64, requires_grad=True)
    assert gradcheck(ns.SaveIntermediate.apply, (x, w))
    assert not gradgradcheck(ns.SaveIntermediate.apply, (x, w), raise_exception=False)


# --------------------------------------------------------------------------------------------------
# 7. grad modes, requires_grad of outputs, an input returned as it is

@pytest.mark.parametrize("mode", ["no_grad", "inference_mode", "set_grad_enabled(False)"])
def test_no_grad_and_inference_mode_record_nothing(lib, mode):
    ns = fns(lib)
    ns.log.clear()
    x, y = t64(lib, [1.0, 2.0]), t64(lib, [3.0, 4.0], False)
    ctxmgr = {"no_grad": lib.no_grad, "inference_mode": lib.inference_mode,
              "set_grad_enabled(False)": lambda: lib.set_grad_enabled(False)}[mode]
    with ctxmgr():
        out = ns.MulScale.apply(x, y, 2.0)
        a, seven, c = ns.SinCos.apply(x)
    assert vals(out) == [6.0, 16.0]
    for o in (out, a, c):
        assert o.grad_fn is None and not o.requires_grad
    # needs_input_grad reads requires_grad, not the grad mode (as in PyTorch).
    assert ns.log == [("forward", (True, False, False))]


def test_outputs_require_grad_when_any_input_does(lib):
    ns = fns(lib)
    a, b = t64(lib, [1.0, 2.0]), t64(lib, [3.0, 4.0], False)
    out = ns.UseSecond.apply(a, b)
    assert out.requires_grad and out.grad_fn.name() == "UseSecondBackward"
    out.sum().backward()
    assert vals(a.grad) == [7.0, 7.0]
    out = ns.UseSecond.apply(a.detach(), b)
    assert not out.requires_grad and out.grad_fn is None
    # An integer input next to a float one: the float output requires grad.
    assert ns.IntTimesFloat.apply(lib.tensor([1, 2]), a).requires_grad


def test_returning_an_input_unchanged(lib):
    ns = fns(lib)
    x = t64(lib, [1.0, 2.0])
    y = ns.Identity.apply(x)
    assert y is not x and y._is_view() and y.data_ptr() == x.data_ptr()
    assert y.grad_fn.name() == "IdentityBackward" and x.grad_fn is None and x.is_leaf
    y.sum().backward()
    assert vals(x.grad) == [5.0, 5.0]
    with lib.no_grad():
        y = ns.Identity.apply(x)
    assert y is not x and not y.requires_grad
    z = lib.tensor([1.0, 2.0])
    y = ns.Identity.apply(z)
    assert y is not z and not y.requires_grad


def test_input_returned_as_non_differentiable_is_a_detached_alias(lib):
    x = t64(lib, [1.0, 2.0])

    class PassNonDiff(lib.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            ctx.mark_non_differentiable(t)
            return t

        @staticmethod
        def backward(ctx, g):
            return g

    y = PassNonDiff.apply(x)
    assert y is not x and not y.requires_grad and y.grad_fn is None and y.data_ptr() == x.data_ptr()
    assert x.requires_grad and x.is_leaf


def test_straight_through_estimator(lib):
    ns = fns(lib)
    w = t64(lib, [-2.0, -0.5, 0.0, 0.3, 1.0, 1.5])
    y = ns.SignSTE.apply(w)
    assert vals(y) == [-1.0, -1.0, 0.0, 1.0, 1.0, 1.0]
    (y * lib.arange(6, dtype=lib.float64)).sum().backward()
    assert vals(w.grad) == [0.0, 1.0, 2.0, 3.0, 4.0, 0.0]


def test_straight_through_estimator_trains():
    """A binarized-weight regression learns through the STE (the true gradient of sign is zero)."""
    ns = fns(rg)
    rg.manual_seed(0)
    x = rg.randn(64, 4, dtype=rg.float64)
    target = x.matmul(rg.tensor([1.0, -1.0, 1.0, 1.0], dtype=rg.float64))
    w = rg.tensor([-0.1, 0.1, -0.1, -0.1], dtype=rg.float64, requires_grad=True)
    for _ in range(20):
        loss = ((x.matmul(ns.SignSTE.apply(w)) - target) ** 2).mean()
        w.grad = None
        loss.backward()
        with rg.no_grad():
            w.sub_(0.05 * w.grad)
    assert vals(w.sign()) == [1.0, -1.0, 1.0, 1.0]
    assert loss.item() == 0.0


# --------------------------------------------------------------------------------------------------
# 8. exceptions raised in backward

@pytest.mark.parametrize("how", ["backward", "grad"])
def test_exception_in_backward_reaches_the_caller(lib, how):
    ns = fns(lib)
    ns.log.clear()
    x = t64(lib, [1.0, 2.0])
    y = ns.Boom.apply(x * 3).sum()
    with pytest.raises(ns.BackwardError) as info:
        if how == "backward":
            y.backward()
        else:
            lib.autograd.grad(y, x)
    assert info.value is ns.log[-1][1]  # the very exception object backward raised
    frames = traceback.extract_tb(info.tb)
    assert any(f.name == "backward" and "THE-BACKWARD-LINE" in (f.line or "") for f in frames)
    assert x.grad is None
    ns.log.clear()


def test_graph_freed_after_exception_in_backward():
    ns = fns(rg)
    ns.log.clear()
    gc.collect()
    baseline = rg.autograd.graph_nodes()
    x = rg.tensor([1.0, 2.0], dtype=rg.float64, requires_grad=True)
    h = x * 3
    y = ns.Boom.apply(h)
    z = y.sum()
    assert rg.autograd.graph_nodes() >= baseline + 3
    with pytest.raises(ns.BackwardError) as info:
        z.backward()
    # The exception (kept by the test's log and by `info`) holds the frames of the backward call.
    del h, y, z, info
    ns.log.clear()
    gc.collect()
    assert rg.autograd.graph_nodes() == baseline
    # The class still works afterwards.
    ns.Cube.apply(x).sum().backward()
    assert vals(x.grad) == [3.0, 12.0]


def test_exception_in_forward_records_nothing():
    ns = fns(rg)
    gc.collect()
    baseline = rg.autograd.graph_nodes()
    x = rg.tensor([1.0, 2.0], dtype=rg.float64, requires_grad=True)
    with pytest.raises(KeyError, match="boom in forward"):
        ns.ForwardBoom.apply(x)
    gc.collect()
    assert rg.autograd.graph_nodes() == baseline


# --------------------------------------------------------------------------------------------------
# 9. threads

def _run_threads(target, n, timeout=60.0):
    errors = []

    def guarded(k):
        try:
            target(k)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(f"thread {k}: {e!r}")

    threads = [threading.Thread(target=guarded, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    alive = [k for k, t in enumerate(threads) if t.is_alive()]
    assert not alive, f"threads {alive} still running after {timeout}s: deadlock?"
    assert not errors, errors[:3]


def test_threads_share_parameters_without_losing_gradients():
    ns = fns(rg)
    n_threads, iters = 8, 150
    w = rg.tensor([[1.0, -1.0, 2.0], [0.5, 0.0, -2.0]], dtype=rg.float64, requires_grad=True)
    b = rg.tensor([0.25, -0.5], dtype=rg.float64, requires_grad=True)
    counts = [0] * n_threads

    def work(k):
        for it in range(iters):
            x = rg.full((4, 3), float(k + 1), dtype=rg.float64, requires_grad=True)
            # Five custom nodes per iteration: the first Linear's path gets a zero gradient (Square's
            # output is multiplied by 0), the second Linear's the ones of the sum.
            h = ns.Linear.apply(x, w, b)
            out = ns.Cube.apply(ns.SignSTE.apply(ns.Square.apply(h) * 0 + 0.5)) + ns.Linear.apply(x, w, b)
            out.sum().backward()
            # Per-thread input: d/dx sum(x w^T + b) = column sums of w, four rows.
            assert vals(x.grad) == [[1.5, -1.0, 0.0]] * 4
            counts[k] += 1

    _run_threads(work, n_threads)
    assert counts == [iters] * n_threads
    # Each iteration adds 4*(k+1) to every entry of w's grad and 4 to b's (plus zeros).
    per_entry = 4.0 * iters * sum(range(1, n_threads + 1))
    assert vals(w.grad) == [[per_entry] * 3] * 2
    assert vals(b.grad) == [4.0 * iters * n_threads] * 2


def test_threads_backward_through_a_shared_retained_graph():
    """Eight threads differentiate one shared custom node (retain_graph=True) at once; ops on
    2**15 elements run without the GIL, and a tiny switch interval makes the threads interleave
    inside backward: each call must see its own saved tensors."""
    ns = fns(rg)
    n = 1 << 15
    w = rg.ones(n, dtype=rg.float64, requires_grad=True)
    y = ns.Square.apply(w)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        def work(k):
            for _ in range(30):
                g, = rg.autograd.grad((y * (k + 1)).sum(), w, retain_graph=True)
                assert g[0].item() == 2.0 * (k + 1) and g[-1].item() == 2.0 * (k + 1)

        _run_threads(work, 8)
    finally:
        sys.setswitchinterval(old)


def test_two_threads_inside_one_shared_node_each_see_their_saved_tensors(lib):
    """Deterministic version of the above: two threads meet inside the backward of one node; the
    second reads ctx.saved_tensors again only after the first thread's whole backward returned."""
    both_inside = threading.Barrier(2, timeout=20)
    first_done = threading.Event()
    role = threading.local()
    seen = []

    class Probe(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            both_inside.wait()
            if role.k == 1:
                assert first_done.wait(20)
            x_again, = ctx.saved_tensors
            seen.append((role.k, vals(x_again)))
            return 2 * g * x_again

    w = t64(lib, [1.0, 2.0])
    y = Probe.apply(w)

    def work(k):
        role.k = k
        g, = lib.autograd.grad((y * (k + 1)).sum(), w, retain_graph=True)
        if k == 0:
            first_done.set()
        assert vals(g) == [2.0 * (k + 1), 4.0 * (k + 1)]

    _run_threads(work, 2, timeout=30)
    assert sorted(seen) == [(0, [1.0, 2.0]), (1, [1.0, 2.0])]


def test_threads_with_per_thread_functions_and_grad():
    ns = fns(rg)

    def work(k):
        for _ in range(40):
            x = rg.tensor([0.5 * (k + 1), -1.0, 2.0], dtype=rg.float64, requires_grad=True)
            g, = rg.autograd.grad(ns.Cube.apply(x).sum(), x, create_graph=True)
            gg, = rg.autograd.grad(g.sum(), x)
            xs = vals(x)
            assert vals(g) == [3 * v * v for v in xs]
            assert vals(gg) == [6 * v for v in xs]

    _run_threads(work, 8)


# --------------------------------------------------------------------------------------------------
# 10. CUDA

@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="no usable CUDA device")
def test_cuda_tensors_pass_through():
    ns = fns(rg)
    xc = rg.tensor([0.3, -1.2, 0.7], dtype=rg.float64, device="cuda", requires_grad=True)
    wc = rg.tensor([[0.1, 0.2, 0.3], [-1.0, 0.5, 2.0]], dtype=rg.float64, device="cuda", requires_grad=True)
    y = ns.SaveKinds.apply(wc, xc)
    assert y.device.type == "cuda" and y.grad_fn.name() == "SaveKindsBackward"
    y.sum().backward()
    assert xc.grad.device.type == "cuda" and wc.grad.device.type == "cuda"
    x = xc.detach().cpu().requires_grad_()
    w = wc.detach().cpu().requires_grad_()
    ns.SaveKinds.apply(w, x).sum().backward()
    np.testing.assert_allclose(xc.grad.cpu().numpy(), x.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(wc.grad.cpu().numpy(), w.grad.numpy(), rtol=1e-12)
    # Double backward on the device.
    g, = rg.autograd.grad(ns.Cube.apply(xc).sum(), xc, create_graph=True)
    gg, = rg.autograd.grad(g.sum(), xc)
    assert vals(gg.cpu()) == pytest.approx([6 * v for v in vals(x)], rel=1e-12)
    # A gradient on the wrong device is refused.

    class ToCpu(rg.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t * 2

        @staticmethod
        def backward(ctx, g):
            return g.cpu()

    err = error_of(lambda: ToCpu.apply(xc).sum().backward(), RuntimeError)
    assert str(err).startswith("Function ToCpuBackward returned an invalid gradient at index 0 - expected device "
                               "cuda") and str(err).endswith("but got cpu")
