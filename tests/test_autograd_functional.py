"""rustgrad.autograd.functional (jacobian, hessian, vjp, jvp, vhp, hvp): values against central
finite differences in float64, and PyTorch's torch.autograd.functional for values, return structure,
create_graph (the results differentiated once more), strict mode and error messages.

The functions under test use only tensor methods and operators that rustgrad and PyTorch share, so
the same Python function runs on either library's tensors.
"""

import numpy as np
import pytest

import rustgrad as rg
from rustgrad.autograd import functional as F
from rustgrad.autograd import grad

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3))
Y = RNG.standard_normal(3)
# Cotangents / tangents: VX, VY shaped as the inputs; the output-shaped ones are drawn per test.
VX = RNG.standard_normal((2, 3))
VY = RNG.standard_normal(3)


# ----- the functions differentiated ---------------------------------------------------------------

# name: (func, inputs are a tuple, outputs are a tuple)
FUNCS = {
    "one_to_one": (lambda x: (x.sin() * x.exp()).sum(1), False, False),  # (2,3) -> (2,)
    "one_to_two": (lambda x: (x.tanh(), (x ** 2).sum()), False, True),  # (2,3) -> ((2,3), ())
    "two_to_one": (lambda x, y: (x * y).exp() @ y, True, False),  # ((2,3), (3,)) -> (2,)
    "two_to_two": (lambda x, y: ((x * y).sin(), x.sum() * y ** 2), True, True),  # -> ((2,3), (3,))
}

# Scalar functions for hessian / vhp / hvp: name: (func, inputs are a tuple)
SCALAR_FUNCS = {
    "one": (lambda x: (x.sin() * x.exp()).sum() + ((x @ x.T) ** 2).sum(), False),
    "two": (lambda x, y: ((x * y).exp() @ y).sum() + (x ** 2).sum() * (y ** 3).sum(), True),
}


def arrays(is_tuple):
    return (X, Y) if is_tuple else (X,)


def tangents(is_tuple):
    return (VX, VY) if is_tuple else (VX,)


def as_list(x):
    return list(x) if isinstance(x, tuple) else [x]


def t64(a, lib=rg, requires_grad=False):
    return lib.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def pack(tensors, is_tuple):
    """The form a caller passes: a tuple when is_tuple, else the single tensor."""
    return tuple(tensors) if is_tuple else tensors[0]


def values(fn, arrs):
    """fn on float64 tensors made from arrs, its outputs as a list of NumPy arrays."""
    with rg.no_grad():
        return [o.numpy() for o in as_list(fn(*[t64(a) for a in arrs]))]


def fd_jacobian(fn, arrs, eps=1e-6):
    """Central differences: J[i][j] of shape outputs[i].shape + arrs[j].shape."""
    base = values(fn, arrs)
    jac = [[np.zeros(o.shape + a.shape) for a in arrs] for o in base]
    for j, a in enumerate(arrs):
        for k in np.ndindex(a.shape):
            plus = [np.array(b, dtype=np.float64) for b in arrs]
            minus = [np.array(b, dtype=np.float64) for b in arrs]
            plus[j][k] += eps
            minus[j][k] -= eps
            for i, (p, m) in enumerate(zip(values(fn, plus), values(fn, minus))):
                jac[i][j][(Ellipsis,) + k] = (p - m) / (2 * eps)
    return jac


def gradient_of(fn):
    """x -> d fn / d x by the engine's first-order backward (what the Hessian differences)."""
    def g(*ts):
        with rg.enable_grad():
            ts = [t.detach().requires_grad_() for t in ts]
            return tuple(grad(fn(*ts), ts, allow_unused=True, materialize_grads=True))
    return g


def fd_hessian(fn, arrs):
    """H[i][j] = d grad_i / d x_j by central differences of the backward gradient."""
    return fd_jacobian(gradient_of(fn), arrs)


def contract(a, b, ndim):
    """sum over the last `ndim` axes of a times the first `ndim` axes of b."""
    return np.tensordot(a, b, axes=ndim)


def close(t, expected, tol=1e-7):
    assert isinstance(t, rg.Tensor)
    assert tuple(t.shape) == np.shape(expected)
    np.testing.assert_allclose(t.detach().numpy(), expected, rtol=tol, atol=tol)


