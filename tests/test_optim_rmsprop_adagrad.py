"""RMSprop and Adagrad: update formulas against NumPy, state, closures, state dicts, defaults, 20
training steps against PyTorch (parameters and state dicts), reprs and PyTorch's errors."""

import copy
import re

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
from rustgrad.optim import Adagrad, RMSprop


def t64(a, grad=False):
    return rg.tensor(np.asarray(a, dtype=np.float64), dtype=rg.float64, requires_grad=grad)


# ----- NumPy references for the update rules ------------------------------------------------------

TARGET = np.array([0.5, -1.0, 2.0, 0.25])
START = np.array([1.0, 0.3, -0.7, 0.0])


def quad_grad(p):
    return 2.0 * (p - TARGET) + 0.1 * p ** 2


def np_rmsprop(steps, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, maximize=False):
    p = START.copy()
    sq, buf, gavg = np.zeros(4), np.zeros(4), np.zeros(4)
    for _ in range(steps):
        g = quad_grad(p)
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            gavg = gavg + (1 - alpha) * (g - gavg)
            avg = np.sqrt(sq - gavg * gavg) + eps
        else:
            avg = np.sqrt(sq) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    return p, sq, buf, gavg


def np_adagrad(steps, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, maximize=False):
    p = START.copy()
    s = np.full(4, float(initial_accumulator_value))
    for step in range(1, steps + 1):
        g = quad_grad(p)
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        clr = lr / (1 + (step - 1) * lr_decay)
        s = s + g * g
        p = p - clr * g / (np.sqrt(s) + eps)
    return p, s


def run_quadratic(opt_cls, steps, **kw):
    p = t64(START, True)
    opt = opt_cls([p], **kw)
    for _ in range(steps):
        opt.zero_grad()
        p.grad = t64(quad_grad(p.detach().numpy()))
        opt.step()
    return p, opt


RMSPROP_CASES = [
    dict(),
    dict(lr=0.05, alpha=0.9),
    dict(lr=0.05, momentum=0.8),
    dict(lr=0.05, centered=True),
    dict(lr=0.02, centered=True, momentum=0.5, weight_decay=0.1),
    dict(lr=0.01, maximize=True, eps=1e-3),
]


@pytest.mark.parametrize("kw", RMSPROP_CASES, ids=str)
def test_rmsprop_matches_numpy(kw):
    p, opt = run_quadratic(RMSprop, 15, **kw)
    ref_p, sq, buf, gavg = np_rmsprop(15, **kw)
    np.testing.assert_allclose(p.detach().numpy(), ref_p, rtol=1e-12, atol=1e-14)
    state = opt.state[p]
    expected = ["step", "square_avg"] + (["momentum_buffer"] if kw.get("momentum", 0) > 0 else []) + (
        ["grad_avg"] if kw.get("centered") else [])
    assert list(state) == expected
    assert state["step"].item() == 15 and state["step"].dtype == rg.float32
    np.testing.assert_allclose(state["square_avg"].numpy(), sq, rtol=1e-12)
    if "momentum_buffer" in state:
        np.testing.assert_allclose(state["momentum_buffer"].numpy(), buf, rtol=1e-12)
    if "grad_avg" in state:
        np.testing.assert_allclose(state["grad_avg"].numpy(), gavg, rtol=1e-12, atol=1e-15)


ADAGRAD_CASES = [
    dict(),
    dict(lr=0.1, lr_decay=0.05),
    dict(lr=0.1, weight_decay=0.2, initial_accumulator_value=0.5),
    dict(lr=0.05, maximize=True, eps=1e-4),
]


@pytest.mark.parametrize("kw", ADAGRAD_CASES, ids=str)
def test_adagrad_matches_numpy(kw):
    p, opt = run_quadratic(Adagrad, 15, **kw)
    ref_p, s = np_adagrad(15, **kw)
    np.testing.assert_allclose(p.detach().numpy(), ref_p, rtol=1e-12, atol=1e-14)
    state = opt.state[p]
    assert list(state) == ["step", "sum"]
    assert state["step"].item() == 15
    np.testing.assert_allclose(state["sum"].numpy(), s, rtol=1e-12)


def test_adagrad_state_exists_before_the_first_step():
    p = t64(START, True)
    opt = Adagrad([p], initial_accumulator_value=0.3)
    assert opt.state[p]["step"].item() == 0.0
    np.testing.assert_array_equal(opt.state[p]["sum"].numpy(), np.full(4, 0.3))
    sd = opt.state_dict()
    assert list(sd["state"]) == [0] and list(sd["state"][0]) == ["step", "sum"]


def test_optimizers_skip_params_without_grad_and_run_under_no_grad():
    a, b = t64(START, True), t64(START, True)
    for cls in (RMSprop, Adagrad):
        opt = cls([a, b], lr=0.1)
        a.grad = t64(np.ones(4))
        b.grad = None
        opt.step()
        assert not a.requires_grad or a.grad_fn is None
        np.testing.assert_array_equal(b.detach().numpy(), START)
        assert a.is_leaf


def test_closure_returns_loss():
    p = t64(START, True)
    for cls in (RMSprop, Adagrad):
        opt = cls([p])
        before = p.detach().numpy().copy()

        def closure():
            opt.zero_grad()
            loss = ((p - t64(TARGET)) ** 2).sum()
            loss.backward()
            return loss

        loss = opt.step(closure)
        assert loss.item() == pytest.approx(((before - TARGET) ** 2).sum(), rel=1e-14)
        assert not np.array_equal(p.detach().numpy(), before)


