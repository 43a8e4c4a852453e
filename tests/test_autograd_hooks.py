"""Autograd hooks and graph introspection, against PyTorch where PyTorch has the feature.

Tensor hooks (leaf and non-leaf), post-accumulate-grad hooks, node pre/post hooks, module forward and
full backward hooks, saved-tensor hooks, ``queue_callback``, ``current_backward_leaves`` (ours),
``register_multi_grad_hook``, and what a ``grad_fn`` shows of itself (names, ``next_functions``,
``metadata``, ``_saved_*``, ``to_dot``).

Each behaviour has a test that runs on rustgrad alone with hand-computed values; the ``*_vs_torch``
tests run the same scenario on both libraries and compare (skipped without torch). Tests marked
``xfail(strict=True)`` pin known divergences in the Rust core (see their reasons).
"""

import numpy as np
import pytest

import rustgrad as rg
from rustgrad.autograd import graph as rgraph
from rustgrad.autograd import Variable


# ----- helpers -----------------------------------------------------------------------------------

def _is_tensor(x):
    return hasattr(x, "detach") and hasattr(x, "shape") and hasattr(x, "requires_grad")


def _plain(obj):
    """Tensors -> float64 numpy arrays, sequences -> lists, recursively (both libraries alike)."""
    if _is_tensor(obj):
        return np.asarray(obj.detach().cpu().numpy(), dtype=np.float64)
    if isinstance(obj, (list, tuple)):
        return [_plain(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def assert_same(a, b, path="", rtol=1e-5, atol=1e-6):
    """Structural equality with tensors compared by value (shape included)."""
    a, b = _plain(a), _plain(b)
    _same(a, b, path, rtol, atol)


def _same(a, b, path, rtol, atol):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        # hand-written expectations may be nested lists of numbers
        a, b = (np.asarray(v, dtype=np.float64) if isinstance(v, list) else v for v in (a, b))
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), f"{path}: {a!r} vs {b!r}"
        assert a.shape == b.shape, f"{path}: shape {a.shape} vs {b.shape}"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=path)
    elif isinstance(a, list) or isinstance(b, list):
        assert isinstance(a, list) and isinstance(b, list), f"{path}: {a!r} vs {b!r}"
        assert len(a) == len(b), f"{path}: length {len(a)} vs {len(b)}: {a!r} vs {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]", rtol, atol)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{path}: {a!r} vs {b!r}"
        for k in a:
            _same(a[k], b[k], f"{path}[{k!r}]", rtol, atol)
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=rtol, abs=atol), f"{path}: {a!r} vs {b!r}"
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def _ident(t):
    """Identity of the tensor under a handle: ``_cdata`` (a method in our binding, an int in torch)."""
    cdata = t._cdata
    return cdata() if callable(cdata) else cdata


def _err(lib, exc_types, fn):
    """The message of the error ``fn`` raises (with the library's name taken out), or 'no error'."""
    try:
        fn()
    except exc_types as e:
        return type(e).__name__, str(e).replace(lib.__name__ + ".", "LIB.")
    return "no error"


_RNG = np.random.default_rng(1234)
W1 = _RNG.standard_normal((3, 4)).astype(np.float32)
B1 = _RNG.standard_normal(3).astype(np.float32)
W2 = _RNG.standard_normal((2, 3)).astype(np.float32)
B2 = _RNG.standard_normal(2).astype(np.float32)
X = _RNG.standard_normal((5, 4)).astype(np.float32)


def _linear(lib, w, b):
    m = lib.nn.Linear(w.shape[1], w.shape[0])
    with lib.no_grad():
        m.weight.copy_(lib.tensor(w))
        m.bias.copy_(lib.tensor(b))
    return m


def _mlp(lib):
    return lib.nn.Sequential(_linear(lib, W1, B1), lib.nn.ReLU(), _linear(lib, W2, B2))


# ===== 1. tensor hooks =============================================================================

def _leaf_used_twice(lib):
    w = lib.ones(3, requires_grad=True)
    seen = []
    w.register_hook(lambda g: seen.append(g.clone()))
    (w * 2 + w * 3).sum().backward()
    return seen, w.grad


def test_leaf_hook_fires_once_with_summed_gradient():
    seen, grad = _leaf_used_twice(rg)
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0].numpy(), [5, 5, 5])
    np.testing.assert_array_equal(grad.numpy(), [5, 5, 5])


def test_leaf_hook_used_twice_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_leaf_used_twice(rg), _leaf_used_twice(torch))


def _hook_order_and_remove(lib):
    w = lib.ones(3, requires_grad=True)
    log = []
    w.register_hook(lambda g: log.append(("a", g.tolist())) or g * 2)
    h = w.register_hook(lambda g: log.append(("b", g.tolist())) or g + 1)
    w.register_hook(lambda g: log.append(("c", g.tolist())))
    (w * 3).sum().backward()
    first = (list(log), w.grad.tolist())
    h.remove()
    h.remove()  # a second remove is harmless
    log.clear()
    (w * 3).sum().backward()
    return first, (list(log), w.grad.tolist())


def test_hooks_chain_in_order_replacement_lands_in_grad_and_remove():
    first, second = _hook_order_and_remove(rg)
    # a sees 3, returns 6; b sees 6, returns 7; c sees 7; .grad is the replaced value
    assert first == ([("a", [3.0] * 3), ("b", [6.0] * 3), ("c", [7.0] * 3)], [7.0] * 3)
    # b removed: a doubles 3 -> 6, c sees 6, accumulated onto 7
    assert second == ([("a", [3.0] * 3), ("c", [6.0] * 3)], [13.0] * 3)


def test_hooks_chain_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_hook_order_and_remove(rg), _hook_order_and_remove(torch))


def test_hook_handle_as_context_manager():
    w = rg.ones(2, requires_grad=True)
    calls = []
    with w.register_hook(lambda g: calls.append(1)):
        (w * 2).sum().backward()
    (w * 2).sum().backward()
    assert calls == [1]


def _nonleaf_hooks(lib):
    x = lib.tensor([1., 2., 3.], requires_grad=True)
    y = x * 2
    log = []
    y.register_hook(lambda g: log.append(("y", g.tolist())))
    z = y * y
    z.register_hook(lambda g: log.append(("z", g.tolist())) or g * 3)
    y.retain_grad()
    z.sum().backward()
    # a non-leaf used twice: its hook sees the summed gradient once
    u = x * 1
    u.register_hook(lambda g: log.append(("u", g.tolist())))
    (u * 2 + u * 3).sum().backward()
    return log, y.grad, x.grad


def test_nonleaf_hooks_fire_per_tensor():
    log, ygrad, xgrad = _nonleaf_hooks(rg)
    # z's hook sees ones and triples them; y sees 3 * 2y = 6 * [2, 4, 6]
    assert log == [("z", [1.0] * 3), ("y", [12.0, 24.0, 36.0]), ("u", [5.0] * 3)]
    np.testing.assert_allclose(ygrad.numpy(), [12, 24, 36])
    np.testing.assert_allclose(xgrad.numpy(), [24 + 5, 48 + 5, 72 + 5])


def test_nonleaf_hooks_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_nonleaf_hooks(rg), _nonleaf_hooks(torch))


def _hooks_with_autograd_grad(lib):
    out = {}
    x = lib.ones(3, requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    g, = lib.autograd.grad((x * 2).sum(), x)
    out["leaf"] = (g, seen, x.grad)
    # a leaf that is not among the inputs: its hook does not fire
    a = lib.tensor([1., 2.], requires_grad=True)
    b = lib.tensor([3., 4.], requires_grad=True)
    log = []
    a.register_hook(lambda g: log.append(("a", g.tolist())))
    b.register_hook(lambda g: log.append(("b", g.tolist())))
    ga, = lib.autograd.grad((a * b).sum(), a)
    out["other_leaf"] = (ga, list(log), a.grad, b.grad)
    # a non-leaf input that is not needed further: the hook's replacement is what grad returns
    log.clear()
    x = lib.tensor([1., 2.], requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: log.append(g.tolist()) or g * 10)
    gy, = lib.autograd.grad((y * y).sum(), y)
    out["nonleaf"] = (gy, list(log))
    return out


def test_leaf_hooks_fire_for_autograd_grad_inputs():
    out = _hooks_with_autograd_grad(rg)
    g, seen, xgrad = out["leaf"]
    assert seen == [[2.0] * 3]
    np.testing.assert_array_equal(g.numpy(), [20, 20, 20])
    assert xgrad is None
    ga, log, agrad, bgrad = out["other_leaf"]
    np.testing.assert_array_equal(ga.numpy(), [3, 4])
    assert log == [("a", [3.0, 4.0])] and agrad is None and bgrad is None
    gy, log = out["nonleaf"]
    np.testing.assert_array_equal(gy.numpy(), [60, 120])
    assert log == [[6.0, 12.0]]


def test_hooks_with_autograd_grad_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_hooks_with_autograd_grad(rg), _hooks_with_autograd_grad(torch))


