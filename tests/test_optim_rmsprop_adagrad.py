"""RMSprop and Adagrad, and the schedulers ConstantLR, LinearLR, PolynomialLR, SequentialLR,
ChainedScheduler, CyclicLR, CosineAnnealingWarmRestarts and OneCycleLR: update formulas against
numpy, 20 training steps / 30 schedule steps against PyTorch, state dicts, PyTorch's errors."""

import copy
import math
import re
import warnings

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
from rustgrad.optim import SGD, Adagrad, Adam, RMSprop, lr_scheduler


def t64(a, grad=False):
    return rg.tensor(np.asarray(a, dtype=np.float64), dtype=rg.float64, requires_grad=grad)


# ----- numpy references for the update rules -------------------------------------------------------

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


# ----- PyTorch parity: 20 steps of a small model ---------------------------------------------------

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


# ----- schedulers ----------------------------------------------------------------------------------

def sgd(lib, lr=0.1, momentum=0.9, groups=2):
    params = [lib.zeros(2, dtype=lib.float64, requires_grad=True) for _ in range(groups)]
    return lib.optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)], lr=lr,
                         momentum=momentum)


def adam(lib, lr=0.1):
    params = [lib.zeros(2, dtype=lib.float64, requires_grad=True) for _ in range(2)]
    return lib.optim.Adam([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.3}], lr=lr)


SCHEDULES = {
    "ConstantLR": (sgd, lambda s, o: s.ConstantLR(o, factor=0.25, total_iters=7)),
    "LinearLR": (sgd, lambda s, o: s.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=12)),
    "PolynomialLR": (sgd, lambda s, o: s.PolynomialLR(o, total_iters=20, power=2.0)),
    "PolynomialLR_linear": (sgd, lambda s, o: s.PolynomialLR(o, total_iters=8)),
    "CosineAnnealingWarmRestarts": (sgd, lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=5, eta_min=0.01)),
    "CosineAnnealingWarmRestarts_mult": (sgd, lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2)),
    "OneCycleLR_cos": (sgd, lambda s, o: s.OneCycleLR(o, max_lr=1.0, total_steps=31)),
    "OneCycleLR_linear_adam": (adam, lambda s, o: s.OneCycleLR(o, max_lr=[0.5, 2.0], epochs=4, steps_per_epoch=8,
                                                                 anneal_strategy="linear", pct_start=0.25)),
    "OneCycleLR_three_phase": (sgd, lambda s, o: s.OneCycleLR(o, max_lr=0.8, total_steps=31, three_phase=True,
                                                               div_factor=10.0, final_div_factor=100.0)),
    "OneCycleLR_no_momentum": (sgd, lambda s, o: s.OneCycleLR(o, max_lr=0.8, total_steps=40, cycle_momentum=False)),
    "CyclicLR_triangular": (sgd, lambda s, o: s.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4)),
    "CyclicLR_triangular2": (sgd, lambda s, o: s.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3,
                                                          step_size_down=5, mode="triangular2")),
    "CyclicLR_exp_range_adam": (adam, lambda s, o: s.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4,
                                                              mode="exp_range", gamma=0.95)),
    "CyclicLR_scale_fn": (sgd, lambda s, o: s.CyclicLR(o, 0.01, 0.1, 3, scale_fn=lambda x: 0.5 ** x,
                                                       scale_mode="iterations", cycle_momentum=False)),
    "SequentialLR": (sgd, lambda s, o: s.SequentialLR(o, [s.LinearLR(o, 0.1, total_iters=5),
                                                          s.ExponentialLR(o, gamma=0.9),
                                                          s.ConstantLR(o, 0.5, total_iters=3)], milestones=[5, 15])),
    "SequentialLR_cosine": (sgd, lambda s, o: s.SequentialLR(o, [s.ConstantLR(o, 0.2, total_iters=4),
                                                                 s.CosineAnnealingLR(o, T_max=10)], milestones=[6])),
    "ChainedScheduler": (sgd, lambda s, o: s.ChainedScheduler([s.ConstantLR(o, 0.5, total_iters=4),
                                                               s.ExponentialLR(o, gamma=0.95)])),
    "ChainedScheduler_poly": (sgd, lambda s, o: s.ChainedScheduler([s.PolynomialLR(o, total_iters=10),
                                                                    s.LinearLR(o, 0.5, total_iters=6)], optimizer=o)),
}