def test_state_dict_round_trip_continues_identically():
    for cls, kw in ((RMSprop, dict(lr=0.05, momentum=0.5, centered=True)), (Adagrad, dict(lr=0.1, lr_decay=0.1))):
        p1, opt1 = run_quadratic(cls, 5, **kw)
        p2 = t64(p1.detach().numpy(), True)
        opt2 = cls([p2], **kw)
        opt2.load_state_dict(copy.deepcopy(opt1.state_dict()))
        for p, opt in ((p1, opt1), (p2, opt2)):
            for _ in range(5):
                p.grad = t64(quad_grad(p.detach().numpy()))
                opt.step()
        np.testing.assert_array_equal(p1.detach().numpy(), p2.detach().numpy())


def test_param_group_defaults_and_repr():
    p = t64(START, True)
    opt = RMSprop([p])
    g = opt.param_groups[0]
    assert (g["lr"], g["alpha"], g["eps"], g["weight_decay"], g["momentum"], g["centered"], g["maximize"]) == (
        1e-2, 0.99, 1e-8, 0, 0, False, False)
    opt = Adagrad([p])
    g = opt.param_groups[0]
    assert (g["lr"], g["lr_decay"], g["weight_decay"], g["initial_accumulator_value"], g["eps"], g["maximize"]) == (
        1e-2, 0, 0, 0, 1e-10, False)


OPT_ERRORS = [
    (lambda o, p: o.RMSprop(p, lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda o, p: o.RMSprop(p, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda o, p: o.RMSprop(p, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda o, p: o.RMSprop(p, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (lambda o, p: o.RMSprop(p, alpha=-0.9), "Invalid alpha value: -0.9"),
    (lambda o, p: o.Adagrad(p, lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda o, p: o.Adagrad(p, lr_decay=-1), "Invalid lr_decay value: -1"),
    (lambda o, p: o.Adagrad(p, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda o, p: o.Adagrad(p, initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    (lambda o, p: o.Adagrad(p, eps=-1e-3), "Invalid epsilon value: -0.001"),
    (lambda o, p: o.RMSprop([], lr=0.1), "optimizer got an empty parameter list"),
]


@pytest.mark.parametrize("i", range(len(OPT_ERRORS)))
def test_optimizer_errors(i):
    fn, msg = OPT_ERRORS[i]
    with pytest.raises(ValueError, match=re.escape(msg) + "$"):
        fn(rg.optim, [t64(START, True)])


@pytest.mark.parametrize("i", range(len(OPT_ERRORS)))
def test_optimizer_errors_are_pytorchs(i):
    torch = pytest.importorskip("torch")
    fn, msg = OPT_ERRORS[i]
    with pytest.raises(ValueError, match=re.escape(msg) + "$"):
        fn(torch.optim, [torch.zeros(4, requires_grad=True)])


# ----- PyTorch parity: 20 steps of a small model --------------------------------------------------

def make_models(torch):
    rg.manual_seed(3)
    mine = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    theirs.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in mine.state_dict().items()})
    return mine, theirs


def compare_state_dicts(sd_mine, sd_theirs):
    assert sd_mine["param_groups"] == [
        {k: v for k, v in g.items()} for g in sd_theirs["param_groups"]
    ]
    assert list(sd_mine["state"]) == list(sd_theirs["state"])
    for idx in sd_theirs["state"]:
        s1, s2 = sd_mine["state"][idx], sd_theirs["state"][idx]
        assert list(s1) == list(s2)
        for key in s2:
            a, b = s1[key], s2[key]
            assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], key
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-13, err_msg=key)


PARITY = [
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.03, alpha=0.9, momentum=0.7)),
    ("RMSprop", dict(lr=0.02, centered=True, weight_decay=0.05)),
    ("RMSprop", dict(lr=0.02, centered=True, momentum=0.3, maximize=True, eps=1e-4)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.02, initial_accumulator_value=0.1)),
    ("Adagrad", dict(lr=0.05, maximize=True, eps=1e-6)),
]


@pytest.mark.parametrize("name,kw", PARITY, ids=[f"{n}-{kw}" for n, kw in PARITY])
def test_optimizer_matches_pytorch_over_20_steps(name, kw):
    torch = pytest.importorskip("torch")
    mine, theirs = make_models(torch)
    # Two parameter groups, the second with its own lr.
    groups = lambda m: [{"params": list(m[0].parameters())}, {"params": list(m[2].parameters()), "lr": 0.005}]
    opt_m = getattr(rg.optim, name)(groups(mine), **kw)
    opt_t = getattr(torch.optim, name)(groups(theirs), **kw)
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
        for model, opt, lib in ((mine, opt_m, rg), (theirs, opt_t, torch)):
            opt.zero_grad()
            loss = ((model(lib.tensor(x)) - lib.tensor(y)) ** 2).mean()
            loss.backward()
            opt.step()
    for (n1, p1), (n2, p2) in zip(mine.named_parameters(), theirs.named_parameters()):
        assert n1 == n2
        np.testing.assert_allclose(p1.detach().numpy(), p2.detach().numpy(), rtol=1e-10, atol=1e-13)
    compare_state_dicts(opt_m.state_dict(), opt_t.state_dict())


def test_optimizer_reprs_match_pytorch():
    torch = pytest.importorskip("torch")
    for name, kw in PARITY:
        a = getattr(rg.optim, name)([t64(START, True)], **kw)
        b = getattr(torch.optim, name)([torch.zeros(4, requires_grad=True)], **kw)
        assert repr(a) == repr(b)
