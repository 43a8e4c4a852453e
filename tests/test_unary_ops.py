"""The unary ops of the op table (src/backend/unary_ops.rs), each against NumPy in float64 and
float32 (and int64 where it takes integers), by finite differences in float64, and on the CUDA
device against the CPU. Every op of the table needs an entry in ``REFERENCE``: adding an op to the
table without its test fails ``test_every_table_op_is_tested``."""

import math

import numpy as np
import pytest

import rustgrad as rg

HAS_CUDA = rg.cuda.is_available()

# name: (NumPy reference, where inputs are drawn, differentiable, takes integers)
_erf = np.vectorize(math.erf)
REFERENCE = {
    "neg": (np.negative, "any", True, True),
    "abs": (np.abs, "nonzero", True, True),
    "sign": (np.sign, "nonzero", True, True),
    "square": (np.square, "any", True, True),
    "relu": (lambda x: np.maximum(x, 0), "nonzero", True, True),
    "exp": (np.exp, "any", True, False),
    "log": (np.log, "positive", True, False),
    "sqrt": (np.sqrt, "positive", True, False),
    "rsqrt": (lambda x: 1 / np.sqrt(x), "positive", True, False),
    "sin": (np.sin, "any", True, False),
    "cos": (np.cos, "any", True, False),
    "tanh": (np.tanh, "any", True, False),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), "any", True, False),
    "log1p": (np.log1p, "positive", True, False),
    "expm1": (np.expm1, "any", True, False),
    "reciprocal": (lambda x: 1 / x, "nonzero", True, False),
    "floor": (np.floor, "fractional", True, True),
    "ceil": (np.ceil, "fractional", True, True),
    "round": (np.round, "fractional", True, True),
    "trunc": (np.trunc, "fractional", True, True),
    "erf": (_erf, "any", True, False),
    "logical_not": (np.logical_not, "any", False, True),
    "isnan": (np.isnan, "any", False, True),
    # special functions (more cases in test_special.py)
    "lgamma": (np.vectorize(math.lgamma), "positive", True, False),
    "digamma": (lambda x: _torch_reference("digamma", x), "positive", True, False),
    "erfinv": (lambda x: _torch_reference("erfinv", x), "unit", True, False),
    "erfc": (np.vectorize(math.erfc), "any", True, False),
    # Trigonometric, hyperbolic, base-2 and base-10 functions (tmethods).
    "tan": (np.tan, "unit", True, False),
    "asin": (np.arcsin, "unit", True, False),
    "acos": (np.arccos, "unit", True, False),
    "atan": (np.arctan, "any", True, False),
    "sinh": (np.sinh, "any", True, False),
    "cosh": (np.cosh, "any", True, False),
    "asinh": (np.arcsinh, "any", True, False),
    "acosh": (np.arccosh, "above_one", True, False),
    "atanh": (np.arctanh, "unit", True, False),
    "exp2": (np.exp2, "any", True, False),
    "log2": (np.log2, "positive", True, False),
    "log10": (np.log10, "positive", True, False),
}


def _torch_reference(name, x):
    """PyTorch's float64 result, where neither NumPy nor the math module has the function."""
    torch = pytest.importorskip("torch")
    return getattr(torch, name)(torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy()


def _inputs(domain, dtype=np.float64, seed=0):
    x = np.random.default_rng(seed).uniform(-2.5, 2.5, size=(3, 7))
    if domain == "unit":
        x = x / 2.8  # inside (-1, 1), away from the poles of asin, acos, atanh and erfinv at +-1
    elif domain == "positive":
        x = np.abs(x) + 0.1
    elif domain == "above_one":
        x = np.abs(x) + 1.1
    elif domain in ("nonzero", "fractional"):
        # Away from the kinks and jumps (0, and the integers for the rounding ops), so that
        # finite differences see a smooth function.
        x = np.where(np.abs(x) < 0.2, x + 0.5, x)
        x = np.floor(x) + 0.25 + 0.5 * (x - np.floor(x))
    return x.astype(dtype)


def test_every_table_op_is_tested():
    assert sorted(rg._C.UNARY_OPS) == sorted(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_values_match_numpy(name, dtype):
    ref, domain, _, _ = REFERENCE[name]
    x = _inputs(domain, dtype)
    expected = ref(x.astype(np.float64))
    for out in (getattr(rg.tensor(x), name)(), getattr(rg, name)(rg.tensor(x))):
        got = out.numpy()
        if expected.dtype == np.bool_:
            assert got.dtype == np.bool_
            np.testing.assert_array_equal(got, expected)
        else:
            assert got.dtype == dtype
            tol = 1e-12 if dtype == np.float64 else 2e-6
            np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(n for n, r in REFERENCE.items() if r[3]))
def test_integer_inputs_keep_their_dtype(name):
    ref = REFERENCE[name][0]
    x = np.array([[-3, -1, 0], [1, 2, 5]], dtype=np.int64)
    got = getattr(rg.tensor(x), name)().numpy()
    expected = ref(x)
    assert got.dtype == (np.bool_ if expected.dtype == np.bool_ else np.int64)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", sorted(n for n, r in REFERENCE.items() if r[2]))
def test_gradients_match_finite_differences(name):
    x = rg.tensor(_inputs(REFERENCE[name][1]), requires_grad=True)
    assert rg.autograd.gradcheck(lambda t: getattr(t, name)(), (x,))


@pytest.mark.parametrize("name", sorted(n for n, r in REFERENCE.items() if not r[2]))
def test_bool_results_have_no_gradient(name):
    x = rg.tensor(_inputs("any"), requires_grad=True)
    out = getattr(x, name)()
    assert out.dtype == rg.bool and not out.requires_grad and out.grad_fn is None


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="no usable CUDA device: " + (
    "" if HAS_CUDA else rg.cuda._unavailable_reason()))
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_cuda_matches_the_cpu(name):
    x = rg.tensor(_inputs(REFERENCE[name][1]), requires_grad=REFERENCE[name][2])
    xd = x.detach().cuda().requires_grad_(REFERENCE[name][2])
    out, outd = getattr(x, name)(), getattr(xd, name)()
    np.testing.assert_allclose(outd.detach().cpu().numpy(), out.detach().numpy(), rtol=1e-12, atol=1e-12)
    if REFERENCE[name][2]:
        out.sum().backward()
        outd.sum().backward()
        np.testing.assert_allclose(xd.grad.cpu().numpy(), x.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="no usable CUDA device: " + (
    "" if HAS_CUDA else rg.cuda._unavailable_reason()))
def test_cuda_special_functions_match_the_cpu_over_wide_ranges():
    x = rg.tensor(np.concatenate([np.linspace(-6.3, -0.2, 13), np.linspace(0.05, 40, 30)]))
    for f in (rg.lgamma, rg.digamma, rg.erfc, lambda t: t.polygamma(1), lambda t: t.polygamma(3)):
        np.testing.assert_allclose(f(x.cuda()).cpu().numpy(), f(x).numpy(), rtol=1e-12, atol=1e-12)
    y = rg.tensor(np.concatenate([np.linspace(-0.999, 0.999, 41), [1 - 1e-12, -1 + 1e-15]]))
    np.testing.assert_allclose(rg.erfinv(y.cuda()).cpu().numpy(), rg.erfinv(y).numpy(), rtol=1e-12, atol=1e-12)