def _backward_inputs_hooks(lib):
    a = lib.tensor([1., 2.], requires_grad=True)
    b = lib.tensor([3., 4.], requires_grad=True)
    log = []
    a.register_hook(lambda g: log.append(("a", g.tolist())))
    b.register_hook(lambda g: log.append(("b", g.tolist())))
    (a * b).sum().backward(inputs=[b])
    return log, a.grad, b.grad


def test_backward_inputs_fires_only_selected_leaf_hooks():
    log, agrad, bgrad = _backward_inputs_hooks(rg)
    assert log == [("b", [1.0, 2.0])] and agrad is None
    np.testing.assert_array_equal(bgrad.numpy(), [1, 2])


def test_backward_inputs_hooks_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_backward_inputs_hooks(rg), _backward_inputs_hooks(torch))


def _retain_grad_and_hooks(lib):
    # retain_grad before a hook: .grad still holds the hooked gradient (PyTorch 2 semantics)
    x = lib.tensor([1., 2., 3.], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 10)
    (y * y).sum().backward()
    # a leaf root: its hook fires with the seed gradient
    r = lib.tensor(2., requires_grad=True)
    seen = []
    r.register_hook(lambda g: seen.append(g.item()))
    r.backward()
    # accumulation across backward calls: the hook sees each call's gradient only
    acc = lib.tensor([1., 2.], requires_grad=True)
    per_call = []
    acc.register_hook(lambda g: per_call.append(g.tolist()))
    (acc * 2).sum().backward()
    (acc * 3).sum().backward()
    return y.grad, x.grad, seen, r.grad, per_call, acc.grad


def test_retain_grad_and_leaf_root_and_accumulation():
    ygrad, xgrad, seen, rgrad, per_call, accgrad = _retain_grad_and_hooks(rg)
    np.testing.assert_allclose(ygrad.numpy(), [40, 80, 120])
    np.testing.assert_allclose(xgrad.numpy(), [80, 160, 240])
    assert seen == [1.0] and rgrad.item() == 1.0
    assert per_call == [[2.0, 2.0], [3.0, 3.0]]
    np.testing.assert_array_equal(accgrad.numpy(), [5, 5])


def test_retain_grad_and_hooks_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_retain_grad_and_hooks(rg), _retain_grad_and_hooks(torch))


def _inplace_on_hooked_tensor(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    y = x * 1
    log = []
    y.register_hook(lambda g: log.append(("before", g.tolist())) or g * 10)
    y.mul_(3)
    y.register_hook(lambda g: log.append(("after", g.tolist())) or g * 2)
    y.sum().backward()
    return log, x.grad


def test_hooks_around_an_inplace_op():
    log, xgrad = _inplace_on_hooked_tensor(rg)
    # the later hook sees the gradient of the new value, the earlier one that of the old value
    assert log == [("after", [1.0, 1.0]), ("before", [6.0, 6.0])]
    np.testing.assert_array_equal(xgrad.numpy(), [60, 60])


def test_hooks_around_an_inplace_op_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_inplace_on_hooked_tensor(rg), _inplace_on_hooked_tensor(torch))


def _retain_grad_then_inplace(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    y = x * 1
    y.retain_grad()
    y.mul_(3)
    y.sum().backward()
    return y.grad.tolist(), x.grad.tolist()


def test_retain_grad_then_inplace_holds_gradient_of_new_value():
    assert _retain_grad_then_inplace(rg) == ([1.0, 1.0], [3.0, 3.0])


def _hook_result_errors(lib):
    out = {}

    def run(make):
        x = lib.tensor([1., 2.], requires_grad=True)
        x.register_hook(make)
        return _err(lib, (RuntimeError, TypeError), lambda: (x * 2).sum().backward())

    out["size"] = run(lambda g: lib.ones(3))
    out["type"] = run(lambda g: g.double())
    out["not_a_tensor"] = run(lambda g: 5)

    def named_hook(g):
        return lib.ones(3)

    out["named"] = run(named_hook)
    y = lib.tensor([1., 2.], requires_grad=True) * 2
    y.register_hook(lambda g: lib.ones(3))
    out["nonleaf_size"] = _err(lib, RuntimeError, lambda: y.sum().backward())
    out["no_grad"] = _err(lib, RuntimeError, lambda: lib.ones(2).register_hook(lambda g: g))
    return out


def test_hook_may_not_change_size_or_type():
    out = _hook_result_errors(rg)
    assert out["size"] == ("RuntimeError", "hook '<lambda>' has changed the size of value")
    assert out["type"] == ("RuntimeError", "hook '<lambda>' has changed the type of value "
                                           "(was LIB.FloatTensor got LIB.DoubleTensor)")
    assert out["not_a_tensor"] == ("TypeError", "expected Variable, but hook returned 'int'")
    assert out["named"] == ("RuntimeError", "hook 'named_hook' has changed the size of value")
    assert out["nonleaf_size"] == ("RuntimeError", "hook '<lambda>' has changed the size of value")
    assert out["no_grad"] == ("RuntimeError", "cannot register a hook on a tensor that doesn't require gradient")


def test_hook_result_errors_vs_torch():
    torch = pytest.importorskip("torch")
    assert _hook_result_errors(rg) == _hook_result_errors(torch)


def test_hook_exception_propagates_and_engine_recovers():
    x = rg.tensor([1., 2.], requires_grad=True)

    def boom(g):
        raise KeyError("from hook")

    h = x.register_hook(boom)
    with pytest.raises(KeyError, match="from hook"):
        (x * 2).sum().backward()
    assert x.grad is None
    h.remove()
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2])


def _hooks_and_grad_mode(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    seen = []
    y = x ** 3
    y.register_hook(lambda g: seen.append(("y", g.requires_grad, lib.is_grad_enabled())))
    x.register_hook(lambda g: seen.append(("x", g.requires_grad, lib.is_grad_enabled())))
    g, = lib.autograd.grad(y.sum(), x, create_graph=True)
    g.sum().backward()
    return seen, g, x.grad


def test_hooks_see_grad_mode_of_the_backward():
    seen, g, xgrad = _hooks_and_grad_mode(rg)
    # create_graph=True: hooks run with grad mode on and the leaf's gradient is differentiable
    assert seen == [("y", False, True), ("x", True, True), ("x", False, False)]
    np.testing.assert_allclose(g.detach().numpy(), [3, 12])
    np.testing.assert_allclose(xgrad.numpy(), [6, 12])


def test_hooks_and_grad_mode_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_hooks_and_grad_mode(rg), _hooks_and_grad_mode(torch))


