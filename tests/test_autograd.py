"""Autograd semantics: PyTorch's behaviours and messages (issue 2, point 4)."""

import pytest

import rustgrad as rg
from rustgrad.autograd import grad


def leaf(*values, dtype=rg.float64):
    return rg.tensor(list(values), dtype=dtype, requires_grad=True)


def test_requires_grad_argument_and_method():
    a = rg.ones(3)
    assert not a.requires_grad and a.is_leaf
    assert a.requires_grad_() is a and a.requires_grad
    b = rg.zeros(2, requires_grad=True)
    assert b.requires_grad and b.is_leaf
    c = b * 2
    assert c.requires_grad and not c.is_leaf


def test_integer_and_bool_tensors_never_require_grad():
    with pytest.raises(RuntimeError, match="only Tensors of floating point and complex dtype can require gradients"):
        rg.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        rg.tensor([True]).requires_grad = True
    x = leaf(1.0, 2.0)
    assert not (x > 1).requires_grad
    assert not x.argmax().requires_grad


def test_grad_fn_names():
    x = leaf(1.0, 2.0)
    assert (x * 2).grad_fn.name() == "MulBackward0"
    assert (x + x).grad_fn.name() == "AddBackward0"
    assert x.sum().grad_fn.name() == "SumBackward0"
    assert x.exp().grad_fn.name() == "ExpBackward0"
    assert x.view(2, 1).grad_fn.name() == "ViewBackward0"
    assert x.grad_fn is None
    assert "MulBackward0 object at" in repr((x * 2).grad_fn)
    fns = (x * 2).grad_fn.next_functions
    assert fns[0][0].name() == "AccumulateGrad" and fns[0][0].variable is not None


def test_backward_accumulates_and_needs_scalar():
    x = leaf(1.0, 2.0, 3.0)
    (x * x).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [4.0, 8.0, 12.0]
    with pytest.raises(RuntimeError, match="^grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    y = x * 2
    y.backward(rg.ones(3, dtype=rg.float64))
    assert x.grad.tolist() == [6.0, 10.0, 14.0]


def test_backward_without_graph_fails():
    with pytest.raises(RuntimeError, match="^element 0 of tensors does not require grad and does not have a grad_fn"):
        rg.randn(3).sum().backward()


def test_second_backward_fails_without_retain_graph():
    x = leaf(1.0, 2.0)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]
    with pytest.raises(RuntimeError) as e:
        y.backward()
    assert str(e.value).startswith(
        "Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed)."
    )


def test_backward_inputs_argument():
    a, b = leaf(1.0), leaf(2.0)
    (a * b).backward(inputs=[a])
    assert a.grad.item() == 2.0 and b.grad is None


def test_autograd_grad_returns_without_touching_grad():
    x = leaf(1.0, 2.0)
    (g,) = grad((x ** 2).sum(), x)
    assert g.tolist() == [2.0, 4.0]
    assert x.grad is None
    y = leaf(3.0)
    with pytest.raises(RuntimeError) as e:
        grad((x * 2).sum(), [x, y])
    assert str(e.value) == (
        "One of the differentiated Tensors appears to not have been used in the graph. "
        "Set allow_unused=True if this is the desired behavior."
    )
    gx, gy = grad((x * 2).sum(), [x, y], allow_unused=True)
    assert gx.tolist() == [2.0, 2.0] and gy is None


def test_grad_with_grad_outputs_and_non_leaf_inputs():
    x = leaf(1.0, 2.0)
    h = x * 3
    out = h * h
    (gh,) = grad(out, h, grad_outputs=rg.ones(2, dtype=rg.float64))
    assert gh.tolist() == [6.0, 12.0]


def test_higher_order_gradients():
    x = leaf(1.0, 2.0, 3.0)
    (g,) = grad((x ** 3).sum(), x, create_graph=True)
    assert g.requires_grad
    assert g.tolist() == [3.0, 12.0, 27.0]
    (gg,) = grad(g.sum(), x)
    assert gg.tolist() == [6.0, 12.0, 18.0]
    # backward(create_graph=True) leaves a differentiable .grad
    y = leaf(2.0)
    (y ** 4).backward(create_graph=True)
    assert y.grad.requires_grad
    (g2,) = grad(y.grad, y)
    assert g2.item() == 48.0


