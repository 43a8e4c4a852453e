"""rustgrad.utils.checkpoint: gradients through checkpointed regions are the gradients without
checkpointing (exactly: the recomputation runs the same ops on the same values), for MLPs, conv
nets, keyword arguments, non-tensor and nested outputs, dropout (same mask through the RNG restore),
autograd.grad, create_graph, nested checkpoints and checkpoint_sequential; the activations are
really not kept; mismatching recomputations and bad arguments raise PyTorch's errors; and the
gradients match PyTorch's checkpoint on the same weights.
"""

import gc
import warnings
import weakref

import pytest

import rustgrad as rg
from rustgrad import nn
from rustgrad.utils.checkpoint import CheckpointError, checkpoint, checkpoint_sequential
import rustgrad.utils.checkpoint as ckpt_module


def mlp(width=16, depth=3, dropout=0.0):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, 3))
    return nn.Sequential(*layers).double()


def grads_of(module, *tensors):
    return [p.grad.clone() for p in module.parameters()] + [t.grad.clone() for t in tensors]


def reset(module, *tensors):
    module.zero_grad(set_to_none=True)
    for t in tensors:
        t.grad = None


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape
        assert rg.equal(x, y), (x - y).abs().max()


def run_both(module, make_loss, inputs):
    """Gradients of make_loss(run) with run = the module plainly, then checkpointed."""
    reset(module, *inputs)
    make_loss(lambda *a, **k: module(*a, **k)).backward()
    plain = grads_of(module, *inputs)
    reset(module, *inputs)
    make_loss(lambda *a, **k: checkpoint(module, *a, use_reentrant=False, **k)).backward()
    return plain, grads_of(module, *inputs)


# ----- gradients identical to the plain run --------------------------------------------------------

def test_mlp_gradients_identical():
    rg.manual_seed(0)
    m = mlp()
    x = rg.randn(8, 16, dtype=rg.float64, requires_grad=True)
    plain, ck = run_both(m, lambda run: run(x).pow(2).sum(), [x])
    assert_same(plain, ck)


def test_forward_value_identical_and_function_runs_again_in_backward():
    rg.manual_seed(0)
    m = mlp()
    x = rg.randn(4, 16, dtype=rg.float64, requires_grad=True)
    calls = []

    def fn(z):
        calls.append(rg.is_grad_enabled())
        return m(z)

    y = checkpoint(fn, x, use_reentrant=False)
    assert rg.equal(y, m(x))
    assert calls == [True]
    y.sum().backward()
    assert calls == [True, True]  # recomputed once, with grad mode on (the backward runs it off)


def test_conv_net_gradients_identical():
    rg.manual_seed(0)
    m = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 2 * 2, 5),
    ).double()
    x = rg.randn(2, 3, 8, 8, dtype=rg.float64, requires_grad=True)
    plain, ck = run_both(m, lambda run: run(x).sin().sum(), [x])
    assert_same(plain, ck)