def nested(result, outputs_tuple, inputs_tuple):
    """A jacobian's result as [output][input], checking PyTorch's nesting on the way."""
    if outputs_tuple and inputs_tuple:
        assert isinstance(result, tuple) and all(isinstance(row, tuple) for row in result)
        return [list(row) for row in result]
    if outputs_tuple:
        assert isinstance(result, tuple) and all(isinstance(t, rg.Tensor) for t in result)
        return [[t] for t in result]
    if inputs_tuple:
        assert isinstance(result, tuple) and all(isinstance(t, rg.Tensor) for t in result)
        return [list(result)]
    assert isinstance(result, rg.Tensor)
    return [[result]]


def check_single_or_tuple(result, expected, is_tuple):
    """result is a tensor (is_tuple False) or a tuple of tensors, matching the expected arrays."""
    if is_tuple:
        assert isinstance(result, tuple) and len(result) == len(expected)
    else:
        assert isinstance(result, rg.Tensor)
    for t, e in zip(as_list(result), expected):
        close(t, e)


# ----- finite differences -------------------------------------------------------------------------

def test_fd_helper_catches_a_wrong_derivative():
    """The finite-difference reference can tell a right Jacobian from a wrong one."""
    fd = fd_jacobian(lambda x: x ** 3, [np.array([1.0, 2.0])])
    np.testing.assert_allclose(fd[0][0], np.diag([3.0, 12.0]), atol=1e-7)
    with pytest.raises(AssertionError):
        close(F.jacobian(lambda x: x ** 2, t64([1.0, 2.0])), fd[0][0])


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_jacobian_against_finite_differences(name):
    fn, in_tuple, out_tuple = FUNCS[name]
    arrs = arrays(in_tuple)
    expected = fd_jacobian(fn, arrs)
    jac = nested(F.jacobian(fn, pack([t64(a) for a in arrs], in_tuple)), out_tuple, in_tuple)
    assert len(jac) == len(expected) and all(len(row) == len(arrs) for row in jac)
    for row, erow in zip(jac, expected):
        for t, e in zip(row, erow):
            close(t, e)
            assert not t.requires_grad and t.dtype == rg.float64


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_vjp_against_finite_differences(name):
    fn, in_tuple, out_tuple = FUNCS[name]
    arrs = arrays(in_tuple)
    outs = values(fn, arrs)
    rng = np.random.default_rng(1)
    vs = [rng.standard_normal(o.shape) for o in outs]
    jac = fd_jacobian(fn, arrs)
    out, res = F.vjp(fn, pack([t64(a) for a in arrs], in_tuple), pack([t64(v) for v in vs], out_tuple))
    check_single_or_tuple(out, outs, out_tuple)
    expected = [sum(contract(v, jac[i][j], v.ndim) for i, v in enumerate(vs)) for j in range(len(arrs))]
    check_single_or_tuple(res, expected, in_tuple)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_jvp_against_finite_differences(name):
    fn, in_tuple, out_tuple = FUNCS[name]
    arrs = arrays(in_tuple)
    vs = tangents(in_tuple)
    jac = fd_jacobian(fn, arrs)
    out, res = F.jvp(fn, pack([t64(a) for a in arrs], in_tuple), pack([t64(v) for v in vs], in_tuple))
    check_single_or_tuple(out, values(fn, arrs), out_tuple)
    expected = [sum(contract(jac[i][j], v, v.ndim) for j, v in enumerate(vs)) for i in range(len(jac))]
    check_single_or_tuple(res, expected, out_tuple)


@pytest.mark.parametrize("name", sorted(SCALAR_FUNCS))
def test_hessian_against_finite_differences(name):
    fn, in_tuple = SCALAR_FUNCS[name]
    arrs = arrays(in_tuple)
    expected = fd_hessian(fn, arrs)
    hess = F.hessian(fn, pack([t64(a) for a in arrs], in_tuple))
    hess = nested(hess, in_tuple, in_tuple)
    for i, row in enumerate(hess):
        for j, t in enumerate(row):
            assert tuple(t.shape) == arrs[i].shape + arrs[j].shape
            close(t, expected[i][j], tol=1e-6)
            assert not t.requires_grad