def _hooks_on_pruned_branch(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    b = lib.tensor([3., 4.], requires_grad=True)
    e = b.sin()
    log = []
    e.register_hook(lambda g: log.append("tensor hook"))
    e.grad_fn.register_prehook(lambda go: log.append("node prehook"))
    e.grad_fn.register_hook(lambda gi, go: log.append("node hook"))
    lib.autograd.grad((x * e).sum(), x)
    return log


def test_no_hooks_on_branches_autograd_grad_prunes():
    assert _hooks_on_pruned_branch(rg) == []


def test_no_hooks_on_pruned_branches_torch_reference():
    torch = pytest.importorskip("torch")
    assert _hooks_on_pruned_branch(torch) == []


# ===== 2. post-accumulate-grad hooks ===============================================================

def _post_accumulate(lib):
    w = lib.tensor([1., 2., 3.], requires_grad=True)
    log = []
    w.register_hook(lambda g: log.append(("hook", g.tolist())) or g * 2)
    h = w.register_post_accumulate_grad_hook(
        lambda p: log.append(("post", p.grad.tolist(), p is w, lib.is_grad_enabled())))
    (w * w + w).sum().backward()  # w reaches its AccumulateGrad twice: the hooks run once
    first = list(log)
    log.clear()
    w.register_post_accumulate_grad_hook(lambda p: log.append(("post2", p.grad.tolist())))
    (w * 2).sum().backward()
    second = list(log)
    log.clear()
    h.remove()
    lib.autograd.grad((w * 2).sum(), w)  # autograd.grad accumulates nothing: no post hooks
    third = list(log)
    return first, second, third, w.grad


def test_post_accumulate_hook_runs_once_after_grad_is_final():
    first, second, third, grad = _post_accumulate(rg)
    assert first == [("hook", [3.0, 5.0, 7.0]), ("post", [6.0, 10.0, 14.0], True, False)]
    assert second == [("hook", [2.0] * 3), ("post", [10.0, 14.0, 18.0], True, False),
                      ("post2", [10.0, 14.0, 18.0])]
    assert third == [("hook", [2.0] * 3)]
    np.testing.assert_array_equal(grad.numpy(), [10, 14, 18])


def test_post_accumulate_hook_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_post_accumulate(rg), _post_accumulate(torch))


def _optimizer_in_backward(lib, in_backward):
    """PyTorch's "optimizer in backward" tutorial: one optimizer per parameter, stepped from the
    parameter's post-accumulate-grad hook."""
    model = _mlp(lib)
    params = list(model.parameters())
    calls = []
    if in_backward:
        optimizers = {p: lib.optim.SGD([p], lr=0.05, momentum=0.9) for p in params}

        def step(p):
            calls.append(type(p).__name__)
            optimizers[p].step()
            optimizers[p].zero_grad()

        for p in params:
            p.register_post_accumulate_grad_hook(step)
    else:
        opt = lib.optim.SGD(params, lr=0.05, momentum=0.9)
    x = lib.tensor(X)
    for _ in range(3):
        loss = (model(x) ** 2).mean()
        loss.backward()
        if not in_backward:
            opt.step()
            opt.zero_grad()
    return [p.detach().clone() for p in params], [p.grad for p in params], calls


def test_optimizer_step_in_post_accumulate_hook():
    inside, grads, calls = _optimizer_in_backward(rg, True)
    outside, _, _ = _optimizer_in_backward(rg, False)
    assert calls == ["Parameter"] * 12  # the hook gets the Parameter it was registered on
    assert all(g is None for g in grads)
    assert_same(inside, outside)


def test_optimizer_in_backward_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_optimizer_in_backward(rg, True), _optimizer_in_backward(torch, True))


def _post_accumulate_errors(lib):
    x = lib.ones(2, requires_grad=True)
    return (_err(lib, RuntimeError, lambda: lib.ones(2).register_post_accumulate_grad_hook(lambda p: None)),
            _err(lib, RuntimeError, lambda: (x * 2).register_post_accumulate_grad_hook(lambda p: None)))


def test_post_accumulate_hook_errors():
    no_grad, non_leaf = _post_accumulate_errors(rg)
    assert no_grad == ("RuntimeError", "cannot register a hook on a tensor that doesn't require gradient")
    assert non_leaf == ("RuntimeError", "post accumulate grad hooks cannot be registered on non-leaf tensors")


def test_post_accumulate_hook_errors_vs_torch():
    torch = pytest.importorskip("torch")
    assert _post_accumulate_errors(rg) == _post_accumulate_errors(torch)


def test_post_accumulate_hook_holds_its_tensor_weakly():
    import gc
    import weakref

    w = rg.ones(2, requires_grad=True)
    w.register_post_accumulate_grad_hook(lambda p: None)
    ref = weakref.ref(w)
    del w
    gc.collect()
    assert ref() is None


# ===== 3. node hooks ===============================================================================

def _tt(ts):
    return tuple(None if t is None else t.tolist() for t in ts)


def _node_hooks(lib):
    out = {}
    a = lib.tensor([1., 2., 3.], requires_grad=True)
    b = lib.tensor([4., 5., 6.], requires_grad=True)
    c = a * b
    log = []
    c.grad_fn.register_hook(lambda gi, go: log.append(("post", _tt(gi), _tt(go))))
    c.grad_fn.register_prehook(lambda go: log.append(("pre", _tt(go))))
    (c * 2).sum().backward(retain_graph=True)
    out["seen"] = (list(log), a.grad, b.grad)
    a.grad = b.grad = None
    log.clear()
    h1 = c.grad_fn.register_prehook(lambda go: (go[0] * 10,))
    h2 = c.grad_fn.register_hook(lambda gi, go: (gi[0] + 1, None))
    (c * 2).sum().backward(retain_graph=True)
    out["replaced"] = (list(log), a.grad, b.grad)
    h1.remove()
    h2.remove()
    a.grad = b.grad = None
    log.clear()
    (c * 2).sum().backward()
    out["removed"] = (list(log), a.grad, b.grad)
    # an input that does not require grad gets None in grad_inputs
    x = lib.tensor([1., 2.], requires_grad=True)
    y = x * lib.tensor([3., 4.])
    log.clear()
    y.grad_fn.register_hook(lambda gi, go: log.append(_tt(gi)))
    y.sum().backward()
    out["no_grad_input"] = list(log)
    # order: tensor hook, node pre-hook, node hook, then the leaf
    x = lib.tensor([1., 2.], requires_grad=True)
    y = x.exp()
    log.clear()
    y.grad_fn.register_prehook(lambda go: log.append("node prehook"))
    y.register_hook(lambda g: log.append("tensor hook"))
    y.grad_fn.register_hook(lambda gi, go: log.append("node hook"))
    x.register_hook(lambda g: log.append("leaf hook"))
    y.sum().backward()
    out["order"] = list(log)
    # the node hook sees grad_outputs as the pre-hook replaced them
    x = lib.tensor([1., 2.], requires_grad=True)
    y = x.exp()
    log.clear()
    y.grad_fn.register_prehook(lambda go: (go[0] * 3,))
    y.grad_fn.register_hook(lambda gi, go: log.append((gi, go)))
    y.sum().backward()
    out["post_sees_pre"] = list(log)
    return out


def test_node_hooks_values_replacement_and_removal():
    out = _node_hooks(rg)
    log, ag, bg = out["seen"]
    assert log == [("pre", ([2.0] * 3,)), ("post", ([8.0, 10.0, 12.0], [2.0, 4.0, 6.0]), ([2.0] * 3,))]
    log, ag, bg = out["replaced"]
    assert log == [("pre", ([2.0] * 3,)), ("post", ([80.0, 100.0, 120.0], [20.0, 40.0, 60.0]), ([20.0] * 3,))]
    np.testing.assert_array_equal(ag.numpy(), [81, 101, 121])
    assert bg is None
    log, ag, bg = out["removed"]
    np.testing.assert_array_equal(ag.numpy(), [8, 10, 12])
    np.testing.assert_array_equal(bg.numpy(), [2, 4, 6])
    assert out["no_grad_input"] == [([3.0, 4.0], None)]
    assert out["order"] == ["tensor hook", "node prehook", "node hook", "leaf hook"]
    (gi, go), = out["post_sees_pre"]
    np.testing.assert_allclose(go[0].numpy(), [3, 3])
    np.testing.assert_allclose(gi[0].numpy(), 3 * np.exp([1.0, 2.0]), rtol=1e-6)


def test_node_hooks_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_node_hooks(rg), _node_hooks(torch))