def run_schedule(lib, name, steps=30):
    make_opt, make_sched = SCHEDULES[name]
    opt = make_opt(lib)
    sched = make_sched(lib.optim.lr_scheduler, opt)
    lrs, moms = [sched.get_last_lr()], []
    for _ in range(steps):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt.step()
            sched.step()
        lrs.append(sched.get_last_lr())
        moms.append([g["momentum"] if "momentum" in g else g["betas"][0] for g in opt.param_groups])
    return lrs, moms, opt, sched


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    steps = 30
    lrs_m, moms_m, opt_m, sched_m = run_schedule(rg, name, steps)
    lrs_t, moms_t, opt_t, sched_t = run_schedule(torch, name, steps)
    np.testing.assert_allclose(np.array(lrs_m), np.array(lrs_t), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(np.array(moms_m), np.array(moms_t), rtol=1e-13, atol=1e-16)
    assert [g["lr"] for g in opt_m.param_groups] == pytest.approx([g["lr"] for g in opt_t.param_groups], rel=1e-13)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_state_dict_keys_match_pytorch(name):
    torch = pytest.importorskip("torch")
    _, _, _, sched_m = run_schedule(rg, name, 3)
    _, _, _, sched_t = run_schedule(torch, name, 3)
    sd_m, sd_t = sched_m.state_dict(), sched_t.state_dict()
    assert sorted(sd_m) == sorted(sd_t)
    for key in ("last_epoch", "_step_count", "total_steps", "T_cur", "T_i", "_milestones", "_schedule_phases",
                "_scale_fn_custom"):
        if key in sd_t:
            assert sd_m[key] == sd_t[key], key


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_state_dict_resumes(name):
    full, _, _, _ = run_schedule(rg, name, 20)
    make_opt, make_sched = SCHEDULES[name]
    opt = make_opt(rg)
    sched = make_sched(rg.optim.lr_scheduler, opt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(8):
            opt.step()
            sched.step()
        saved_opt, saved_sched = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
        if name == "CyclicLR_scale_fn":
            # A lambda scale_fn is not saved (as in PyTorch): the resumed scheduler is built with it again.
            assert saved_sched["_scale_fn_custom"] is None
        opt2 = make_opt(rg)
        sched2 = make_sched(rg.optim.lr_scheduler, opt2)
        opt2.load_state_dict(saved_opt)
        sched2.load_state_dict(saved_sched)
        lrs = []
        for _ in range(12):
            opt2.step()
            sched2.step()
            lrs.append(sched2.get_last_lr())
    np.testing.assert_allclose(np.array(lrs), np.array(full[9:]), rtol=1e-13)


def test_polynomial_constant_linear_closed_forms():
    opt = sgd(rg, momentum=0.0, groups=1)
    s = lr_scheduler.PolynomialLR(opt, total_iters=6, power=1.5)
    got = [s.get_last_lr()[0]]
    for _ in range(9):
        opt.step()
        s.step()
        got.append(s.get_last_lr()[0])
    expected = [0.1 * (1 - min(t, 6) / 6) ** 1.5 for t in range(10)]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-17)

    opt = sgd(rg, momentum=0.0, groups=1)
    s = lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=3)
    got = [s.get_last_lr()[0]]
    for _ in range(5):
        opt.step()
        s.step()
        got.append(s.get_last_lr()[0])
    np.testing.assert_allclose(got, [0.05, 0.05, 0.05, 0.1, 0.1, 0.1], rtol=1e-12)

    opt = sgd(rg, momentum=0.0, groups=1)
    s = lr_scheduler.LinearLR(opt, start_factor=0.2, end_factor=1.0, total_iters=4)
    got = [s.get_last_lr()[0]]
    for _ in range(6):
        opt.step()
        s.step()
        got.append(s.get_last_lr()[0])
    np.testing.assert_allclose(got, [0.02, 0.04, 0.06, 0.08, 0.1, 0.1, 0.1], rtol=1e-12)


