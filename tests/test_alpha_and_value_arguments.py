"""add/sub's ``alpha=`` and addcmul/addcdiv/addmm's scalar arguments: numbers and 0-dim tensors
are used (never dropped), anything else raises PyTorch's error."""

import numpy as np
import pytest

import rustgrad as rg

X = np.array([1.0, -2.0, 3.0], dtype=np.float32)
Y = np.array([0.5, 4.0, -1.5], dtype=np.float32)


def _xy():
    return rg.tensor(X), rg.tensor(Y)


@pytest.mark.parametrize("alpha", [2, -0.5, rg.tensor(2.5), rg.tensor(3), rg.tensor(2.5, dtype=rg.float64)])
@pytest.mark.parametrize("op", ["add", "sub", "add_", "sub_", "rustgrad.add", "rustgrad.sub"])
def test_alpha_scales_other(op, alpha):
    x, y = _xy()
    a = alpha.item() if isinstance(alpha, rg.Tensor) else alpha
    sign = -1 if "sub" in op else 1
    expected = X + sign * a * Y
    if op.startswith("rustgrad."):
        out = getattr(rg, op.split(".")[1])(x, y, alpha=alpha)
    else:
        out = getattr(x, op)(y, alpha=alpha)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    if op.endswith("_"):
        assert out is x
        np.testing.assert_allclose(x.numpy(), expected, rtol=1e-6)


def test_alpha_with_a_scalar_other_and_gradients():
    x = rg.tensor(X, requires_grad=True)
    y = rg.tensor(Y, requires_grad=True)
    x.add(y, alpha=rg.tensor(-3.0)).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [-3.0, -3.0, -3.0])
    np.testing.assert_allclose(rg.tensor(X).add(2, alpha=rg.tensor(3)).numpy(), X + 6)


@pytest.mark.parametrize("op", ["add", "sub", "add_", "sub_"])
@pytest.mark.parametrize("alpha, type_name", [("a", "str"), (rg.ones(2), "Tensor"), ([1], "list")])
def test_alpha_that_is_not_a_number_is_a_type_error(op, alpha, type_name):
    x, y = _xy()
    with pytest.raises(TypeError, match=rf"^{op}\(\): argument 'alpha' must be Number, not {type_name}$"):
        getattr(x, op)(y, alpha=alpha)
    np.testing.assert_array_equal(x.numpy(), X)  # nothing written


def test_bool_and_float_alpha_rules():
    x, y = _xy()
    with pytest.raises(RuntimeError, match="^Boolean alpha only supported for Boolean results.$"):
        x.add(y, alpha=True)
    b = rg.tensor([True, False])
    assert b.add(b, alpha=True).tolist() == [True, False]
    i = rg.tensor([1, 2])
    with pytest.raises(RuntimeError, match="^For integral input tensors, argument alpha must not be a floating "
                                           "point number.$"):
        i.add(i, alpha=1.5)
    np.testing.assert_allclose(i.add(2.0, alpha=1.5).numpy(), [4.0, 5.0])


@pytest.mark.parametrize("op", ["addcmul", "addcdiv", "addcmul_", "addcdiv_"])
def test_addc_value_accepts_a_0_dim_tensor(op):
    x, y = _xy()
    t2 = rg.tensor([2.0, 2.0, 4.0])
    combine = (lambda a, b: a * b) if "mul" in op else (lambda a, b: a / b)
    out = getattr(x, op)(y, t2, value=rg.tensor(3.0))
    np.testing.assert_allclose(out.numpy(), X + 3.0 * combine(Y, t2.numpy()), rtol=1e-6)
    with pytest.raises(TypeError, match=rf"^{op}\(\): argument 'value' must be Number, not Tensor$"):
        getattr(x, op)(y, t2, value=rg.ones(3))


def test_addmm_alpha_beta_accept_0_dim_tensors():
    m = rg.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = rg.addmm(m, m, m, beta=rg.tensor(0.5), alpha=rg.tensor(2.0))
    np.testing.assert_allclose(out.numpy(), 0.5 * m.numpy() + 2.0 * m.numpy() @ m.numpy())


def test_matches_torch():
    torch = pytest.importorskip("torch")
    for lib in (rg, torch):
        x, y = lib.tensor(X), lib.tensor(Y)
        lib_out = [x.add(y, alpha=lib.tensor(2.5)), x.sub(y, alpha=lib.tensor(-1.0)),
                   x.addcmul(y, y, value=lib.tensor(3.0))]
        if lib is rg:
            ours = [o.numpy() for o in lib_out]
        else:
            theirs = [o.numpy() for o in lib_out]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    for lib in (rg, torch):
        with pytest.raises(TypeError) as err:
            lib.ones(2).add(lib.ones(2), alpha="a")
        assert str(err.value) == "add(): argument 'alpha' must be Number, not str"