def _node_hook_wrong_count(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    y = x * x
    y.grad_fn.register_hook(lambda gi, go: (gi[0], gi[0], gi[0]))
    post = _err(lib, RuntimeError, lambda: y.sum().backward())
    x = lib.tensor([1., 2.], requires_grad=True)
    y = x.exp()
    y.grad_fn.register_prehook(lambda go: (go[0], go[0]))
    pre = _err(lib, RuntimeError, lambda: y.sum().backward())
    return post, pre


def test_node_hook_returning_wrong_number_of_values_raises():
    for kind, msg in _node_hook_wrong_count(rg):
        assert kind == "RuntimeError" and "incorrect number of values" in msg


def _accumulate_grad_hooks(lib):
    x = lib.tensor([1., 2.], requires_grad=True)
    y = x * 3
    acc = y.grad_fn.next_functions[0][0]
    log = []
    acc.register_prehook(lambda go: log.append(("pre", _tt(go))) or (go[0] * 2,))
    # as old DDP code does: a hook on the AccumulateGrad node reads the accumulated .grad
    h = acc.register_hook(lambda gi, go: log.append(("post", gi, _tt(go), x.grad.tolist())))
    y.sum().backward()
    first = list(log)
    log.clear()
    h.remove()
    y2 = x * 3
    y2.sum().backward()
    return acc.name().split("::")[-1], first, list(log), x.grad


def test_accumulate_grad_node_hooks():
    name, first, second, grad = _accumulate_grad_hooks(rg)
    assert name == "AccumulateGrad"
    assert first == [("pre", ([3.0, 3.0],)), ("post", (), ([6.0, 6.0],), [6.0, 6.0])]
    assert second == [("pre", ([3.0, 3.0],))]
    np.testing.assert_array_equal(grad.numpy(), [12, 12])


def test_accumulate_grad_node_hooks_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_accumulate_grad_hooks(rg), _accumulate_grad_hooks(torch))


# ===== 4. module hooks =============================================================================

def _module_backward_hooks(lib):
    out = {}
    m = _linear(lib, W1, B1)
    log = []
    m.register_full_backward_pre_hook(lambda mod, go: log.append(("pre", mod is m, go)))
    m.register_full_backward_hook(lambda mod, gi, go: log.append(("hook", mod is m, gi, go)))
    x = lib.tensor(X, requires_grad=True)
    (m(x) ** 2).sum().backward()
    out["linear"] = (list(log), x.grad, m.weight.grad)
    # input not requiring grad: the hook fires at the outputs with grad_input (None,)
    log.clear()
    m.zero_grad()
    (m(lib.tensor(X)) ** 2).sum().backward()
    out["no_grad_input"] = (list(log), m.weight.grad)
    # replacing grad_output (pre-hook) and grad_input (hook)
    m2 = _linear(lib, W1, B1)
    log.clear()
    m2.register_full_backward_pre_hook(lambda mod, go: (go[0] * 2,))
    m2.register_full_backward_hook(lambda mod, gi, go: log.append((gi, go)) or (gi[0] + 1,))
    x = lib.tensor(X, requires_grad=True)
    (m2(x) ** 2).sum().backward()
    out["replaced"] = (list(log), x.grad, m2.weight.grad)
    return out


def test_module_full_backward_hooks_on_linear():
    out = _module_backward_hooks(rg)
    log, xgrad, wgrad = out["linear"]
    W, B = W1, B1
    go = 2 * (X @ W.T + B)
    (_, same_pre, pre_go), (_, same, gi, go2) = log
    assert same_pre and same
    np.testing.assert_allclose(pre_go[0].numpy(), go, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(go2[0].numpy(), go, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gi[0].numpy(), go @ W, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xgrad.numpy(), go @ W, rtol=1e-5, atol=1e-5)
    log, wgrad2 = out["no_grad_input"]
    assert [e[0] for e in log] == ["pre", "hook"] and log[1][2] == (None,)
    np.testing.assert_allclose(wgrad2.numpy(), wgrad.numpy(), rtol=1e-6)
    ((gi, go3),), xgrad3, _ = out["replaced"]
    np.testing.assert_allclose(go3[0].numpy(), 2 * go, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xgrad3.numpy(), 2 * go @ W + 1, rtol=1e-5, atol=1e-5)


def test_module_full_backward_hooks_on_linear_vs_torch():
    torch = pytest.importorskip("torch")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns when no input requires grad
        expected = _module_backward_hooks(torch)
    assert_same(_module_backward_hooks(rg), expected, rtol=1e-4, atol=1e-5)


def _sequential_backward_hooks(lib, input_requires_grad):
    seq = _mlp(lib)
    log = []
    for name, mod in [("seq", seq), ("0", seq[0]), ("1", seq[1]), ("2", seq[2])]:
        mod.register_full_backward_hook(lambda mod, gi, go, name=name: log.append((name, gi, go)))
        mod.register_full_backward_pre_hook(lambda mod, go, name=name: log.append((name + " pre", go)))
    x = lib.tensor(X, requires_grad=input_requires_grad)
    seq(x).sum().backward()
    return log, x.grad


def test_sequential_backward_hook_order():
    log, xgrad = _sequential_backward_hooks(rg, True)
    names = [e[0] for e in log]
    assert names == ["seq pre", "2 pre", "2", "1 pre", "1", "0 pre", "0", "seq"]
    assert_same(log[-1][1], [xgrad])  # the Sequential's grad_input is its input's gradient
    log, _ = _sequential_backward_hooks(rg, False)
    names = [e[0] for e in log]
    # no input requires grad: the outer and the first module's hooks fire at their outputs
    assert names == ["seq pre", "seq", "2 pre", "2", "1 pre", "1", "0 pre", "0"]
    assert log[1][1] == (None,) and log[-1][1] == (None,)


@pytest.mark.parametrize("input_requires_grad", [True, False])
def test_sequential_backward_hooks_vs_torch(input_requires_grad):
    torch = pytest.importorskip("torch")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns when no input requires grad
        expected = _sequential_backward_hooks(torch, input_requires_grad)
    assert_same(_sequential_backward_hooks(rg, input_requires_grad), expected, rtol=1e-4, atol=1e-5)


def _module_argument_kinds(lib):
    out = {}

    class Two(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = _linear(lib, W1, B1)

        def forward(self, a, b):
            return self.lin(a) * b

    two = Two()
    log = []
    two.register_full_backward_hook(lambda mod, gi, go: log.append((gi, go)))
    a = lib.tensor(X, requires_grad=True)
    b = lib.tensor(X[:, :3].copy())  # does not require grad
    two(a, b).sum().backward()
    out["one_needs_grad"] = (list(log), a.grad.clone())
    log.clear()
    b2 = lib.tensor(X[:, :3].copy(), requires_grad=True)
    two(a, b2).sum().backward()
    out["both"] = (list(log), b2.grad)

    class Scale(lib.nn.Module):
        def forward(self, a, scale, *, other=None):
            return a * scale * other

    sc = Scale()
    log.clear()
    sc.register_full_backward_hook(lambda mod, gi, go: log.append((gi, go)))
    a = lib.tensor([1., 2.], requires_grad=True)
    k = lib.tensor([5., 6.], requires_grad=True)
    sc(a, 3.0, other=k).sum().backward()  # grad_input: one per positional argument, kwargs left out
    out["non_tensor_arg"] = (list(log), a.grad, k.grad)
    # replacing grad_input with a non-tensor positional argument in the middle
    sc2 = Scale()
    sc2.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 0 + 7, None))
    a = lib.tensor([1., 2.], requires_grad=True)
    sc2(a, 3.0, other=lib.ones(2)).sum().backward()
    out["non_tensor_arg_replaced"] = a.grad

    class Split(lib.nn.Module):
        def forward(self, x):
            return x * 2, x * 3

    sp = Split()
    log.clear()
    sp.register_full_backward_hook(lambda mod, gi, go: log.append((gi, go)))
    sp.register_full_backward_pre_hook(lambda mod, go: log.append(("pre", go)))
    x = lib.tensor([1., 2.], requires_grad=True)
    u, v = sp(x)
    u.sum().backward()  # the unused output's gradient is None
    out["two_outputs_one_used"] = list(log)
    # the same module called twice: its hooks fire once per call
    lin = _linear(lib, np.array([[1., 2.], [3., 4.]], np.float32), np.zeros(2, np.float32))
    log.clear()
    lin.register_full_backward_hook(lambda mod, gi, go: log.append((gi, go)))
    x = lib.tensor([1., 1.], requires_grad=True)
    lin(lin(x)).sum().backward()
    out["reused"] = list(log)
    return out


