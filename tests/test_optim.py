"""rustgrad.optim: parity with PyTorch's stored results, options, validation, state dicts."""

import copy
import json
import os
import threading
import warnings

import numpy as np
import pytest

import rustgrad
import rustgrad.optim as optim

DATA = os.path.join(os.path.dirname(__file__), "data")
with open(os.path.join(DATA, "cases.json")) as _f:
    CASES = json.load(_f)["cases"]
REF = np.load(os.path.join(DATA, "torch_reference.npz"))

OPTIMIZERS = {"SGD": optim.SGD, "Adam": optim.Adam, "AdamW": optim.AdamW}
OPT_CASES = sorted(c for c, spec in CASES.items() if spec["op"] in OPTIMIZERS)
f64 = rustgrad.float64


def param(values, dtype=f64):
    return rustgrad.tensor(np.asarray(values), dtype=dtype, requires_grad=True)


def grad_of(values, dtype=f64):
    return rustgrad.tensor(np.asarray(values), dtype=dtype)


def kwargs_of(case):
    kw = dict(CASES[case]["kwargs"])
    if "betas" in kw:
        kw["betas"] = tuple(kw["betas"])
    return kw


def test_reference_covers_every_optimizer_option():
    # The parity test below must not pass vacuously.
    assert len(OPT_CASES) == 12
    ops = {CASES[c]["op"] for c in OPT_CASES}
    assert ops == {"SGD", "Adam", "AdamW"}