def test_warm_restarts_formula():
    opt = sgd(rg, momentum=0.0, groups=1)
    s = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2, eta_min=0.0)
    got = [s.get_last_lr()[0]]
    for _ in range(9):
        opt.step()
        s.step()
        got.append(s.get_last_lr()[0])
    # Periods 2, 4, 8: T_cur restarts at epochs 2 and 6.
    t_cur = [0, 1, 0, 1, 2, 3, 0, 1, 2, 3]
    t_i = [2, 2, 4, 4, 4, 4, 8, 8, 8, 8]
    np.testing.assert_allclose(got, [0.05 * (1 + math.cos(math.pi * c / i)) for c, i in zip(t_cur, t_i)], rtol=1e-12)
    # A fractional epoch (the per-batch form).
    s.step(2.5)
    assert s.get_last_lr()[0] == pytest.approx(0.05 * (1 + math.cos(math.pi * 0.5 / 4)))


def test_one_cycle_endpoints_and_momentum():
    opt = sgd(rg, momentum=0.0, groups=1)
    s = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.3, anneal_strategy="linear")
    assert s.get_last_lr()[0] == pytest.approx(1.0 / 25)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)
    lrs, moms = [], []
    for _ in range(9):
        opt.step()
        s.step()
        lrs.append(s.get_last_lr()[0])
        moms.append(opt.param_groups[0]["momentum"])
    assert lrs[1] == pytest.approx(1.0)  # step 2 = pct_start * total - 1
    assert moms[1] == pytest.approx(0.85)
    assert lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert moms[-1] == pytest.approx(0.95)
    opt.step()
    s.step()  # step 10 extrapolates the last phase; one more is an error
    with pytest.raises(ValueError, match=re.escape("Tried to step 11 times. The specified number of total steps is "
                                                   "10")):
        opt.step()
        s.step()


def test_one_cycle_sets_adam_beta1():
    opt = adam(rg)
    s = lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=10, base_momentum=0.5, max_momentum=0.9)
    assert [g["betas"] for g in opt.param_groups] == [(0.9, 0.999), (0.9, 0.999)]
    for _ in range(2):
        opt.step()
        s.step()
    assert opt.param_groups[0]["betas"][0] == pytest.approx(0.5)
    assert opt.param_groups[1]["betas"] == pytest.approx((0.5, 0.999))


def test_sequential_and_chained_state_dicts_nest():
    opt = sgd(rg)
    s = lr_scheduler.SequentialLR(opt, [lr_scheduler.ConstantLR(opt, 0.5, total_iters=2),
                                        lr_scheduler.ExponentialLR(opt, 0.9)], milestones=[3])
    sd = s.state_dict()
    assert "optimizer" not in sd and len(sd["_schedulers"]) == 2 and sd["_milestones"] == [3]
    assert all("optimizer" not in d for d in sd["_schedulers"])
    c = lr_scheduler.ChainedScheduler([lr_scheduler.ConstantLR(opt, 0.5, total_iters=2)])
    assert len(c.state_dict()["_schedulers"]) == 1