def test_module_backward_hook_argument_kinds():
    out = _module_argument_kinds(rg)
    ((gi, go),), agrad = out["one_needs_grad"]
    assert len(gi) == 2 and gi[1] is not None  # b's slot: zeros (as PyTorch fills it)
    np.testing.assert_array_equal(gi[1].numpy(), np.zeros((5, 3)))
    np.testing.assert_allclose(gi[0].numpy(), agrad.numpy())
    ((gi, go),), agrad, kgrad = out["non_tensor_arg"]
    assert len(gi) == 2 and gi[1] is None
    np.testing.assert_allclose(gi[0].numpy(), [15, 18])
    np.testing.assert_allclose(kgrad.numpy(), [3, 6])
    np.testing.assert_array_equal(out["non_tensor_arg_replaced"].numpy(), [7, 7])
    (pre, (gi, go)) = out["two_outputs_one_used"]
    assert pre[1][1] is None and go[1] is None
    np.testing.assert_array_equal(gi[0].numpy(), [2, 2])
    (gi1, go1), (gi2, go2) = out["reused"]
    assert_same([gi1, go1, gi2, go2], [[[4., 6.]], [[1., 1.]], [[22., 32.]], [[4., 6.]]])


def test_module_backward_hook_argument_kinds_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_module_argument_kinds(rg), _module_argument_kinds(torch), rtol=1e-4, atol=1e-5)


def _module_hook_errors(lib):
    m = _linear(lib, W1, B1)
    m.register_full_backward_hook(lambda mod, gi, go: (lib.ones(5, 4),))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        no_input = _err(lib, RuntimeError, lambda: m(lib.tensor(X)).sum().backward())
    wrong_count = _linear(lib, W1, B1)
    wrong_count.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
    count = _err(lib, RuntimeError,
                 lambda: wrong_count(lib.tensor(X, requires_grad=True)).sum().backward())
    mixed = _linear(lib, W1, B1)
    mixed.register_full_backward_hook(lambda *a: None)
    mix = _err(lib, RuntimeError, lambda: mixed.register_backward_hook(lambda *a: None))
    return no_input, count, mix


def test_module_backward_hook_errors():
    no_input, count, mix = _module_hook_errors(rg)
    assert no_input == ("RuntimeError", "Backward hook for Modules where no input requires gradient should "
                                        "always return None or None for all gradients.")
    assert count == ("RuntimeError", "Backward hook returned an invalid number of grad_input, got 2, but expected 1")
    assert mix == ("RuntimeError", "Cannot use both regular backward hooks and full backward hooks on a single "
                                   "Module. Please use only one of them.")


def test_module_backward_hook_errors_vs_torch():
    torch = pytest.importorskip("torch")
    assert _module_hook_errors(rg) == _module_hook_errors(torch)


def test_module_backward_hook_removed():
    m = _linear(rg, W1, B1)
    calls = []
    h1 = m.register_full_backward_hook(lambda *a: calls.append("hook"))
    h2 = m.register_full_backward_pre_hook(lambda *a: calls.append("pre"))
    h1.remove()
    h2.remove()
    m(rg.tensor(X, requires_grad=True)).sum().backward()
    assert calls == []


def _forward_hooks(lib):
    out = {}

    class M(lib.nn.Module):
        def forward(self, x, *, scale=1.0, fail=False):
            if fail:
                raise ValueError("forward failed")
            return x * scale

    m = M()
    log = []

    def pre_kw(mod, args, kwargs):
        log.append(("pre", len(args), sorted(kwargs)))
        return args, {**kwargs, "scale": kwargs.get("scale", 1.0) * 2}

    def fwd_kw(mod, args, kwargs, output):
        log.append(("fwd kw", len(args), sorted(kwargs), output))
        return None if output is None else output + 1

    m.register_forward_pre_hook(pre_kw, with_kwargs=True)
    h = m.register_forward_hook(fwd_kw, with_kwargs=True)
    m.register_forward_hook(lambda mod, args, output: log.append(("plain", output)))
    m.register_forward_hook(lambda mod, args, output: log.append(("always", output)), always_call=True)
    y = m(lib.tensor([1., 2.]), scale=3.0)
    out["ok"] = (list(log), y)
    log.clear()
    try:
        m(lib.tensor([1., 2.]), fail=True)
    except ValueError as e:
        log.append(str(e))
    out["forward_raised"] = list(log)  # of the forward hooks only the always_call one runs, output None
    log.clear()
    h.remove()
    out["removed"] = (m(lib.tensor([1., 2.])), list(log))
    m2 = M()
    log.clear()
    m2.register_forward_hook(lambda mod, a, o: log.append("a"))
    m2.register_forward_hook(lambda mod, a, o: log.append("b"), prepend=True)
    m2.register_forward_pre_hook(lambda mod, a: log.append("pre a"))
    m2.register_forward_pre_hook(lambda mod, a: log.append("pre b"), prepend=True)
    m2(lib.tensor([1.]))
    out["prepend"] = list(log)
    m3 = M()
    m3.register_forward_pre_hook(lambda mod, a: a[0] * 10)  # a single value replaces the args
    out["pre_single"] = m3(lib.tensor([1.]))
    m4 = M()
    m4.register_forward_pre_hook(lambda mod, a, k: 5, with_kwargs=True)
    out["bad_pre"] = _err(lib, RuntimeError, lambda: m4(lib.tensor([1.])))
    return out


def test_forward_hooks_with_kwargs_and_always_call():
    out = _forward_hooks(rg)
    log, y = out["ok"]
    assert [e[0] for e in log] == ["pre", "fwd kw", "plain", "always"]
    assert log[0] == ("pre", 1, ["scale"])
    np.testing.assert_array_equal(log[1][3].numpy(), [6, 12])  # scale 3 doubled by the pre-hook
    np.testing.assert_array_equal(y.numpy(), [7, 13])  # +1 from the kwargs forward hook
    assert out["forward_raised"] == [("pre", 1, ["fail"]), ("always", None), "forward failed"]
    y, log = out["removed"]
    np.testing.assert_array_equal(y.numpy(), [2, 4])
    assert out["prepend"] == ["pre b", "pre a", "b", "a"]
    np.testing.assert_array_equal(out["pre_single"].numpy(), [10])
    assert out["bad_pre"] == ("RuntimeError", "forward pre-hook must return None or a tuple of (new_args, "
                                              "new_kwargs), but got 5.")


def test_forward_hooks_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_forward_hooks(rg), _forward_hooks(torch))


# ===== 5. saved-tensor hooks =======================================================================

def _graph_nodes(root):
    """Every node reachable from ``root`` (a grad_fn), AccumulateGrad included, each once."""
    seen, stack, nodes = set(), [root], []
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        nodes.append(n)
        stack.extend(f for f, _ in n.next_functions)
    return nodes


def test_pack_called_for_every_saved_tensor_and_unpack_feeds_backward():
    packed, unpacked = [], []

    def pack(t):
        packed.append(tuple(t.shape))
        return t * 1

    def unpack(t):
        unpacked.append(tuple(t.shape))
        return t

    def forward(x, w):
        return ((x @ w).tanh() * x.sum(1, keepdim=True)).exp().sum()

    x0 = _RNG.standard_normal((3, 4)).astype(np.float32)
    w0 = _RNG.standard_normal((4, 2)).astype(np.float32)
    x, w = rg.tensor(x0, requires_grad=True), rg.tensor(w0, requires_grad=True)
    with rgraph.saved_tensors_hooks(pack, unpack):
        out = forward(x, w)
    saved = sum(len(n._saved_tensors_info()) for n in _graph_nodes(out.grad_fn))
    assert saved > 0 and len(packed) == saved and unpacked == []
    out.backward()
    assert sorted(unpacked) == sorted(packed)
    x2, w2 = rg.tensor(x0, requires_grad=True), rg.tensor(w0, requires_grad=True)
    forward(x2, w2).backward()
    np.testing.assert_array_equal(x.grad.numpy(), x2.grad.numpy())
    np.testing.assert_array_equal(w.grad.numpy(), w2.grad.numpy())