def test_kwargs_and_nested_non_tensor_outputs():
    rg.manual_seed(0)
    w = rg.randn(5, 5, dtype=rg.float64, requires_grad=True)
    x = rg.randn(3, 5, dtype=rg.float64, requires_grad=True)
    b = rg.randn(5, dtype=rg.float64, requires_grad=True)

    def fn(x, w, *, bias, scale=1.0, tag="t"):
        h = (x @ w + bias).relu() * scale
        return {"out": h.exp(), "meta": (tag, 3), "parts": [h.sum(1), None, 2.5]}

    def loss(res):
        assert res["meta"] == ("t2", 3) and res["parts"][1] is None and res["parts"][2] == 2.5
        return res["out"].sum() + (res["parts"][0] ** 2).sum()

    loss(fn(x, w, bias=b, scale=0.5, tag="t2")).backward()
    plain = [t.grad.clone() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    loss(checkpoint(fn, x, w, use_reentrant=False, bias=b, scale=0.5, tag="t2")).backward()
    assert_same(plain, [t.grad for t in (x, w, b)])


def test_inputs_that_do_not_require_grad():
    rg.manual_seed(0)
    m = mlp()
    x = rg.randn(4, 16, dtype=rg.float64)  # no grad: the parameters inside still get theirs
    plain, ck = run_both(m, lambda run: run(x).sum(), [])
    assert_same(plain, ck)
    out = checkpoint(m, x, use_reentrant=False)
    assert out.requires_grad


def test_dropout_same_mask_as_plain_run_under_same_seed():
    rg.manual_seed(0)
    m = mlp(width=32, dropout=0.5)
    x = rg.randn(16, 32, dtype=rg.float64, requires_grad=True)

    def step(run):
        reset(m, x)
        rg.manual_seed(123)
        y = run(x)
        rg.rand(5)  # the caller's stream moves on between the forward and the backward
        before_backward = rg.get_rng_state()
        y.pow(2).sum().backward()
        # The recomputation restored the forward's RNG state and then put the caller's back.
        assert rg.equal(rg.get_rng_state(), before_backward)
        after = rg.rand(4)
        return y.detach(), grads_of(m, x), after

    y0, g0, r0 = step(m)
    y1, g1, r1 = step(lambda z: checkpoint(m, z, use_reentrant=False))
    assert rg.equal(y0, y1)
    assert_same(g0, g1)
    assert rg.equal(r0, r1)  # the caller's random stream is the one it would have been
    m.eval()
    assert not rg.equal(y0, m(x))  # dropout did drop something
    m.train()


def test_without_preserve_rng_state_dropout_mask_changes():
    rg.manual_seed(0)
    m = mlp(width=32, dropout=0.5)
    x = rg.randn(16, 32, dtype=rg.float64, requires_grad=True)
    reset(m, x)
    rg.manual_seed(5)
    m(x).pow(2).sum().backward()
    plain = grads_of(m, x)
    reset(m, x)
    rg.manual_seed(5)
    checkpoint(m, x, use_reentrant=False, preserve_rng_state=False).pow(2).sum().backward()
    # The recomputation draws other masks: the gradients are not the plain ones.
    assert not all(rg.equal(a, b) for a, b in zip(plain, grads_of(m, x)))


def test_autograd_grad_and_backward_inputs():
    rg.manual_seed(0)
    m = mlp()
    x = rg.randn(4, 16, dtype=rg.float64, requires_grad=True)
    params = list(m.parameters())
    plain = rg.autograd.grad(m(x).pow(2).sum(), [x] + params)
    ck = rg.autograd.grad(checkpoint(m, x, use_reentrant=False).pow(2).sum(), [x] + params)
    assert_same(plain, ck)

    reset(m, x)
    checkpoint(m, x, use_reentrant=False).pow(2).sum().backward(inputs=[x])
    assert rg.equal(x.grad, plain[0])
    assert all(p.grad is None for p in params)


def test_create_graph_second_order_gradients():
    # A gradient penalty: the backward of the gradient runs through the recomputed tensors.
    rg.manual_seed(0)
    w = rg.randn(5, 5, dtype=rg.float64, requires_grad=True)

    def fn(x):
        return (x @ w).tanh().exp()

    x0 = rg.randn(3, 5, dtype=rg.float64)
    results = []
    for use_ckpt in (False, True):
        x = x0.clone().requires_grad_()
        w.grad = None
        y = checkpoint(fn, x, use_reentrant=False) if use_ckpt else fn(x)
        (g,) = rg.autograd.grad(y.sum(), x, create_graph=True)
        (g ** 2).sum().backward()
        results.append([x.grad.clone(), w.grad.clone()])
    assert_same(*results)


def test_backward_inside_the_checkpointed_function():
    rg.manual_seed(0)

    def fn(x):
        y = (x * x).sin()
        (g,) = rg.autograd.grad(y.sum(), x, create_graph=True)
        return (g * x).cos().sum()

    x = rg.randn(4, 3, dtype=rg.float64, requires_grad=True)
    fn(x).backward()
    plain = x.grad.clone()
    x.grad = None
    checkpoint(fn, x, use_reentrant=False).backward()
    assert rg.equal(plain, x.grad)


def test_nested_checkpoints():
    rg.manual_seed(0)
    m1, m2 = mlp(depth=2), nn.Linear(3, 16).double()
    x = rg.randn(4, 16, dtype=rg.float64, requires_grad=True)
    calls = {"inner": 0, "outer": 0}

    def inner(z):
        calls["inner"] += 1
        return m1(z)

    def outer(z):
        calls["outer"] += 1
        h = checkpoint(inner, z.sin(), use_reentrant=False)
        return m2(h).tanh()

    def plain_fn(z):
        return m2(m1(z.sin())).tanh()

    y = plain_fn(x)
    loss = (y * y).sum()
    loss.backward()
    plain = grads_of(m1, x) + [p.grad.clone() for p in m2.parameters()]
    reset(m1, x)
    reset(m2)
    y = checkpoint(outer, x, use_reentrant=False)
    (y * y).sum().backward()
    assert_same(plain, grads_of(m1, x) + [p.grad.clone() for p in m2.parameters()])
    # The outer recomputation runs the inner checkpoint again (without keeping its tensors), whose
    # own recomputation then runs inner a third time.
    assert calls == {"outer": 2, "inner": 3}


def test_retained_graph_backwarded_twice_recomputes_each_time():
    rg.manual_seed(0)
    m = mlp()
    x = rg.randn(4, 16, dtype=rg.float64, requires_grad=True)
    m(x).sum().backward()
    once = grads_of(m, x)
    reset(m, x)
    calls = [0]

    def fn(z):
        calls[0] += 1
        return m(z)

    loss = checkpoint(fn, x, use_reentrant=False).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert calls[0] == 3
    assert_same([g * 2 for g in once], grads_of(m, x))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_partial_then_full_backward_of_retained_graph():
    rg.manual_seed(0)
    m = mlp()
    x = rg.randn(4, 16, dtype=rg.float64, requires_grad=True)
    first = m[0]
    loss = checkpoint(m, x, use_reentrant=False).pow(2).sum()
    # Only the gradient of the first layer's bias: the backward stops early inside the region.
    (gb,) = rg.autograd.grad(loss, first.bias, retain_graph=True)
    loss.backward()
    reset(m, x)
    m(x).pow(2).sum().backward()
    assert rg.equal(gb, first.bias.grad)
    reset(m, x)


def test_early_stop_off_gives_same_gradients():
    rg.manual_seed(0)
    m = mlp()
    x = rg.randn(4, 16, dtype=rg.float64, requires_grad=True)
    plain, ck = run_both(m, lambda run: run(x).sum(), [x])
    reset(m, x)
    with ckpt_module.set_checkpoint_early_stop(False):
        checkpoint(m, x, use_reentrant=False).sum().backward()
    assert_same(plain, grads_of(m, x))
    reset(m, x)
    checkpoint(m, x, use_reentrant=False, early_stop=False).sum().backward()
    assert_same(plain, grads_of(m, x))


def test_decorator_form():
    rg.manual_seed(0)
    m = mlp()
    x = rg.randn(4, 16, dtype=rg.float64, requires_grad=True)

    @checkpoint(use_reentrant=False)
    def fn(z):
        return m(z)

    plain, _ = run_both(m, lambda run: run(x).sum(), [x])
    reset(m, x)
    fn(x).sum().backward()
    assert_same(plain, grads_of(m, x))


def test_context_fn_runs_forward_and_recomputation_under_its_contexts():
    import contextlib

    entered = []

    @contextlib.contextmanager
    def ctx(name):
        entered.append(name)
        yield

    x = rg.randn(3, dtype=rg.float64, requires_grad=True)
    y = checkpoint(lambda z: z.exp().sin(), x, use_reentrant=False,
                   context_fn=lambda: (ctx("forward"), ctx("recompute")))
    assert entered == ["forward"]
    y.sum().backward()
    assert entered == ["forward", "recompute"]


def test_no_grad_runs_the_function_plainly():
    x = rg.randn(3, requires_grad=True)
    with rg.no_grad():
        y = checkpoint(lambda z: z * 2, x, use_reentrant=False)
    assert not y.requires_grad and rg.equal(y, x.detach() * 2)


def test_in_place_change_of_an_input_before_backward_raises():
    x = rg.randn(3, dtype=rg.float64, requires_grad=True)
    h = x * 1
    y = checkpoint(lambda z: z.sin(), h, use_reentrant=False)
    with rg.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# ----- checkpoint_sequential -------------------------------------------------------------------------

@pytest.mark.parametrize("segments", [1, 2, 3, 4, 7])
def test_checkpoint_sequential(segments):
    rg.manual_seed(0)
    m = mlp(depth=3, dropout=0.25)  # 10 modules
    x = rg.randn(8, 16, dtype=rg.float64, requires_grad=True)
    reset(m, x)
    rg.manual_seed(7)
    y0 = m(x)
    y0.pow(2).sum().backward()
    plain = grads_of(m, x)
    reset(m, x)
    rg.manual_seed(7)
    y1 = checkpoint_sequential(m, segments, x, use_reentrant=False)
    assert rg.equal(y0, y1)
    y1.pow(2).sum().backward()
    assert_same(plain, grads_of(m, x))


def test_checkpoint_sequential_list_and_bad_kwargs():
    rg.manual_seed(0)
    m = mlp(depth=2)
    x = rg.randn(2, 16, dtype=rg.float64, requires_grad=True)
    y = checkpoint_sequential(list(m.children()), 2, x, use_reentrant=False, preserve_rng_state=False)
    assert rg.equal(y, m(x))
    with pytest.raises(ValueError, match="Unexpected keyword arguments: foo"):
        checkpoint_sequential(m, 2, x, use_reentrant=False, foo=1)


# ----- the activations are not kept ------------------------------------------------------------------

def _saved_tensor_elements(root):
    """Elements of the tensors saved as they are (not packed) by the nodes reachable from root."""
    total, seen, stack = 0, set(), [root]
    while stack:
        node = stack.pop()
        if node is None or hash(node) in seen:
            continue
        seen.add(hash(node))
        if node.variable is None:
            for tensor, _ in node._saved_tensors_info():
                total += tensor.numel() if tensor is not None else 0
        stack.extend(n for n, _ in node.next_functions)
    return total


def test_nodes_inside_keep_no_plain_saved_tensors():
    rg.manual_seed(0)
    m = mlp(width=32, depth=4)
    x = rg.randn(64, 32, dtype=rg.float64, requires_grad=True)
    plain = _saved_tensor_elements(m(x).grad_fn)
    assert plain > 64 * 32 * 4
    # Everything inside is packed by the checkpoint; nothing outside saves anything here.
    assert _saved_tensor_elements(checkpoint(m, x, use_reentrant=False).grad_fn) == 0


def test_outer_saved_tensor_hooks_see_only_the_boundary():
    rg.manual_seed(0)
    m = mlp(width=32, depth=4)
    x = rg.randn(8, 32, dtype=rg.float64, requires_grad=True)
    count = [0]

    def pack(t):
        count[0] += 1
        return t.detach()

    with rg.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        m(x).exp().sum()
    plain = count[0]
    count[0] = 0
    with rg.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        checkpoint(m, x, use_reentrant=False).exp().sum()
    assert plain > 8 and count[0] == 1  # only the exp after the checkpoint


def test_packed_objects_hold_no_tensor_and_packed_tensors_die(monkeypatch):
    """Every pack hook pushed during the checkpointed forward is spied on: the tensors handed to
    it must be dead after the forward, and nothing the engine keeps in their place may reach a
    tensor (a checkpoint that keeps activations fails here)."""
    tensor_refs, packed = [], []
    real_push = rg._C._push_saved_tensors_hooks

    def spy_push(pack, unpack):
        def spy(t):
            tensor_refs.append(weakref.ref(t))
            out = pack(t)
            packed.append(out)
            return out
        real_push(spy, unpack)

    monkeypatch.setattr(rg._C, "_push_saved_tensors_hooks", spy_push)
    rg.manual_seed(0)
    m = mlp(width=32, depth=4, dropout=0.1)
    x = rg.randn(16, 32, dtype=rg.float64, requires_grad=True)

    def fn(z):
        return m(z * 2)

    y = checkpoint(fn, x, use_reentrant=False)
    gc.collect()
    assert len(tensor_refs) >= 12
    assert all(r() is None for r in tensor_refs)

    def reaches_tensor(obj, depth=4):
        frontier, seen = [obj], set()
        for _ in range(depth):
            nxt = []
            for o in frontier:
                if id(o) in seen:
                    continue
                seen.add(id(o))
                if isinstance(o, rg.Tensor):
                    return True
                nxt.extend(r for r in gc.get_referents(o) if not isinstance(r, type))
            frontier = nxt
        return False

    assert not any(reaches_tensor(p) for p in packed)
    monkeypatch.undo()
    y.sum().backward()


def test_no_graph_nodes_leak():
    gc.collect()
    base = rg.autograd.graph_nodes()

    def run():
        rg.manual_seed(0)
        m = mlp(dropout=0.2)
        x = rg.randn(4, 16, dtype=rg.float64, requires_grad=True)
        y = checkpoint(lambda z: checkpoint(m, z.relu(), use_reentrant=False).exp(), x, use_reentrant=False)
        loss = y.sum()
        loss.backward(retain_graph=True)
        loss.backward()
        checkpoint(m, x, use_reentrant=False)  # forward only, dropped

    run()
    gc.collect()
    assert rg.autograd.graph_nodes() == base


# ----- errors ----------------------------------------------------------------------------------------

def test_different_number_of_saved_tensors_raises():
    state = {"extra": True}

    def fn(x):
        y = x.sin()
        if state["extra"]:
            y = y.exp()  # saves one more tensor in the original forward only
        return -y

    x = rg.randn(3, requires_grad=True)
    y = checkpoint(fn, x, use_reentrant=False)
    state["extra"] = False
    with pytest.raises(CheckpointError, match="A different number of tensors was saved") as info:
        y.sum().backward()
    assert isinstance(info.value, RuntimeError)
    assert "Number of tensors saved during forward: 2" in str(info.value)
    assert "Number of tensors saved during recomputation: 1." in str(info.value)


def test_different_metadata_raises_unless_determinism_check_none():
    state = {"n": 4}

    def fn(x):
        return x[: state["n"]].sin()

    x = rg.randn(6, requires_grad=True)
    y = checkpoint(fn, x, use_reentrant=False)
    state["n"] = 3
    with pytest.raises(CheckpointError, match="have different metadata") as info:
        y.sum().backward()
    assert "tensor at position 0" in str(info.value)


def test_debug_lists_the_saved_tensors():
    state = {"extra": True}

    def fn(x):
        y = x.sin()
        return y.exp() if state["extra"] else y

    x = rg.randn(3, requires_grad=True)
    y = checkpoint(fn, x, use_reentrant=False, debug=True)
    state["extra"] = False
    with pytest.raises(CheckpointError) as info:
        y.sum().backward()
    text = str(info.value)
    assert "Tensors saved during the original forward" in text and "in fn" in text
    assert isinstance(info.value.__cause__, CheckpointError)


def test_argument_validation():
    x = rg.randn(3, requires_grad=True)
    f = lambda z, **k: z.sin()  # noqa: E731
    with pytest.raises(ValueError, match="determinism_check should be one of"):
        checkpoint(f, x, use_reentrant=False, determinism_check="bogus")
    checkpoint(f, x, use_reentrant=False, determinism_check="none").sum().backward()
    with pytest.raises(ValueError, match="debug=True is incompatible with non-default context_fn"):
        checkpoint(f, x, use_reentrant=False, debug=True, context_fn=lambda: ckpt_module.noop_context_fn())
    with pytest.raises(ValueError, match="Unexpected keyword arguments: a,b"):
        checkpoint(f, x, use_reentrant=True, a=1, b=2)
    with pytest.raises(ValueError, match="only supported when use_reentrant=False"):
        checkpoint(f, x, use_reentrant=True, debug=True)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: foo"):
        checkpoint(use_reentrant=False, foo=1)


def test_use_reentrant_not_passed_warns_and_runs_non_reentrant():
    x = rg.randn(3, dtype=rg.float64, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        y = checkpoint(lambda z, *, k: z.sin() * k, x, k=2.0)  # kwargs: non-reentrant behavior
    y.sum().backward()
    assert rg.allclose(x.grad, 2 * x.detach().cos(), rtol=0, atol=0)
    with pytest.warns(UserWarning, match="checkpoint_sequential: the use_reentrant"):
        checkpoint_sequential([nn.Tanh(), nn.Tanh()], 2, x)


def test_use_reentrant_true_runs_and_gives_same_gradients():
    rg.manual_seed(0)
    m = mlp()
    x = rg.randn(4, 16, dtype=rg.float64, requires_grad=True)
    plain, _ = run_both(m, lambda run: run(x).sum(), [x])
    reset(m, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checkpoint(m, x, use_reentrant=True).sum().backward()
    assert_same(plain, grads_of(m, x))


# ----- PyTorch parity --------------------------------------------------------------------------------

def _torch_copy(torch, module):
    tmod = torch.nn.Sequential(*[
        torch.nn.Linear(l.in_features, l.out_features) if isinstance(l, nn.Linear) else torch.nn.Tanh()
        for l in module
    ]).double()
    with torch.no_grad():
        for tp, p in zip(tmod.parameters(), module.parameters()):
            tp.copy_(torch.from_numpy(p.detach().numpy()))
    return tmod


def test_gradients_match_torch_checkpoint():
    torch = pytest.importorskip("torch")
    import torch.utils.checkpoint as tcp

    rg.manual_seed(0)
    m = mlp(width=16, depth=3)
    tm = _torch_copy(torch, m)
    xn = rg.randn(6, 16, dtype=rg.float64).numpy()
    x = rg.tensor(xn, requires_grad=True)
    tx = torch.tensor(xn, requires_grad=True)
    checkpoint(m, x, use_reentrant=False).pow(2).sum().backward()
    tcp.checkpoint(tm, tx, use_reentrant=False).pow(2).sum().backward()
    for a, b in zip(grads_of(m, x), [p.grad for p in tm.parameters()] + [tx.grad]):
        assert torch.allclose(torch.from_numpy(a.numpy()), b, rtol=1e-12, atol=1e-14)


def test_errors_match_torch():
    torch = pytest.importorskip("torch")
    import torch.utils.checkpoint as tcp

    def mismatch(lib, cp):
        state = {"extra": True}

        def fn(x):
            y = x.sin()
            return y.exp() if state["extra"] else -y  # sin and exp save one tensor each, neg none

        x = lib.ones(3, requires_grad=True)
        y = cp(fn, x, use_reentrant=False)
        state["extra"] = False
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
        return type(info.value).__name__, str(info.value).split("\n")[:3]

    assert mismatch(rg, checkpoint) == mismatch(torch, tcp.checkpoint)

    def value_error(lib, cp, **kw):
        with pytest.raises(ValueError) as info:
            cp(lambda z, **k: z, lib.ones(1, requires_grad=True), **kw)
        return str(info.value)

    for kw in ({"use_reentrant": False, "determinism_check": "x"}, {"use_reentrant": True, "a": 1}):
        assert value_error(rg, checkpoint, **kw) == value_error(torch, tcp.checkpoint, **kw)