SCHED_ERRORS = [
    (lambda s, o: s.ConstantLR(o, factor=1.5), ValueError,
     "Constant multiplicative factor expected to be between 0 and 1."),
    (lambda s, o: s.LinearLR(o, start_factor=0), ValueError,
     "Starting multiplicative factor expected to be greater than 0 and less or equal to 1."),
    (lambda s, o: s.LinearLR(o, end_factor=2), ValueError,
     "Ending multiplicative factor expected to be between 0 and 1."),
    (lambda s, o: s.SequentialLR(o, [], milestones=[]), ValueError,
     "SequentialLR expects at least one scheduler, but got no scheduler."),
    (lambda s, o: s.SequentialLR(o, [s.ConstantLR(o)], milestones=[3]), ValueError,
     "Sequential Schedulers expects number of schedulers provided to be one more than the number of milestone "
     "points, but got number of schedulers 1 and the number of milestones to be equal to 1"),
    (lambda s, o: s.SequentialLR(o, [s.ConstantLR(o), 3], milestones=[3]), TypeError,
     "SequentialLR at index 1 should have `optimizer` as its attribute."),
    (lambda s, o: s.ChainedScheduler([]), ValueError,
     "ChainedScheduler expects at least one scheduler to be chained, but got no scheduler."),
    (lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "Expected positive integer T_0, but got 0"),
    (lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), ValueError,
     "Expected integer T_mult >= 1, but got 0"),
    (lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=2, eta_min="a"), ValueError,
     "Expected float or int eta_min, but got a of type <class 'str'>"),
    (lambda s, o: s.OneCycleLR(o, 1.0), ValueError,
     "You must define either total_steps OR (epochs AND steps_per_epoch)"),
    (lambda s, o: s.OneCycleLR(o, 1.0, total_steps=0), ValueError, "Expected positive integer total_steps, but got 0"),
    (lambda s, o: s.OneCycleLR(o, 1.0, epochs=0, steps_per_epoch=3), ValueError,
     "Expected positive integer epochs, but got 0"),
    (lambda s, o: s.OneCycleLR(o, 1.0, epochs=2, steps_per_epoch=-3), ValueError,
     "Expected positive integer steps_per_epoch, but got -3"),
    (lambda s, o: s.OneCycleLR(o, 1.0, total_steps=10, pct_start=1), ValueError,
     "Expected float between 0 and 1 pct_start, but got 1"),
    (lambda s, o: s.OneCycleLR(o, 1.0, total_steps=10, anneal_strategy="exp"), ValueError,
     "anneal_strategy must be one of 'cos' or 'linear', instead got exp"),
    (lambda s, o: s.OneCycleLR(o, [1.0], total_steps=10), ValueError,
     "max_lr must have the same length as optimizer.param_groups. max_lr has 1 values, param_groups has 2."),
    (lambda s, o: s.OneCycleLR(3, 1.0, total_steps=10), TypeError, "int is not an Optimizer"),
    (lambda s, o: s.CyclicLR(o, 0.1, 1.0, mode="foo"), ValueError, "mode is invalid and scale_fn is None"),
]


@pytest.mark.parametrize("i", range(len(SCHED_ERRORS)))
def test_scheduler_errors(i):
    fn, exc, msg = SCHED_ERRORS[i]
    with pytest.raises(exc, match=re.escape(msg) + "$"):
        fn(lr_scheduler, sgd(rg))


@pytest.mark.parametrize("i", range(len(SCHED_ERRORS)))
def test_scheduler_errors_are_pytorchs(i):
    torch = pytest.importorskip("torch")
    fn, exc, msg = SCHED_ERRORS[i]
    with pytest.raises(exc, match=re.escape(msg) + "$"):
        fn(torch.optim.lr_scheduler, sgd(torch))


def test_cycle_momentum_needs_momentum_or_betas():
    class NoMomentum(rg.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.1})

    opt = NoMomentum([t64(START, True)])
    msg = "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
    with pytest.raises(ValueError, match=re.escape(msg)):
        lr_scheduler.OneCycleLR(opt, 1.0, total_steps=5)
    with pytest.raises(ValueError, match=re.escape(msg)):
        lr_scheduler.CyclicLR(opt, 0.1, 1.0)