@pytest.mark.parametrize("which", ["vhp", "hvp"])
@pytest.mark.parametrize("name", sorted(SCALAR_FUNCS))
def test_vhp_hvp_against_finite_differences(name, which):
    fn, in_tuple = SCALAR_FUNCS[name]
    arrs = arrays(in_tuple)
    vs = tangents(in_tuple)
    hess = fd_hessian(fn, arrs)
    out, res = getattr(F, which)(fn, pack([t64(a) for a in arrs], in_tuple), pack([t64(v) for v in vs], in_tuple))
    assert isinstance(out, rg.Tensor) and out.dim() == 0
    close(out, values(fn, arrs)[0])
    if which == "vhp":
        expected = [sum(contract(v, hess[i][j], v.ndim) for i, v in enumerate(vs)) for j in range(len(arrs))]
    else:
        expected = [sum(contract(hess[i][j], v, v.ndim) for j, v in enumerate(vs)) for i in range(len(arrs))]
    if in_tuple:
        assert isinstance(res, tuple) and len(res) == len(expected)
    else:
        assert isinstance(res, rg.Tensor)
    for t, e in zip(as_list(res), expected):
        close(t, e, tol=1e-6)


def test_v_may_be_omitted_for_one_element():
    x = t64([0.7])
    out, res = F.vjp(lambda t: t.exp(), x)
    close(res, [np.exp(0.7)])
    out, res = F.jvp(lambda t: t.sin() * 2, x)
    close(res, [2 * np.cos(0.7)])
    out, res = F.vhp(lambda t: (t ** 4).sum(), x)
    close(res, [12 * 0.7 ** 2])
    out, res = F.hvp(lambda t: (t ** 4).sum(), t64(0.5))
    close(res, 12 * 0.5 ** 2)


# ----- semantics ----------------------------------------------------------------------------------

def test_independent_inputs_give_zeros_when_not_strict():
    x, y = t64(X), t64(Y)
    _, (gx, gy) = F.vjp(lambda a, b: a.exp().sum(), (x, y))
    close(gx, np.exp(X))
    close(gy, np.zeros(3))
    jx, jy = F.jacobian(lambda a, b: a.exp(), (x, y))
    close(jy, np.zeros((2, 3, 3)))
    _, res = F.jvp(lambda a: (a.detach() * 2, a * 3), x, t64(VX))
    close(res[0], np.zeros((2, 3)))
    close(res[1], 3 * VX)
    close(F.hessian(lambda a: (3 * a).sum(), x), np.zeros((2, 3, 2, 3)))
    _, (hx, hy) = F.vhp(lambda a, b: (a ** 3).sum(), (x, y), (t64(VX), t64(VY)))
    close(hx, 6 * X * VX)
    close(hy, np.zeros(3))
    _, (hx, hy) = F.hvp(lambda a, b: (a ** 3).sum(), (x, y), (t64(VX), t64(VY)))
    close(hx, 6 * X * VX)
    close(hy, np.zeros(3))


def test_differentiates_the_argument_not_a_captured_tensor():
    """func may capture the very tensor passed as input: only the argument is differentiated."""
    x = t64(Y, requires_grad=True)
    close(F.jacobian(lambda a: a * x, x), np.diag(Y))
    _, res = F.vjp(lambda a: (a * x).sum(), x)
    close(res, Y)


def test_inputs_are_not_modified_and_results_are_detached():
    x = t64(X)
    leaf = t64(X, requires_grad=True)
    for inp in (x, leaf):
        out, res = F.vjp(lambda a: a.exp(), inp, t64(VX))
        assert not out.requires_grad and out.grad_fn is None
        assert not res.requires_grad and res.grad_fn is None
    assert not x.requires_grad and leaf.requires_grad and leaf.grad is None
    jac = F.jacobian(lambda a: a.exp(), leaf)
    assert not jac.requires_grad