def _saved_hooks(lib):
    out = {}
    G = lib.autograd.graph
    calls = {"pack": 0, "unpack": 0}

    def pack(t):
        calls["pack"] += 1
        return t

    def unpack(t):
        calls["unpack"] += 1
        return t

    x = lib.tensor([1., 2., 3.], requires_grad=True)
    with G.saved_tensors_hooks(pack, unpack):
        s = (x * x).exp().sum()  # x*x saves self and other, exp saves its result, sum nothing
    out["after_forward"] = dict(calls)
    s.backward()
    out["after_backward"] = (dict(calls), x.grad)
    # a pack hook that changes the value changes the gradient: d(x*x) = other*g + self*g
    x = lib.tensor([1., 2., 3.], requires_grad=True)
    with G.saved_tensors_hooks(lambda t: t * 2, lambda t: t):
        y = x * x
    y.sum().backward()
    out["pack_changes_value"] = x.grad
    # nested: the innermost hooks win
    log = []
    x = lib.tensor([1., 2., 3.], requires_grad=True)
    with G.saved_tensors_hooks(lambda t: log.append("outer") or t, lambda t: t):
        with G.saved_tensors_hooks(lambda t: log.append("inner") or t, lambda t: t):
            y = x.exp()
        z = y.sin()
    z.sum().backward()
    out["nested"] = list(log)
    # save_on_cpu: the same gradients
    x = lib.tensor([1., 2., 3.], requires_grad=True)
    with G.save_on_cpu():
        y = (x * x).exp().sum()
    y.backward()
    out["save_on_cpu"] = x.grad
    # the unpack hook runs at each backward through a retained graph
    n = [0]
    x = lib.tensor([1., 2., 3.], requires_grad=True)
    with G.saved_tensors_hooks(lambda t: t, lambda t: n.__setitem__(0, n[0] + 1) or t):
        y = x.exp().sum()
    y.backward(retain_graph=True)
    y.backward()
    out["unpack_per_backward"] = n[0]
    # the pack hook runs without grad mode and sees the tensor as it requires grad
    seen = []
    x = lib.tensor([1., 2., 3.], requires_grad=True)
    with G.saved_tensors_hooks(lambda t: seen.append((t.requires_grad, lib.is_grad_enabled())) or t,
                               lambda t: t):
        x * x
    out["pack_sees_input"] = seen
    return out


def test_saved_tensors_hooks():
    out = _saved_hooks(rg)
    assert out["after_forward"] == {"pack": 3, "unpack": 0}
    calls, grad = out["after_backward"]
    assert calls == {"pack": 3, "unpack": 3}
    x = np.array([1., 2., 3.])
    np.testing.assert_allclose(grad.numpy(), 2 * x * np.exp(x * x), rtol=1e-5)
    np.testing.assert_array_equal(out["pack_changes_value"].numpy(), [4, 8, 12])
    assert out["nested"] == ["inner", "outer"]
    np.testing.assert_allclose(out["save_on_cpu"].numpy(), 2 * x * np.exp(x * x), rtol=1e-5)
    assert out["unpack_per_backward"] == 2
    assert out["pack_sees_input"] == [(True, False), (True, False)]


def test_saved_tensors_hooks_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_saved_hooks(rg), _saved_hooks(torch))


def _saved_hook_errors(lib):
    G = lib.autograd.graph
    x = lib.tensor([1., 2., 3.], requires_grad=True)
    with G.saved_tensors_hooks(lambda t: t, lambda t: 5):
        y = x.exp()
    bad_unpack = _err(lib, TypeError, lambda: y.sum().backward())

    def bad_pack(t):
        raise ValueError("pack failed")

    def run():
        with G.saved_tensors_hooks(bad_pack, lambda t: t):
            x.exp()

    pack_raises = _err(lib, ValueError, run)
    x.exp().sum().backward()  # the failed block left no hooks behind

    def nested():
        with G.disable_saved_tensors_hooks("no hooks here"):
            with G.saved_tensors_hooks(lambda t: t, lambda t: t):
                pass

    disabled = _err(lib, RuntimeError, nested)
    return bad_unpack, pack_raises, disabled


def test_saved_tensors_hooks_errors():
    bad_unpack, pack_raises, disabled = _saved_hook_errors(rg)
    assert bad_unpack == ("TypeError", "Output of saved tensor unpack_hook expected to be a Tensor but got "
                                       "result of type int")
    assert pack_raises == ("ValueError", "pack failed")
    assert disabled == ("RuntimeError", "no hooks here")


def test_saved_tensors_hooks_errors_vs_torch():
    torch = pytest.importorskip("torch")
    assert _saved_hook_errors(rg) == _saved_hook_errors(torch)


def _pack_sees_output(lib):
    seen = []

    def pack(t):
        seen.append((t.requires_grad, None if t.grad_fn is None else t.grad_fn.name()))
        return t

    x = lib.tensor([1., 2., 3.], requires_grad=True)
    with lib.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        x.exp()
    return seen


def test_pack_hook_gets_saved_output_without_history():
    # A difference from PyTorch (README): the pack hook gets the output's data without its grad_fn,
    # so a hook that keeps what it was given cannot keep the graph alive through it; the unpacked
    # tensor is re-attached to its node, so gradients (double backward included) are unchanged.
    assert _pack_sees_output(rg) == [(False, None)]
    x = rg.tensor([0.5, 1.0], dtype=rg.float64, requires_grad=True)
    with rgraph.saved_tensors_hooks(lambda t: t, lambda t: t):
        y = x.exp()
    (g,) = rg.autograd.grad(y.sum(), x, create_graph=True)
    (gg,) = rg.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), np.exp([0.5, 1.0]))



def test_pack_hook_sees_saved_output_torch_reference():
    torch = pytest.importorskip("torch")
    assert _pack_sees_output(torch) == [(True, "ExpBackward0")]


def test_saved_attribute_goes_through_unpack_hook():
    calls = []
    x = rg.tensor([1., 2.], requires_grad=True)
    with rgraph.saved_tensors_hooks(lambda t: ("box", t), lambda p: calls.append(p[0]) or p[1]):
        y = x.exp()
    np.testing.assert_allclose(y.grad_fn._saved_result.detach().numpy(), np.exp([1., 2.]), rtol=1e-6)
    assert calls == ["box"]
    # to_dot cannot see into a packed tensor
    assert "(packed)" in rgraph.to_dot(y)


# ===== 6. queue_callback ===========================================================================

def _queue_callback(lib):
    out = {}
    engine = lib.autograd.Variable._execution_engine
    a = lib.tensor([1., 2.], requires_grad=True)
    b = lib.tensor([3., 4.], requires_grad=True)
    log = []

    def cb():
        log.append(("callback", a.grad.tolist(), b.grad.tolist()))

    c = a * b
    c.register_hook(lambda g: log.append("hook") or engine.queue_callback(cb))
    (c * 2).sum().backward()
    out["after_all_leaves"] = list(log)
    out["outside"] = _err(lib, RuntimeError, lambda: engine.queue_callback(cb))
    # a callback may queue another; post-accumulate hooks run before the callbacks
    log.clear()

    def cb1():
        log.append("cb1")
        engine.queue_callback(lambda: log.append("cb2"))

    x = lib.tensor([1.], requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: engine.queue_callback(cb1))
    x.register_post_accumulate_grad_hook(lambda p: log.append("post accumulate"))
    y.sum().backward()
    out["nested"] = list(log)
    # a callback's exception reaches the caller; the engine is left clean
    x = lib.tensor([1.], requires_grad=True)
    y = x * 2

    def raiser():
        raise ValueError("callback failed")

    y.register_hook(lambda g: engine.queue_callback(raiser))
    out["raises"] = _err(lib, ValueError, lambda: y.sum().backward())
    out["outside_after_failure"] = _err(lib, RuntimeError, lambda: engine.queue_callback(cb))
    # autograd.grad runs callbacks too
    log.clear()
    x = lib.tensor([1.], requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: engine.queue_callback(lambda: log.append("grad callback")))
    lib.autograd.grad(y.sum(), x)
    out["autograd_grad"] = list(log)
    return out


def test_queue_callback():
    out = _queue_callback(rg)
    assert out["after_all_leaves"] == ["hook", ("callback", [6.0, 8.0], [2.0, 4.0])]
    msg = ("RuntimeError", "Final callbacks can only be installed during backward pass.")
    assert out["outside"] == msg and out["outside_after_failure"] == msg
    assert out["nested"] == ["post accumulate", "cb1", "cb2"]
    assert out["raises"] == ("ValueError", "callback failed")
    assert out["autograd_grad"] == ["grad callback"]


def test_queue_callback_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_queue_callback(rg), _queue_callback(torch))