@pytest.mark.parametrize("case", OPT_CASES)
def test_six_steps_match_pytorch_float64(case):
    spec = CASES[case]
    p0 = param(REF[f"{case}/p0_init"])
    p1 = param(REF[f"{case}/p1_init"])
    opt = OPTIMIZERS[spec["op"]]([p0, p1], **kwargs_of(case))
    for s in range(6):
        p0.grad = grad_of(REF[f"{case}/p0_grads"][s])
        p1.grad = grad_of(REF[f"{case}/p1_grads"][s])
        opt.step()
        np.testing.assert_allclose(p0.detach().numpy(), REF[f"{case}/p0_after"][s], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(p1.detach().numpy(), REF[f"{case}/p1_after"][s], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", OPT_CASES)
def test_six_steps_match_pytorch_float32(case):
    spec = CASES[case]
    p0 = param(REF[f"{case}/p0_init"], rustgrad.float32)
    p1 = param(REF[f"{case}/p1_init"], rustgrad.float32)
    opt = OPTIMIZERS[spec["op"]]([p0, p1], **kwargs_of(case))
    for s in range(6):
        p0.grad = grad_of(REF[f"{case}/p0_grads"][s], rustgrad.float32)
        p1.grad = grad_of(REF[f"{case}/p1_grads"][s], rustgrad.float32)
        opt.step()
    assert p0.dtype == rustgrad.float32
    np.testing.assert_allclose(p0.detach().numpy(), REF[f"{case}/p0_after"][5], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p1.detach().numpy(), REF[f"{case}/p1_after"][5], rtol=1e-5, atol=1e-6)


# ----- a NumPy transcription of PyTorch's single-tensor updates, for options and sizes the stored
# cases do not cover ---------------------------------------------------------------------------


def np_sgd(p, g, buf, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False):
    g = -g if maximize else g
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        buf = g.copy() if buf is None else buf * momentum + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


def np_adam(p, g, st, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False,
            decoupled=False):
    b1, b2 = betas
    g = -g if maximize else g
    st["step"] += 1
    if weight_decay:
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
    st["m"] = st["m"] + (1 - b1) * (g - st["m"])
    st["v"] = st["v"] * b2 + (1 - b2) * g * g
    bc1 = 1 - b1 ** st["step"]
    bc2 = 1 - b2 ** st["step"]
    v = st["v"]
    if amsgrad:
        st["vmax"] = np.maximum(st["vmax"], st["v"])
        v = st["vmax"]
    denom = np.sqrt(v) / bc2**0.5 + eps
    return p - (lr / bc1) * st["m"] / denom


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01),
        dict(lr=0.01, momentum=0.5, nesterov=True, maximize=True),
        dict(lr=0.2, weight_decay=0.1, maximize=True),
    ],
)
def test_sgd_large_parameter_matches_formula(kw):
    # Above the parallel threshold, so the update runs in chunks on the thread pool.
    rng = np.random.default_rng(0)
    n = 100_003
    p_np = rng.standard_normal(n)
    p = param(p_np)
    opt = optim.SGD([p], **kw)
    buf = None
    for _ in range(3):
        g = rng.standard_normal(n)
        p.grad = grad_of(g)
        opt.step()
        p_np, buf = np_sgd(p_np, g, buf, **kw)
    np.testing.assert_allclose(p.detach().numpy(), p_np, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cls,decoupled", [(optim.Adam, False), (optim.AdamW, True)])
def test_adam_large_parameter_matches_formula(cls, decoupled):
    rng = np.random.default_rng(1)
    n = 70_001
    p_np = rng.standard_normal(n)
    p = param(p_np)
    kw = dict(lr=0.01, betas=(0.7, 0.95), eps=1e-6, weight_decay=0.05, amsgrad=True)
    opt = cls([p], **kw)
    st = {"step": 0, "m": np.zeros(n), "v": np.zeros(n), "vmax": np.zeros(n)}
    for _ in range(4):
        g = rng.standard_normal(n)
        p.grad = grad_of(g)
        opt.step()
        p_np = np_adam(p_np, g, st, decoupled=decoupled, **kw)
    np.testing.assert_allclose(p.detach().numpy(), p_np, rtol=1e-10, atol=1e-12)


def test_adam_lerp_with_large_weight():
    # beta1 < 0.5 takes PyTorch's other lerp branch: end - (end - self) * (1 - weight).
    p_np = np.array([1.0, -2.0, 3.0])
    p = param(p_np)
    opt = optim.Adam([p], lr=0.1, betas=(0.3, 0.9))
    st = {"step": 0, "m": np.zeros(3), "v": np.zeros(3)}
    for g in ([0.5, -1.0, 2.0], [1.5, 0.25, -1.0]):
        p.grad = grad_of(g)
        opt.step()
        p_np = np_adam(p_np, np.array(g), st, lr=0.1, betas=(0.3, 0.9))
    np.testing.assert_allclose(p.detach().numpy(), p_np, rtol=1e-13)


def test_non_contiguous_parameter():
    base = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    w = rustgrad.tensor(base).t().detach().requires_grad_(True)  # a strided leaf
    assert not w.is_contiguous()
    ref = param(base.T.copy())
    g = np.linspace(-1, 1, 12).reshape(4, 3)
    for cls, kw in [(optim.SGD, dict(lr=0.1, momentum=0.9)), (optim.Adam, dict(lr=0.1, amsgrad=True))]:
        a, b = cls([w], **kw), cls([ref], **kw)
        for _ in range(3):
            w.grad = grad_of(g)
            ref.grad = grad_of(g)
            a.step()
            b.step()
        np.testing.assert_array_equal(w.detach().numpy(), ref.detach().numpy())
    assert w.stride() == (1, 4)


# ----- semantics ------------------------------------------------------------------------------


def test_step_records_no_graph_and_bumps_versions():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    before = p._version
    nodes = rustgrad.autograd.graph_nodes()
    p.grad = grad_of([1.0, 1.0])
    opt.step()
    assert p.is_leaf and p.grad_fn is None and p.requires_grad
    assert p._version > before
    assert rustgrad.autograd.graph_nodes() == nodes
    assert rustgrad.is_grad_enabled()


def test_parameters_without_grad_are_skipped():
    a, b = param([1.0]), param([2.0])
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = grad_of([1.0])
    opt.step()
    assert b.item() == 2.0
    assert len(opt.state[a]) == 3 and b not in opt.state
    assert opt.state[a]["step"].item() == 1.0
    assert opt.state[a]["step"].dtype == rustgrad.float32


def test_momentum_buffer_is_a_copy_and_keeps_identity():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    g = grad_of([0.5, -0.5])
    p.grad = g
    opt.step()
    buf = opt.state[p]["momentum_buffer"]
    np.testing.assert_array_equal(buf.numpy(), [0.5, -0.5])
    g.mul_(10)  # the buffer is a clone, not the gradient itself
    np.testing.assert_array_equal(buf.numpy(), [0.5, -0.5])
    opt.step()
    assert opt.state[p]["momentum_buffer"] is buf
    np.testing.assert_allclose(buf.numpy(), [0.9 * 0.5 + 5.0, 0.9 * -0.5 - 5.0])


def test_no_momentum_keeps_no_state():
    p = param([1.0])
    opt = optim.SGD([p], lr=0.5)
    p.grad = grad_of([2.0])
    opt.step()
    assert p.item() == 0.0
    assert len(opt.state) == 0
    assert opt.state_dict()["state"] == {}


def test_param_groups_with_their_own_options():
    a, b, c = param([1.0, 2.0]), param([3.0]), param([-1.0, 0.5, 2.0])
    opt = optim.SGD([{"params": [a, b]}, {"params": c, "lr": 0.5, "momentum": 0.9, "nesterov": True}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["nesterov"] is True
    assert opt.param_groups[1]["params"] == [c]
    refs = [(a.detach().numpy().copy(), None, dict(lr=0.1)), (b.detach().numpy().copy(), None, dict(lr=0.1)),
            (c.detach().numpy().copy(), None, dict(lr=0.5, momentum=0.9, nesterov=True))]
    for step in range(4):
        grads = [np.full(t.shape, step + 1.0) * (i + 1) for i, t in enumerate((a, b, c))]
        for t, g in zip((a, b, c), grads):
            t.grad = grad_of(g)
        opt.step()
        refs = [np_sgd(r[0], g, r[1], **r[2]) + (r[2],) for r, g in zip(refs, grads)]
    for t, r in zip((a, b, c), refs):
        np.testing.assert_allclose(t.detach().numpy(), r[0], rtol=1e-14)


def test_adam_and_adamw_defaults():
    p = param([1.0])
    adam = optim.Adam([p])
    g = adam.param_groups[0]
    assert (g["lr"], g["betas"], g["eps"], g["weight_decay"], g["amsgrad"]) == (1e-3, (0.9, 0.999), 1e-8, 0, False)
    assert g["decoupled_weight_decay"] is False and g["maximize"] is False
    w = optim.AdamW([param([1.0])])
    g = w.param_groups[0]
    assert g["weight_decay"] == 1e-2 and g["decoupled_weight_decay"] is True
    s = optim.SGD([param([1.0])])
    g = s.param_groups[0]
    assert (g["lr"], g["momentum"], g["dampening"], g["weight_decay"], g["nesterov"]) == (1e-3, 0, 0, 0, False)


def test_closure_runs_with_grad_enabled():
    p = param([3.0])
    opt = optim.SGD([p], lr=0.1)
    seen = []

    def closure():
        opt.zero_grad()
        seen.append(rustgrad.is_grad_enabled())
        loss = (p * p).sum()
        loss.backward()
        return loss

    with rustgrad.no_grad():
        loss = opt.step(closure)
    assert seen == [True]
    assert loss.item() == 9.0
    assert p.item() == pytest.approx(3.0 - 0.1 * 6.0)


def test_zero_grad():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


def test_aliasing_gradient_does_not_deadlock():
    # A gradient that shares the parameter's storage is read from a copy.
    p = param([1.0, 2.0, 4.0])
    opt = optim.SGD([p], lr=0.25)
    p.grad = p.detach()
    opt.step()
    np.testing.assert_array_equal(p.detach().numpy(), [0.75, 1.5, 3.0])


def test_state_sharing_the_parameter_is_refused_and_nothing_changes():
    a, b = param([1.0, 2.0]), param([3.0, 4.0])
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    a.grad, b.grad = grad_of([1.0, 1.0]), grad_of([1.0, 1.0])
    opt.state[b]["momentum_buffer"] = b.detach()
    with pytest.raises(RuntimeError, match="shares memory"):
        opt.step()
    np.testing.assert_array_equal(a.detach().numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(b.detach().numpy(), [3.0, 4.0])


def test_mismatched_state_is_a_clear_error():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.state[p]["momentum_buffer"] = rustgrad.zeros(3, dtype=f64)
    p.grad = grad_of([1.0, 1.0])
    with pytest.raises(RuntimeError, match=r"momentum_buffer of parameter 0 has shape \[3\]"):
        opt.step()


def test_threads_step_their_own_optimizers():
    def work(seed, out):
        rng = np.random.default_rng(seed)
        p_np = rng.standard_normal(50_000)
        p = param(p_np)
        opt = optim.Adam([p], lr=0.01)
        st = {"step": 0, "m": np.zeros_like(p_np), "v": np.zeros_like(p_np)}
        for _ in range(3):
            g = rng.standard_normal(p_np.size)
            p.grad = grad_of(g)
            opt.step()
            p_np = np_adam(p_np, g, st, lr=0.01)
        out[seed] = np.abs(p.detach().numpy() - p_np).max()

    out = {}
    threads = [threading.Thread(target=work, args=(s, out)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 4 and max(out.values()) < 1e-12


def test_repr():
    p = param([1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    assert repr(opt) == (
        "SGD (\nParameter Group 0\n    dampening: 0\n    differentiable: False\n    foreach: None\n"
        "    fused: None\n    lr: 0.1\n    maximize: False\n    momentum: 0.9\n    nesterov: False\n"
        "    weight_decay: 0\n)"
    )


def test_step_hooks():
    p = param([1.0])
    opt = optim.SGD([p], lr=0.1)
    calls = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: calls.append(("pre", o is opt)))
    h2 = opt.register_step_post_hook(lambda o, a, k: calls.append(("post", o is opt)))
    p.grad = grad_of([1.0])
    opt.step()
    assert calls == [("pre", True), ("post", True)]
    h1.remove()
    h2.remove()
    opt.step()
    assert len(calls) == 2


# ----- validation (PyTorch's exceptions and messages) ----------------------------------------


@pytest.mark.parametrize(
    "make,exc,msg",
    [
        (lambda p: optim.SGD(p, lr=-0.1), ValueError, "Invalid learning rate: -0.1"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), ValueError, "Invalid momentum value: -0.5"),
        (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), ValueError, "Invalid weight_decay value: -1"),
        (lambda p: optim.SGD(p, lr=0.1, nesterov=True), ValueError,
         "Nesterov momentum requires a momentum and zero dampening"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
         "Nesterov momentum requires a momentum and zero dampening"),
        (lambda p: optim.Adam(p, lr=-0.1), ValueError, "Invalid learning rate: -0.1"),
        (lambda p: optim.Adam(p, eps=-1e-8), ValueError, "Invalid epsilon value: -1e-08"),
        (lambda p: optim.Adam(p, betas=(1.0, 0.999)), ValueError, "Invalid beta parameter at index 0: 1.0"),
        (lambda p: optim.Adam(p, betas=(0.9, -0.1)), ValueError, "Invalid beta parameter at index 1: -0.1"),
        (lambda p: optim.AdamW(p, weight_decay=-0.01), ValueError, "Invalid weight_decay value: -0.01"),
        (lambda p: optim.Adam(p, betas=(0, 0.9)), ValueError, "betas must be either both floats or both Tensors"),
        (lambda p: optim.SGD([], lr=0.1), ValueError, "optimizer got an empty parameter list"),
        (lambda p: optim.SGD(p[0], lr=0.1), TypeError,
         "params argument given to the optimizer should be an iterable of Tensors or dicts, but got"),
        (lambda p: optim.SGD([p[0], 3], lr=0.1), TypeError,
         "optimizer can only optimize Tensors, but one of the params is int"),
        (lambda p: optim.SGD([p[0] * 2], lr=0.1), ValueError, "can't optimize a non-leaf Tensor"),
        (lambda p: optim.SGD([{"params": p}, {"params": p}], lr=0.1), ValueError,
         "some parameters appear in more than one parameter group"),
        (lambda p: optim.SGD([{"params": set(p)}], lr=0.1), TypeError, "ordered collections"),
    ],
)
def test_invalid_arguments(make, exc, msg):
    p = [param([1.0])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc) as info:
            make(p)
    assert msg in str(info.value)


def test_a_set_of_parameters_warns():
    with pytest.warns(FutureWarning, match="ordered collections"):
        optim.SGD({param([1.0])}, lr=0.1)


def test_add_param_group():
    a, b = param([1.0]), param([2.0])
    opt = optim.SGD([a], lr=0.1, momentum=0.5)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert len(opt.param_groups) == 2
    g = opt.param_groups[1]
    assert g["params"] == [b] and g["lr"] == 0.01 and g["momentum"] == 0.5
    with pytest.raises(TypeError, match="param_group must be a dict, but got <class 'list'>"):
        opt.add_param_group([b])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.warns(UserWarning, match="duplicate parameters"):
        opt.add_param_group({"params": [param([0.0])] * 2})


def test_required_hyperparameter():
    class Custom(optim.Optimizer):
        def __init__(self, params, lr=optim.optimizer.required):
            super().__init__(params, {"lr": lr})

    with pytest.raises(ValueError, match="didn't specify a value of required optimization parameter lr"):
        Custom([param([1.0])])
    assert Custom([{"params": [param([1.0])], "lr": 0.1}]).param_groups[0]["lr"] == 0.1


def test_named_parameters():
    a, b = param([1.0]), param([2.0])
    opt = optim.SGD([("w", a), ("b", b)], lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["w", "b"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]
    with pytest.raises(ValueError, match="all optimizer param groups should be with/without names"):
        opt.add_param_group({"params": [param([0.0])]})


# ----- state dicts ----------------------------------------------------------------------------


def run(opt, params, grads):
    for g in grads:
        for p, gi in zip(params, g):
            p.grad = grad_of(gi)
        opt.step()


def grads_sequence(n, shapes, seed=3):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in shapes] for _ in range(n)]


def test_state_dict_format():
    a, b = param([1.0, 2.0]), param([3.0])
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, amsgrad=True)
    run(opt, [a, b], grads_sequence(2, [(2,), (1,)]))
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == [0, 1]
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][0]["exp_avg"] is opt.state[a]["exp_avg"]
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][1]["params"] == [1]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert opt.param_groups[0]["params"] == [a]  # packing does not touch the optimizer


@pytest.mark.parametrize(
    "cls,kw",
    [
        (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
        (optim.Adam, dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
        (optim.AdamW, dict(lr=0.05, betas=(0.8, 0.99))),
    ],
)
@pytest.mark.parametrize("through_file", [False, True])
def test_state_dict_round_trip_continues_identically(cls, kw, through_file, tmp_path):
    shapes = [(3, 2), (4,)]
    grads = grads_sequence(6, shapes)
    rng = np.random.default_rng(9)
    init = [rng.standard_normal(s) for s in shapes]

    # Uninterrupted.
    ref = [param(x) for x in init]
    ref_opt = cls(ref, **kw)
    run(ref_opt, ref, grads)

    # Three steps, checkpoint, a fresh optimizer loads it and does the other three.
    params = [param(x) for x in init]
    opt = cls(params, **kw)
    run(opt, params, grads[:3])
    if through_file:
        path = tmp_path / "opt.safetensors"
        rustgrad.save({"model": [p.detach() for p in params], "optim": opt.state_dict()}, path)
        ckpt = rustgrad.load(path)
        sd, values = ckpt["optim"], ckpt["model"]
    else:
        sd, values = copy.deepcopy(opt.state_dict()), [p.detach().clone() for p in params]
    del opt
    fresh = [rustgrad.tensor(v.numpy(), requires_grad=True) for v in values]
    opt2 = cls(fresh, **kw)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["params"] == fresh
    run(opt2, fresh, grads[3:])
    for p, r in zip(fresh, ref):
        np.testing.assert_array_equal(p.detach().numpy(), r.detach().numpy())


def test_load_state_dict_checks_and_casts():
    a = param([1.0, 2.0])
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    run(opt, [a], grads_sequence(1, [(2,)]))
    sd = opt.state_dict()

    two = optim.SGD([{"params": [param([1.0, 2.0])]}, {"params": [param([1.0])]}], lr=0.1)
    with pytest.raises(ValueError, match="loaded state dict has a different number of parameter groups"):
        two.load_state_dict(sd)
    wide = optim.SGD([param([1.0, 2.0]), param([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        wide.load_state_dict(sd)

    # State follows the parameter's dtype; the loaded group options win.
    p32 = param([1.0, 2.0], rustgrad.float32)
    o32 = optim.SGD([p32], lr=0.5, momentum=0.1)
    o32.load_state_dict(sd)
    assert o32.state[p32]["momentum_buffer"].dtype == rustgrad.float32
    assert o32.param_groups[0]["lr"] == 0.1 and o32.param_groups[0]["momentum"] == 0.9


def test_adamw_load_keeps_decoupled_weight_decay():
    p = param([1.0])
    adam = optim.Adam([p], lr=0.1)
    sd = adam.state_dict()
    w = optim.AdamW([param([1.0])], lr=0.1)
    w.load_state_dict(sd)
    assert w.param_groups[0]["decoupled_weight_decay"] is True


def test_adam_step_stored_as_number_is_converted():
    p = param([1.0, 2.0])
    opt = optim.Adam([p], lr=0.1)
    run(opt, [p], grads_sequence(2, [(2,)]))
    sd = copy.deepcopy(opt.state_dict())
    sd["state"][0]["step"] = 2  # an old checkpoint's plain number
    q = param(p.detach().numpy())
    opt2 = optim.Adam([q], lr=0.1)
    opt2.load_state_dict(sd)
    assert isinstance(opt2.state[q]["step"], rustgrad.Tensor) and opt2.state[q]["step"].item() == 2.0


def test_torch_parity_live():
    # Against PyTorch itself on option combinations beyond the stored cases (when installed).
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    combos = [
        ("SGD", dict(lr=0.07, momentum=0.8, dampening=0.2, weight_decay=0.03)),
        ("SGD", dict(lr=0.07, momentum=0.8, nesterov=True, maximize=True)),
        ("Adam", dict(lr=0.02, betas=(0.6, 0.9), eps=1e-5, weight_decay=0.2, amsgrad=True, maximize=True)),
        ("AdamW", dict(lr=0.02, betas=(0.3, 0.8), weight_decay=0.3)),
    ]
    for name, kw in combos:
        init = rng.standard_normal((5, 3))
        ours = param(init)
        theirs = torch.tensor(init, requires_grad=True)
        o1 = getattr(optim, name)([ours], **kw)
        o2 = getattr(torch.optim, name)([theirs], **kw)
        for _ in range(5):
            g = rng.standard_normal((5, 3))
            ours.grad = grad_of(g)
            theirs.grad = torch.tensor(g)
            o1.step()
            o2.step()
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_subclass_calling_super_step_runs_hooks_once():
    class MySGD(optim.SGD):
        def step(self, closure=None):
            return super().step(closure)

    p = param([1.0])
    opt = MySGD([p], lr=0.5)
    calls = []
    opt.register_step_post_hook(lambda o, a, k: calls.append(1))
    p.grad = grad_of([1.0])
    opt.step()
    assert calls == [1] and p.item() == 0.5