def test_no_grad_enable_grad_set_grad_enabled():
    x = leaf(1.0)
    with rg.no_grad():
        assert not (x * 2).requires_grad
        with rg.enable_grad():
            assert (x * 2).requires_grad
    assert rg.is_grad_enabled()

    @rg.no_grad()
    def f():
        return x * 2

    @rg.no_grad
    def g():
        return x * 2

    assert not f().requires_grad and not g().requires_grad
    with rg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert rg.is_grad_enabled()
    rg.set_grad_enabled(False)
    assert not rg.is_grad_enabled()
    rg.set_grad_enabled(True)
    assert rg.is_grad_enabled()


def test_detach_and_detach_():
    x = leaf(1.0, 2.0)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None
    d[0] = 10.0  # shares storage
    assert y[0].item() == 10.0
    y.detach_()
    assert y.grad_fn is None and not y.requires_grad and y.is_leaf


def test_retain_grad():
    x = leaf(1.0, 2.0)
    y = x * 3
    y.retain_grad()
    assert y.retains_grad
    (y * y).sum().backward()
    assert y.grad.tolist() == [6.0, 12.0]
    z = x * 2
    z.sum().backward()
    assert z.grad is None


def test_register_hook_replaces_gradient():
    x = leaf(1.0, 2.0)
    handle = x.register_hook(lambda g: g * 100)
    (x * 2).sum().backward()
    assert x.grad.tolist() == [200.0, 200.0]
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    y = x * 1
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    (y * 5).sum().backward()
    assert seen == [[5.0, 5.0]]


def test_version_counter_detects_modified_saved_tensors():
    x = leaf(1.0, 2.0)
    y = x * 2
    z = y * y
    y.add_(1.0)
    assert y._version == 1
    with pytest.raises(RuntimeError) as e:
        z.sum().backward()
    assert str(e.value).startswith(
        "one of the variables needed for gradient computation has been modified by an inplace operation:"
    )


def test_leaf_inplace_errors():
    x = leaf(1.0, 2.0)
    with pytest.raises(RuntimeError) as e:
        x.add_(1.0)
    assert str(e.value) == "a leaf Variable that requires grad is being used in an in-place operation."
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x[0].mul_(2)
    with rg.no_grad():
        x.add_(1.0)
    assert x.tolist() == [2.0, 3.0]


def test_requires_grad_only_on_leaves():
    x = leaf(1.0)
    with pytest.raises(RuntimeError) as e:
        (x * 2).requires_grad_(False)
    assert str(e.value).startswith("you can only change requires_grad flags of leaf variables.")


def test_inplace_ops_rewrite_history():
    x = leaf(1.0, -2.0, 3.0)
    y = x * 1
    y.relu_()
    assert y.grad_fn is not None
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 1.0]


def test_setitem_gradients_flow_to_base_and_value():
    x = leaf(1.0, 2.0, 3.0)
    v = leaf(10.0)
    y = x * 2
    y[1] = v * 3
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 0.0, 2.0]
    assert v.grad.item() == 3.0


def test_grad_assignment_checks_shape():
    x = leaf(1.0, 2.0)
    with pytest.raises(RuntimeError, match="assigned grad has data of a different size"):
        x.grad = rg.zeros(3, dtype=rg.float64)
    x.grad = rg.ones(2, dtype=rg.float64)
    assert x.grad.tolist() == [1.0, 1.0]


def test_gradient_dtype_follows_input():
    x = rg.tensor([1.0, 2.0], requires_grad=True)
    (x.double() * 2).sum().backward()
    assert x.grad.dtype == rg.float32


def test_shared_subexpression_sums_gradients():
    x = leaf(3.0)
    y = x * x
    z = y + y * y
    z.backward()
    # z = x^2 + x^4 -> 2x + 4x^3
    assert x.grad.item() == pytest.approx(2 * 3 + 4 * 27)