def test_queue_callback_via_variable_class():
    x = rg.tensor([1.], requires_grad=True)
    y = x * 2
    done = []
    y.register_hook(lambda g: Variable._execution_engine.queue_callback(lambda: done.append(x.grad.item())))
    y.sum().backward()
    assert done == [2.0]


# ===== 7. current_backward_leaves (ours) ===========================================================

def _leaves_seen_from_hook(root_tensor, run):
    got = []
    root_tensor.register_hook(lambda g: got.append(sorted(_ident(t) for t in rgraph.current_backward_leaves())))
    run()
    return got


def test_current_backward_leaves():
    a = rg.tensor([1., 2.], requires_grad=True)
    b = rg.tensor([3., 4.], requires_grad=True)
    c = rg.tensor([5., 6.], requires_grad=True)
    k = rg.tensor([1., 1.])  # does not require grad: not a leaf of the backward
    y = a * b + k
    assert _leaves_seen_from_hook(y, lambda: (y * 2).sum().backward()) == [sorted([_ident(a), _ident(b)])]
    y = a * b * c
    assert _leaves_seen_from_hook(y, lambda: y.sum().backward(inputs=[a, c])) == [sorted([_ident(a), _ident(c)])]
    y = a * b
    assert _leaves_seen_from_hook(y, lambda: rg.autograd.grad(y.sum(), [b])) == [[_ident(b)]]
    # a non-leaf among the inputs is no leaf
    y = a * b
    z = y * c
    assert _leaves_seen_from_hook(z, lambda: z.sum().backward(inputs=[y, c])) == [[_ident(c)]]
    # a leaf root
    got = []
    h = a.register_hook(lambda g: got.append([_ident(t) for t in rgraph.current_backward_leaves()]))
    a.backward(rg.ones(2))
    h.remove()
    assert got == [[_ident(a)]]
    with pytest.raises(RuntimeError, match="can only be called during backward pass"):
        rgraph.current_backward_leaves()


def test_current_backward_leaves_in_post_accumulate_hook_callback_and_nested_backward():
    x = rg.tensor([1.], requires_grad=True)
    got = []
    x.register_post_accumulate_grad_hook(lambda p: got.append(("post", len(rgraph.current_backward_leaves()))))
    y = x * 2
    y.register_hook(lambda g: Variable._execution_engine.queue_callback(
        lambda: got.append(("callback", len(rgraph.current_backward_leaves())))))
    y.sum().backward()
    assert got == [("post", 1), ("callback", 1)]
    # a backward run from inside a hook sees its own leaves; the outer one's come back after it
    p = rg.tensor([1.], requires_grad=True)
    q = rg.tensor([1.], requires_grad=True)
    got = []

    def outer_hook(g):
        with rg.enable_grad():
            (q * 3).sum().backward()
        got.append(("outer", [_ident(t) for t in rgraph.current_backward_leaves()]))

    q.register_hook(lambda g: got.append(("inner", [_ident(t) for t in rgraph.current_backward_leaves()])))
    yy = p * 1
    yy.register_hook(outer_hook)
    yy.sum().backward()
    assert got == [("inner", [_ident(q)]), ("outer", [_ident(p)])]
    assert q.grad.item() == 3.0 and p.grad.item() == 1.0


def test_current_backward_leaves_model_parameters():
    model = _mlp(rg)
    out = model(rg.tensor(X)).sum()
    got = _leaves_seen_from_hook(out, lambda: out.backward())
    assert got == [sorted(_ident(p) for p in model.parameters())]


# ===== 8. register_multi_grad_hook =================================================================

def _multi_grad_hook(lib):
    out = {}
    G = lib.autograd.graph
    a = lib.tensor([1., 2.], requires_grad=True)
    b = lib.tensor([3., 4.], requires_grad=True)
    c = lib.tensor([5., 6.], requires_grad=True)
    log = []
    h = G.register_multi_grad_hook((a, b, c), lambda grads: log.append(list(grads)))
    (a * b).sum().backward()
    (a * b * c).sum().backward()
    (c * 2).sum().backward()
    out["all"] = list(log)
    log.clear()
    h.remove()
    (a * b).sum().backward()
    out["removed"] = list(log)
    x = lib.tensor([1., 2.], requires_grad=True)
    y1, y2 = x * 2, x * 3
    G.register_multi_grad_hook((y1, y2), lambda grads: log.append(list(grads)))
    lib.autograd.grad((y1 * y2).sum(), [x], retain_graph=True)
    (y1 * 5).sum().backward()
    out["non_leaf"] = list(log)
    log.clear()
    a = lib.tensor([1., 2.], requires_grad=True)
    b = lib.tensor([3., 4.], requires_grad=True)
    G.register_multi_grad_hook((a, b), lambda g: log.append(g), mode="any")
    (a * b).sum().backward()
    (a * 2).sum().backward()
    out["any"] = list(log)
    out["bad_mode"] = _err(lib, ValueError, lambda: G.register_multi_grad_hook((a,), print, mode="some"))
    return out


def test_register_multi_grad_hook():
    out = _multi_grad_hook(rg)
    assert_same(out["all"], [[[3., 4.], [1., 2.], None], [[15., 24.], [5., 12.], [3., 8.]], [None, None, [2., 2.]]])
    assert out["removed"] == []
    assert_same(out["non_leaf"], [[[3., 6.], [2., 4.]], [[5., 5.], None]])
    assert len(out["any"]) == 2  # once per backward, with the first gradient computed
    assert_same(out["any"][1], [2., 2.])
    assert out["bad_mode"] == ("ValueError", "Expects mode to be one of ('all', 'any') but got some")


def test_register_multi_grad_hook_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_multi_grad_hook(rg), _multi_grad_hook(torch))


def _multi_grad_hook_after_failed_backward(lib):
    a = lib.tensor([1., 2.], requires_grad=True)
    b = lib.tensor([3., 4.], requires_grad=True)
    log = []
    lib.autograd.graph.register_multi_grad_hook((a, b), lambda grads: log.append(list(grads)))

    def boom(g):
        raise ValueError("boom")

    h = b.register_hook(boom)
    try:
        (a * 2 + a * b).sum().backward()
    except ValueError:
        log.append("raised")
    h.remove()
    (a * b).sum().backward()
    return log


def test_multi_grad_hook_fires_again_after_a_failed_backward():
    log = _multi_grad_hook_after_failed_backward(rg)
    assert log[0] == "raised"
    assert_same(log[1:], [[[3., 4.], [1., 2.]]])


def test_multi_grad_hook_after_failed_backward_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_multi_grad_hook_after_failed_backward(rg), _multi_grad_hook_after_failed_backward(torch))


# ===== 9. graph introspection ======================================================================

def _spine(fn):
    """Names from ``fn`` down the graph, following the one edge that is an op (not a leaf, not
    PyTorch's TBackward0 of a weight) at each step."""
    names = []
    while fn is not None:
        names.append(fn.name())
        ops = [f for f, _ in fn.next_functions
               if f is not None and not f.name().endswith("AccumulateGrad") and f.name() != "TBackward0"]
        fn = ops[0] if len(ops) == 1 else None
    return names


def _mlp_graph(lib):
    model = _mlp(lib)
    out = (model(lib.tensor(X)) * 2).sum(0)
    mul = out.grad_fn.next_functions[0][0]
    leaves = [f.variable for f in _graph_nodes(out.grad_fn) if f.name().endswith("AccumulateGrad")]
    params = dict(model.named_parameters())
    ids = {_ident(p): name for name, p in params.items()}
    return (_spine(out.grad_fn),
            [(None if f is None else f.name(), nr) for f, nr in mul.next_functions],
            sorted(ids[_ident(t)] for t in leaves))


def test_mlp_graph_structure():
    spine, mul_edges, leaves = _mlp_graph(rg)
    assert spine == ["SumBackward1", "MulBackward0", "AddmmBackward0", "ReluBackward0", "AddmmBackward0"]
    assert mul_edges == [("AddmmBackward0", 0), (None, 0)]
    assert leaves == ["0.bias", "0.weight", "2.bias", "2.weight"]


def test_mlp_graph_structure_vs_torch():
    torch = pytest.importorskip("torch")
    assert _mlp_graph(rg) == _mlp_graph(torch)