def test_works_under_no_grad_and_keeps_the_mode():
    x = t64(X)
    with rg.no_grad():
        close(F.jacobian(lambda a: a.exp().sum(1), x), fd_jacobian(lambda a: a.exp().sum(1), [X])[0][0])
        _, res = F.hvp(lambda a: (a ** 3).sum(), x, t64(VX))
        close(res, 6 * X * VX)
        assert not rg.is_grad_enabled()
        # create_graph=True: the result is differentiable even here, as in PyTorch.
        _, res = F.vjp(lambda a: (a ** 3).sum(), t64(X, requires_grad=True), create_graph=True)
        assert res.requires_grad
    assert rg.is_grad_enabled()


def test_create_graph_result_is_differentiable():
    """vjp with create_graph: d/dx sum(w * 3x^2) = 6 w x, against finite differences."""
    x = t64(X, requires_grad=True)
    w = np.random.default_rng(2).standard_normal(X.shape)
    out, res = F.vjp(lambda a: (a ** 3).sum(), x, create_graph=True)
    assert out.requires_grad and res.requires_grad
    (g,) = grad((res * t64(w)).sum(), x)
    close(g, 6 * w * X)
    hess = F.hessian(lambda a: (a ** 3).sum(), x, create_graph=True)
    (g,) = grad(hess.sum(), x)
    close(g, 6 * np.ones_like(X))


def test_jacobian_of_an_empty_output():
    jac = F.jacobian(lambda a: a[:0] * 2, t64(X))
    assert tuple(jac.shape) == (0, 3, 2, 3)  # output (0, 3) + input (2, 3)


def test_float32_keeps_the_dtype():
    x = rg.tensor(X.astype(np.float32))
    jac = F.jacobian(lambda a: a.exp().sum(1), x)
    assert jac.dtype == rg.float32
    np.testing.assert_allclose(jac.numpy(), fd_jacobian(lambda a: a.exp().sum(1), [X])[0][0], rtol=1e-5, atol=1e-5)


# ----- errors: strict mode and bad arguments ------------------------------------------------------

def _x(L):
    return t64(X, L)


def _xy(L):
    return t64(X, L), t64(Y, L)


def _vxy(L):
    return t64(VX, L), t64(VY, L)


INDEPENDENT_1 = ("The output of the user-provided function is independent of input 1. This is not allowed in strict "
                 "mode.")
NO_GRAD_OUTPUT_0 = ("Output 0 of the user-provided function does not require gradients. The outputs must be computed "
                    "in a differentiable manner from the input when running in strict mode.")
CG_JACOBIAN_0 = ("The jacobian of the user-provided function is independent of input 0. This is not allowed in strict "
                 "mode when create_graph=True.")
CG_HESSIAN_0 = ("The hessian of the user-provided function is independent of input 0. This is not allowed in strict "
                "mode when create_graph=True.")


def _linear_jacobian(i):
    return ("While computing the hessian, found that the jacobian of the user-provided function with respect to "
            f"input {i} is independent of the input. This is not allowed in strict mode. You should ensure that your "
            "function is twice differentiable and that the jacobian depends on the inputs (this would be violated by "
            "a linear function for example).")


# name: (call(F, L), exception type, message); F is rustgrad's or PyTorch's functional module, L the library.
ERRORS = {
    "vjp_strict_output_without_grad": (
        lambda F, L: F.vjp(lambda a: a.detach() * 2, _x(L), _x(L), strict=True), RuntimeError, NO_GRAD_OUTPUT_0),
    "vjp_strict_independent_input": (
        lambda F, L: F.vjp(lambda a, b: a.exp(), _xy(L), _x(L), strict=True), RuntimeError, INDEPENDENT_1),
    "vjp_strict_create_graph_linear": (
        lambda F, L: F.vjp(lambda a: 3 * a, _x(L), _x(L), create_graph=True, strict=True), RuntimeError,
        CG_JACOBIAN_0),
    "jacobian_strict_independent_input": (
        lambda F, L: F.jacobian(lambda a, b: (a.exp(), b.exp() * a.sum()), _xy(L), strict=True), RuntimeError,
        "Output 0 of the user-provided function is independent of input 1. This is not allowed in strict mode."),
    "jacobian_strict_output_without_grad": (
        lambda F, L: F.jacobian(lambda a: a.detach(), _x(L), strict=True), RuntimeError, NO_GRAD_OUTPUT_0),
    "jacobian_strict_create_graph_linear": (
        lambda F, L: F.jacobian(lambda a: 3 * a, _x(L), create_graph=True, strict=True), RuntimeError,
        CG_JACOBIAN_0),
    "jvp_strict_independent_input": (
        lambda F, L: F.jvp(lambda a, b: a.exp(), _xy(L), _vxy(L), strict=True), RuntimeError, INDEPENDENT_1),
    "jvp_strict_create_graph_linear": (
        lambda F, L: F.jvp(lambda a: 3 * a, _x(L), _x(L), create_graph=True, strict=True), RuntimeError,
        CG_JACOBIAN_0),
    "hessian_strict_linear": (
        lambda F, L: F.hessian(lambda a: (3 * a).sum(), _x(L), strict=True), RuntimeError, _linear_jacobian(0)),
    "hessian_strict_independent_input": (
        lambda F, L: F.hessian(lambda a, b: (a ** 3).sum(), _xy(L), strict=True), RuntimeError,
        _linear_jacobian(1)),
    "hessian_strict_output_without_grad": (
        lambda F, L: F.hessian(lambda a: a.detach().sum(), _x(L), strict=True), RuntimeError, NO_GRAD_OUTPUT_0),
    "vhp_strict_linear": (
        lambda F, L: F.vhp(lambda a: (3 * a).sum(), _x(L), _x(L), strict=True), RuntimeError, _linear_jacobian(0)),
    "vhp_strict_independent_input": (
        lambda F, L: F.vhp(lambda a, b: (a ** 3).sum(), _xy(L), _vxy(L), strict=True), RuntimeError, INDEPENDENT_1),
    "vhp_strict_create_graph": (
        lambda F, L: F.vhp(lambda a: (a * a).sum(), _x(L), _x(L), create_graph=True, strict=True), RuntimeError,
        CG_HESSIAN_0),
    "hvp_strict_linear": (
        lambda F, L: F.hvp(lambda a: (3 * a).sum(), _x(L), _x(L), strict=True), RuntimeError, _linear_jacobian(0)),
    "hvp_strict_create_graph": (
        lambda F, L: F.hvp(lambda a: (a * a).sum(), _x(L), _x(L), create_graph=True, strict=True), RuntimeError,
        CG_HESSIAN_0),
    "inputs_a_list": (
        lambda F, L: F.vjp(lambda a: a, [_x(L)], _x(L)), TypeError,
        "The inputs given to vjp must be either a Tensor or a tuple of Tensors but the given inputs has type "
        "<class 'list'>."),
    "inputs_with_a_float": (
        lambda F, L: F.jacobian(lambda a, b: a * b, (_x(L), 3.0)), TypeError,
        "The inputs given to jacobian must be either a Tensor or a tuple of Tensors but the value at index 1 has "
        "type <class 'float'>."),
    "outputs_with_an_int": (
        lambda F, L: F.jacobian(lambda a: (a, 2), _x(L)), TypeError,
        "The outputs of the user-provided function given to jacobian must be either a Tensor or a tuple of Tensors "
        "but the value at index 1 has type <class 'int'>."),
    "output_a_float": (
        lambda F, L: F.vjp(lambda a: a.sum().item(), _x(L)), TypeError,
        "The outputs of the user-provided function given to vjp must be either a Tensor or a tuple of Tensors but "
        "the given outputs of the user-provided function has type <class 'float'>."),
    "v_a_list": (
        lambda F, L: F.hvp(lambda a: a.sum(), _x(L), [_x(L)]), TypeError,
        "The v given to hvp must be either a Tensor or a tuple of Tensors but the given v has type <class 'list'>."),
    "vjp_v_none": (
        lambda F, L: F.vjp(lambda a: a * 2, _x(L)), RuntimeError,
        "The vector v can only be None if the user-provided function returns a single Tensor with a single "
        "element."),
    "jvp_v_none": (
        lambda F, L: F.jvp(lambda a: a.sum(), _x(L)), RuntimeError,
        "The vector v can only be None if the input to the user-provided function is a single Tensor with a "
        "single element."),
    "vjp_v_size": (
        lambda F, L: F.vjp(lambda a: a.sum(1), _x(L), t64(Y, L)), RuntimeError,
        "v has invalid size: should be rustgrad.Size([2]) but got rustgrad.Size([3])."),
    "jvp_v_entry_size": (
        lambda F, L: F.jvp(lambda a, b: a.sum() * b, _xy(L), (t64(VX, L), t64(VX, L))), RuntimeError,
        "Entry 1 in v has invalid size: should be rustgrad.Size([3]) but got rustgrad.Size([2, 3])."),
    "jvp_v_length": (
        lambda F, L: F.jvp(lambda a, b: a.sum() * b, _xy(L), (t64(VX, L),)), RuntimeError,
        "v is a tuple of invalid length: should be 2 but got 1."),
    "vjp_v_not_single": (
        lambda F, L: F.vjp(lambda a: a * 2, _x(L), _vxy(L)), RuntimeError,
        "The given v should contain a single Tensor."),
    "hessian_not_scalar": (
        lambda F, L: F.hessian(lambda a: a * 2, _x(L)), RuntimeError,
        "The Tensor returned by the function given to hessian should contain a single element"),
    "hvp_tuple_output": (
        lambda F, L: F.hvp(lambda a: (a.sum(),), _x(L), _x(L)), RuntimeError,
        "The function given to hvp should return a single Tensor"),
    "vhp_not_scalar": (
        lambda F, L: F.vhp(lambda a: a * 2, _x(L), _x(L)), RuntimeError,
        "The Tensor returned by the function given to vhp should contain a single element"),
    "jacobian_bad_strategy": (
        lambda F, L: F.jacobian(lambda a: a, _x(L), strategy="sideways"), AssertionError,
        'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your function has more outputs '
        'than inputs, "forward-mode" tends to be more performant. Otherwise, prefer to use "reverse-mode".'),
    "hessian_bad_strategy": (
        lambda F, L: F.hessian(lambda a: a.sum(), _x(L), outer_jacobian_strategy="sideways"), AssertionError,
        'Expected strategy to be either "forward-mode" or "reverse-mode".'),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_messages(name):
    call, exc, message = ERRORS[name]
    with pytest.raises(exc) as e:
        call(F, rg)
    assert str(e.value) == message


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_messages_match_pytorch(name):
    torch = pytest.importorskip("torch")
    import torch.autograd.functional as TF

    call, exc, message = ERRORS[name]
    with pytest.raises(exc) as e:
        call(TF, torch)
    assert str(e.value).replace("torch.Size", "rustgrad.Size") == message


def test_strict_create_graph_jacobian_names_the_input():
    """PyTorch (2.15) fills this message's index with the output's index; rustgrad names the input
    that the jacobian is independent of, which is what the message says."""
    with pytest.raises(RuntimeError) as e:
        F.jacobian(lambda a, b: (a * a + 3 * b,), (t64(Y), t64(Y)), create_graph=True, strict=True)
    assert str(e.value) == ("The jacobian of the user-provided function is independent of input 1. This is not "
                            "allowed in strict mode when create_graph=True.")


NOT_IMPLEMENTED = {
    "jacobian_vectorize": (lambda f: F.jacobian(f, t64(X), vectorize=True),
                           "rustgrad.autograd.functional.jacobian: vectorize=True is not supported"),
    "jacobian_forward_mode": (lambda f: F.jacobian(f, t64(X), strategy="forward-mode"),
                              'rustgrad.autograd.functional.jacobian: strategy="forward-mode" is not supported'),
    "jacobian_forward_mode_vectorize": (
        lambda f: F.jacobian(f, t64(X), vectorize=True, strategy="forward-mode"),
        "rustgrad.autograd.functional.jacobian: vectorize=True is not supported"),
    "hessian_vectorize": (lambda f: F.hessian(f, t64(X), vectorize=True),
                          "rustgrad.autograd.functional.hessian: vectorize=True is not supported"),
    "hessian_forward_mode": (
        lambda f: F.hessian(f, t64(X), outer_jacobian_strategy="forward-mode"),
        'rustgrad.autograd.functional.hessian: outer_jacobian_strategy="forward-mode" is not supported'),
}


@pytest.mark.parametrize("name", sorted(NOT_IMPLEMENTED))
def test_not_implemented_options(name):
    calls = []

    def f(a):
        calls.append(1)
        return a.sum()

    call, message = NOT_IMPLEMENTED[name]
    with pytest.raises(NotImplementedError) as e:
        call(f)
    assert str(e.value) == message
    assert not calls


# ----- PyTorch parity: values, structure, requires_grad, and create_graph's second derivative -----

def _flatten(result):
    """Tensors of a (nested) tuple in order, and its skeleton (shapes where tensors were)."""
    if isinstance(result, tuple):
        parts = [_flatten(r) for r in result]
        return [t for ts, _ in parts for t in ts], tuple(s for _, s in parts)
    return [result], tuple(result.shape)


def _call(lib, functional, which, name, create_graph):
    """One call of `which` on the named function; inputs (and v) are leaves that require grad."""
    if which in ("jacobian", "vjp", "jvp"):
        fn, in_tuple, out_tuple = FUNCS[name]
    else:
        fn, in_tuple = SCALAR_FUNCS[name]
        out_tuple = False
    inputs = [t64(a, lib, requires_grad=True) for a in arrays(in_tuple)]
    leaves = list(inputs)
    kwargs = {"create_graph": create_graph}
    if which == "vjp":
        with lib.no_grad():
            outs = as_list(fn(*[t64(a, lib) for a in arrays(in_tuple)]))
        rng = np.random.default_rng(3)
        v = [t64(rng.standard_normal(tuple(o.shape)), lib, requires_grad=True) for o in outs]
        kwargs["v"] = pack(v, out_tuple)
        leaves += v
    elif which in ("jvp", "vhp", "hvp"):
        v = [t64(a, lib, requires_grad=True) for a in tangents(in_tuple)]
        kwargs["v"] = pack(v, in_tuple)
        leaves += v
    return getattr(functional, which)(fn, pack(inputs, in_tuple), **kwargs), leaves


PARITY = [(which, name) for which in ("jacobian", "vjp", "jvp") for name in sorted(FUNCS)] + [
    (which, name) for which in ("hessian", "vhp", "hvp") for name in sorted(SCALAR_FUNCS)]


@pytest.mark.parametrize("create_graph", [False, True], ids=["no_graph", "create_graph"])
@pytest.mark.parametrize("which,name", PARITY)
def test_pytorch_parity(which, name, create_graph):
    torch = pytest.importorskip("torch")
    import torch.autograd.functional as TF

    ours, our_leaves = _call(rg, F, which, name, create_graph)
    theirs, their_leaves = _call(torch, TF, which, name, create_graph)
    ours_flat, our_skeleton = _flatten(ours)
    theirs_flat, their_skeleton = _flatten(theirs)
    assert our_skeleton == their_skeleton  # the same nesting of tuples, the same shapes
    for a, b in zip(ours_flat, theirs_flat):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert [t.requires_grad for t in ours_flat] == [t.requires_grad for t in theirs_flat]
    assert all(t.requires_grad for t in ours_flat) == create_graph
    if not create_graph:
        return
    # Differentiate a weighted sum of every result once more, with respect to the inputs and v.
    rng = np.random.default_rng(4)
    weights = [rng.standard_normal(tuple(t.shape)) for t in ours_flat]
    our_loss = sum((t * t64(w)).sum() for t, w in zip(ours_flat, weights))
    their_loss = sum((t * t64(w, torch)).sum() for t, w in zip(theirs_flat, weights))
    our_grads = grad(our_loss, our_leaves, allow_unused=True, materialize_grads=True)
    their_grads = torch.autograd.grad(their_loss, their_leaves, allow_unused=True, materialize_grads=True)
    for a, b in zip(our_grads, their_grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


def test_captured_input_parity():
    torch = pytest.importorskip("torch")
    import torch.autograd.functional as TF

    for lib, functional in ((rg, F), (torch, TF)):
        x = t64(Y, lib, requires_grad=True)
        jac = functional.jacobian(lambda a: a * x, x, create_graph=True)
        (g,) = (grad if lib is rg else torch.autograd.grad)(jac.sum(), x)
        if lib is rg:
            ours = (jac.detach().numpy(), g.numpy())
        else:
            np.testing.assert_allclose(ours[0], jac.detach().numpy(), rtol=0, atol=0)
            np.testing.assert_allclose(ours[1], g.numpy(), rtol=0, atol=0)