def test_full_sum_node_is_SumBackward0():
    x = rg.ones(2, 3, requires_grad=True)
    assert (x.sum().grad_fn.name(), x.sum(0).grad_fn.name()) == ("SumBackward0", "SumBackward1")


def _saved_attributes(lib):
    out = {}
    a = lib.tensor([1., 2., 3.], requires_grad=True)
    b = lib.tensor([4., 5., 6.], requires_grad=True)
    m = a * b
    out["MulBackward0"] = (m.grad_fn.name(), m.grad_fn._saved_self, m.grad_fn._saved_other)
    d = a / b
    out["DivBackward0"] = (d.grad_fn.name(), d.grad_fn._saved_self, d.grad_fn._saved_other)
    e = a.exp()
    r = e.grad_fn._saved_result
    out["ExpBackward0"] = (e.grad_fn.name(), r, r.requires_grad, r.grad_fn.name())
    for op in ("sin", "cos", "log"):
        t = getattr(a, op)()
        out[op] = (t.grad_fn.name(), t.grad_fn._saved_self)
    for op in ("tanh", "sigmoid", "relu", "sqrt"):
        t = getattr(a, op)()
        out[op] = (t.grad_fn.name(), t.grad_fn._saved_result)
    p = a ** b
    out["PowBackward1"] = (p.grad_fn.name(), p.grad_fn._saved_self, p.grad_fn._saved_exponent,
                           p.grad_fn._saved_result)
    ma = lib.tensor(W1, requires_grad=True)
    mb = lib.tensor(X.T.copy(), requires_grad=True)
    mm = ma @ mb
    out["MmBackward0"] = (mm.grad_fn.name(), mm.grad_fn._saved_self, mm.grad_fn._saved_mat2)
    lin = _linear(lib, W1, B1)
    y = lin(lib.tensor(X, requires_grad=True))
    out["linear"] = (y.grad_fn.name(), y.grad_fn._saved_mat1, y.grad_fn._saved_mat2)
    # metadata: one dict per node, kept
    m.grad_fn.metadata["note"] = 1
    out["metadata"] = (type(m.grad_fn.metadata).__name__, m.grad_fn.metadata.get("note"))
    # after a backward without retain_graph the saved tensors are gone
    (m.sum() + e.sum()).backward()
    out["after_backward"] = [_err(lib, RuntimeError, lambda fn=fn, n=n: getattr(fn, n))
                             for fn, n in ((m.grad_fn, "_saved_self"), (e.grad_fn, "_saved_result"))]
    out["metadata_after"] = m.grad_fn.metadata.get("note")
    return out


def test_saved_attributes():
    out = _saved_attributes(rg)
    a, b = np.array([1., 2., 3.]), np.array([4., 5., 6.])
    assert_same(out["MulBackward0"], ["MulBackward0", a, b])
    assert_same(out["ExpBackward0"], ["ExpBackward0", np.exp(a), True, "ExpBackward0"])
    assert_same(out["tanh"], ["TanhBackward0", np.tanh(a)])
    assert_same(out["linear"][1:], [X, W1.T])  # PyTorch's addmm keeps mat2 = weight.t()
    assert out["metadata"] == ("dict", 1) and out["metadata_after"] == 1
    msg = "Trying to backward through the graph a second time"
    assert all(kind == "RuntimeError" and text.startswith(msg) for kind, text in out["after_backward"])


def test_saved_attributes_vs_torch():
    torch = pytest.importorskip("torch")
    assert_same(_saved_attributes(rg), _saved_attributes(torch))


def test_dir_of_node_lists_saved_names_and_survives_backward():
    a = rg.tensor([1., 2.], requires_grad=True)
    m = a * a
    assert {"_saved_self", "_saved_other"} <= set(dir(m.grad_fn))
    m.sum().backward()
    assert "name" in dir(m.grad_fn)  # must not raise once the saved tensors are freed
    with pytest.raises(AttributeError):
        m.grad_fn._saved_nothing_like_this


def test_node_identity_and_metadata_persistence():
    x = rg.tensor([1., 2.], requires_grad=True)
    y = x.exp()
    z = y * 2
    assert z.grad_fn.next_functions[0][0] == y.grad_fn
    assert hash(z.grad_fn.next_functions[0][0]) == hash(y.grad_fn)
    y.grad_fn.metadata["k"] = "v"
    assert z.grad_fn.next_functions[0][0].metadata == {"k": "v"}


def test_accumulate_grad_metadata_persists():
    x = rg.tensor([1., 2.], requires_grad=True)
    y = x * 2
    y.grad_fn.next_functions[0][0].metadata["k"] = 1
    assert y.grad_fn.next_functions[0][0].metadata == {"k": 1}


def test_cdata_is_an_int_attribute():
    t = rg.ones(2, requires_grad=True)
    assert isinstance(t._cdata, int)
    assert (t * 2).grad_fn.next_functions[0][0].variable._cdata == t._cdata


def _dot_for_mlp():
    model = _mlp(rg)
    out = model(rg.tensor(X)).relu().sum()
    return rgraph.to_dot(out, params=dict(model.named_parameters()))


def test_to_dot_names_nodes_parameters_and_saved_shapes():
    text = _dot_for_mlp()
    assert text.startswith("digraph {") and text.rstrip().endswith("}")
    for name in ("SumBackward0", "ReluBackward0", "AddmmBackward0"):
        assert name in text
    # parameters by name with their shapes
    for label in ("0.weight\\n(3, 4)", "0.bias\\n(3)", "2.weight\\n(2, 3)", "2.bias\\n(2)"):
        assert label in text, label
    # saved tensors with their shapes (PyTorch's layout: mat2 is the weight transposed)
    assert "mat1\\n(5, 4)" in text and "mat2\\n(4, 3)" in text and "result\\n(5, 2)" in text
    # every node in an edge is declared with a label
    import re
    declared = set(re.findall(r"^\s+(\w+) \[label=", text, re.M))
    for a, b in re.findall(r"^\s+(\w+) -> (\w+)", text, re.M):
        assert a in declared and b in declared, (a, b)


def test_to_dot_after_backward_and_for_several_outputs():
    x = rg.tensor([1., 2.], requires_grad=True)
    y = x.exp()
    y.sum().backward()
    text = rgraph.to_dot([y, x * 2], params={"x": x}, show_saved=True)
    assert "ExpBackward0" in text and "MulBackward0" in text and "x\\n(2)" in text
    assert "result" not in text  # freed saved tensors are left out


def test_to_dot_parses_as_dot():
    pydot = pytest.importorskip("pydot")  # a DOT parser (no Graphviz binaries needed)
    text = _dot_for_mlp()
    (graph,) = pydot.graph_from_dot_data(text)
    labels = {n.get_name(): (n.get("label") or "").strip('"') for n in graph.get_nodes()}
    assert "AddmmBackward0" in labels.values() and "0.weight\\n(3, 4)" in labels.values()
    # Every edge joins two declared nodes: the picture is one connected graph ending in the output.
    edges = [(e.get_source(), e.get_destination()) for e in graph.get_edges()]
    assert edges and all(a in labels and b in labels for a, b in edges)
    assert any(b == "out0" for _, b in edges)


@pytest.mark.parametrize("make_input", ["leaf", "nonleaf"])
def test_double_backward_through_packed_inputs(make_input):
    # An unpacked saved input stands in for the original: second derivatives reach the same leaves.
    def second_derivative(hooks):
        x = rg.tensor([0.5, 1.0], dtype=rg.float64, requires_grad=True)
        with hooks():
            u = x if make_input == "leaf" else x * 1.5
            y = (u * u.exp()).sum()
        (g,) = rg.autograd.grad(y, x, create_graph=True)
        g.sum().backward()
        return x.grad.numpy()

    import contextlib
    plain = second_derivative(contextlib.nullcontext)
    packed = second_derivative(rgraph.save_on_cpu)
    np.testing.assert_allclose(packed, plain, rtol=1e-12)
    # d2/dx2 of x e^x summed is (x + 2) e^x (times the chain factor for the non-leaf case).
    x = np.array([0.5, 1.0])
    expected = (x + 2) * np.exp(x) if make_input == "leaf" else 1.5 ** 2 * (1.5 * x + 2) * np.exp(1.5 * x)
    np.testing.assert_allclose(plain, expected, rtol=1e-12)
