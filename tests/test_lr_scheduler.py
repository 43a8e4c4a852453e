"""rustgrad.optim.lr_scheduler: PyTorch's stored schedules, formulas, state dicts, warnings; ConstantLR,
LinearLR, PolynomialLR, SequentialLR, ChainedScheduler, CyclicLR, CosineAnnealingWarmRestarts and
OneCycleLR over 30 steps against PyTorch; ReduceLROnPlateau against PyTorch; PyTorch's errors."""

import copy
import json
import math
import os
import re
import warnings

import numpy as np
import pytest

import rustgrad
from rustgrad.optim import SGD, lr_scheduler

DATA = os.path.join(os.path.dirname(__file__), "data")
with open(os.path.join(DATA, "cases.json")) as _f:
    CASES = json.load(_f)["cases"]
REF = np.load(os.path.join(DATA, "torch_reference.npz"))
LR_CASES = sorted(c for c in CASES if c.startswith("lr_"))


def make_optimizer(lr=0.1, groups=1):
    params = [rustgrad.zeros(3, dtype=rustgrad.float64, requires_grad=True) for _ in range(groups)]
    opt = SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)], lr=lr)
    return opt, params


def train_epoch(opt, params):
    for p in params:
        p.grad = rustgrad.ones(3, dtype=rustgrad.float64)
    opt.step()


def test_reference_has_the_three_schedulers():
    assert {CASES[c]["op"] for c in LR_CASES} == {"StepLR", "MultiStepLR", "CosineAnnealingLR"}


@pytest.mark.parametrize("case", LR_CASES)
def test_schedule_matches_pytorch(case):
    spec = CASES[case]
    kw = dict(spec["kwargs"])
    base_lr = kw.pop("base_lr")
    opt, params = make_optimizer(base_lr)
    sched = getattr(lr_scheduler, spec["op"])(opt, **kw)
    expected = REF[f"{case}/lr_per_epoch"]
    seen, last = [], []
    for _ in range(len(expected)):
        seen.append(opt.param_groups[0]["lr"])
        last.append(sched.get_last_lr()[0])
        train_epoch(opt, params)
        sched.step()
    np.testing.assert_allclose(seen, expected, rtol=1e-12, atol=0)
    assert seen == last


def test_exponential_and_lambda():
    opt, params = make_optimizer(0.1, groups=2)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.9)
    for e in range(5):
        assert sched.get_last_lr() == pytest.approx([0.1 * 0.9**e, 0.2 * 0.9**e], rel=1e-14)
        train_epoch(opt, params)
        sched.step()

    opt, params = make_optimizer(0.1, groups=2)
    sched = lr_scheduler.LambdaLR(opt, [lambda e: 1 / (e + 1), lambda e: 0.5**e])
    for e in range(5):
        assert sched.get_last_lr() == pytest.approx([0.1 / (e + 1), 0.2 * 0.5**e], rel=1e-14)
        train_epoch(opt, params)
        sched.step()
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0])


def test_cosine_closed_form_and_eta_min():
    opt, params = make_optimizer(0.1)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=8, eta_min=0.01)
    for e in range(9):
        closed = 0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * e / 8)) / 2
        assert opt.param_groups[0]["lr"] == pytest.approx(closed, rel=1e-12)
        train_epoch(opt, params)
        sched.step()


def test_step_with_epoch_uses_closed_form_and_warns():
    opt, params = make_optimizer(0.1)
    sched = lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    train_epoch(opt, params)
    with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)` was not necessary"):
        sched.step(7)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**2)
    assert sched.last_epoch == 7


def test_state_dict_resumes_the_schedule():
    opt, params = make_optimizer(0.1)
    sched = lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.1)
    for _ in range(3):
        train_epoch(opt, params)
        sched.step()
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 3 and sd["base_lrs"] == [0.1]

    opt2, params2 = make_optimizer(0.1)
    opt2.load_state_dict(opt.state_dict())
    sched2 = lr_scheduler.MultiStepLR(opt2, milestones=[2, 4], gamma=0.1)
    sched2.load_state_dict(sd)
    opt2.load_state_dict(opt.state_dict())
    for _ in range(3):
        train_epoch(opt, params)
        sched.step()
        train_epoch(opt2, params2)
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.1 * 0.1**2)


def test_resuming_needs_initial_lr():
    opt, _ = make_optimizer(0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=4)


def test_not_an_optimizer():
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        lr_scheduler.StepLR([], step_size=2)


def test_warns_when_stepped_before_the_optimizer():
    opt, _ = make_optimizer(0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`"):
        sched.step()

    opt, params = make_optimizer(0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2)
    train_epoch(opt, params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()


def test_get_lr_outside_step_warns():
    opt, _ = make_optimizer(0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()


def test_lambda_state_dict_skips_plain_functions():
    opt, _ = make_optimizer(0.1)

    class Factor:
        def __init__(self):
            self.k = 0.5

        def __call__(self, e):
            return self.k**e

    f = Factor()
    sched = lr_scheduler.LambdaLR(opt, f)
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"k": 0.5}]
    f.k = 0.9
    sched.load_state_dict(sd)
    assert f.k == 0.5
    sched2 = lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    assert sched2.state_dict()["lr_lambdas"] == [None]


# ----- more schedulers, 30 steps against PyTorch --------------------------------------------------

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
def test_schedule_matches_live_pytorch(name):
    torch = pytest.importorskip("torch")
    steps = 30
    lrs_m, moms_m, opt_m, sched_m = run_schedule(rustgrad, name, steps)
    lrs_t, moms_t, opt_t, sched_t = run_schedule(torch, name, steps)
    np.testing.assert_allclose(np.array(lrs_m), np.array(lrs_t), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(np.array(moms_m), np.array(moms_t), rtol=1e-13, atol=1e-16)
    assert [g["lr"] for g in opt_m.param_groups] == pytest.approx([g["lr"] for g in opt_t.param_groups], rel=1e-13)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_state_dict_keys_match_pytorch(name):
    torch = pytest.importorskip("torch")
    _, _, _, sched_m = run_schedule(rustgrad, name, 3)
    _, _, _, sched_t = run_schedule(torch, name, 3)
    sd_m, sd_t = sched_m.state_dict(), sched_t.state_dict()
    assert sorted(sd_m) == sorted(sd_t)
    for key in ("last_epoch", "_step_count", "total_steps", "T_cur", "T_i", "_milestones", "_schedule_phases",
                "_scale_fn_custom"):
        if key in sd_t:
            assert sd_m[key] == sd_t[key], key


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_state_dict_resumes(name):
    full, _, _, _ = run_schedule(rustgrad, name, 20)
    make_opt, make_sched = SCHEDULES[name]
    opt = make_opt(rustgrad)
    sched = make_sched(rustgrad.optim.lr_scheduler, opt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(8):
            opt.step()
            sched.step()
        saved_opt, saved_sched = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
        if name == "CyclicLR_scale_fn":
            # A lambda scale_fn is not saved (as in PyTorch): the resumed scheduler is built with it again.
            assert saved_sched["_scale_fn_custom"] is None
        opt2 = make_opt(rustgrad)
        sched2 = make_sched(rustgrad.optim.lr_scheduler, opt2)
        opt2.load_state_dict(saved_opt)
        sched2.load_state_dict(saved_sched)
        lrs = []
        for _ in range(12):
            opt2.step()
            sched2.step()
            lrs.append(sched2.get_last_lr())
    np.testing.assert_allclose(np.array(lrs), np.array(full[9:]), rtol=1e-13)


def test_polynomial_constant_linear_closed_forms():
    opt = sgd(rustgrad, momentum=0.0, groups=1)
    s = lr_scheduler.PolynomialLR(opt, total_iters=6, power=1.5)
    got = [s.get_last_lr()[0]]
    for _ in range(9):
        opt.step()
        s.step()
        got.append(s.get_last_lr()[0])
    expected = [0.1 * (1 - min(t, 6) / 6) ** 1.5 for t in range(10)]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-17)

    opt = sgd(rustgrad, momentum=0.0, groups=1)
    s = lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=3)
    got = [s.get_last_lr()[0]]
    for _ in range(5):
        opt.step()
        s.step()
        got.append(s.get_last_lr()[0])
    np.testing.assert_allclose(got, [0.05, 0.05, 0.05, 0.1, 0.1, 0.1], rtol=1e-12)

    opt = sgd(rustgrad, momentum=0.0, groups=1)
    s = lr_scheduler.LinearLR(opt, start_factor=0.2, end_factor=1.0, total_iters=4)
    got = [s.get_last_lr()[0]]
    for _ in range(6):
        opt.step()
        s.step()
        got.append(s.get_last_lr()[0])
    np.testing.assert_allclose(got, [0.02, 0.04, 0.06, 0.08, 0.1, 0.1, 0.1], rtol=1e-12)


def test_warm_restarts_formula():
    opt = sgd(rustgrad, momentum=0.0, groups=1)
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
    opt = sgd(rustgrad, momentum=0.0, groups=1)
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
    opt = adam(rustgrad)
    s = lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=10, base_momentum=0.5, max_momentum=0.9)
    assert [g["betas"] for g in opt.param_groups] == [(0.9, 0.999), (0.9, 0.999)]
    for _ in range(2):
        opt.step()
        s.step()
    assert opt.param_groups[0]["betas"][0] == pytest.approx(0.5)
    assert opt.param_groups[1]["betas"] == pytest.approx((0.5, 0.999))


def test_sequential_and_chained_state_dicts_nest():
    opt = sgd(rustgrad)
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
        fn(lr_scheduler, sgd(rustgrad))


@pytest.mark.parametrize("i", range(len(SCHED_ERRORS)))
def test_scheduler_errors_are_pytorchs(i):
    torch = pytest.importorskip("torch")
    fn, exc, msg = SCHED_ERRORS[i]
    with pytest.raises(exc, match=re.escape(msg) + "$"):
        fn(torch.optim.lr_scheduler, sgd(torch))


def test_cycle_momentum_needs_momentum_or_betas():
    class NoMomentum(rustgrad.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.1})

    opt = NoMomentum([rustgrad.zeros(4, dtype=rustgrad.float64, requires_grad=True)])
    msg = "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
    with pytest.raises(ValueError, match=re.escape(msg)):
        lr_scheduler.OneCycleLR(opt, 1.0, total_steps=5)
    with pytest.raises(ValueError, match=re.escape(msg)):
        lr_scheduler.CyclicLR(opt, 0.1, 1.0)


# ----- ReduceLROnPlateau --------------------------------------------------------------------------

METRICS = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.91]


@pytest.mark.parametrize("kwargs", [
    {},
    {"patience": 1},
    {"patience": 2, "cooldown": 2, "factor": 0.5},
    {"mode": "max", "patience": 1, "threshold": 0.01},
    {"threshold_mode": "abs", "threshold": 0.02, "patience": 0, "min_lr": 0.02},
    {"mode": "max", "threshold_mode": "abs", "patience": 1, "min_lr": [0.05, 0.001]},
    {"patience": 0, "eps": 0.5},
])
def test_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")

    def make(lib):
        a, b = lib.zeros(2, requires_grad=True), lib.zeros(3, requires_grad=True)
        opt = lib.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
        return opt, lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)

    opt, sched = make(rustgrad)
    topt, tsched = make(torch)
    for m in METRICS:
        opt.step()
        topt.step()
        sched.step(m)
        tsched.step(m)
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
        assert [g["lr"] for g in opt.param_groups] == pytest.approx([g["lr"] for g in topt.param_groups])
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.last_epoch, sched.best) == (
            tsched.num_bad_epochs, tsched.cooldown_counter, tsched.last_epoch, tsched.best)


def test_plateau_state_dict_and_tensor_metric():
    p = rustgrad.zeros(2, requires_grad=True)
    opt = rustgrad.optim.SGD([p], lr=1.0)
    s = rustgrad.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    s.step(rustgrad.tensor(1.0))
    s.step(rustgrad.tensor(2.0))
    assert s.get_last_lr() == [0.5]
    state = s.state_dict()
    assert "optimizer" not in state and state["best"] == 1.0 and state["mode"] == "min"
    s2 = rustgrad.optim.lr_scheduler.ReduceLROnPlateau(rustgrad.optim.SGD([p], lr=0.5), mode="max")
    s2.load_state_dict(state)
    assert s2.mode == "min" and s2.best == 1.0 and s2._is_better(0.5, 1.0)
    assert isinstance(s, rustgrad.optim.lr_scheduler.LRScheduler)


@pytest.mark.parametrize("kwargs,exc,msg", [
    ({"factor": 1.0}, ValueError, "Factor should be < 1.0."),
    ({"mode": "foo"}, ValueError, "mode foo is unknown!"),
    ({"threshold_mode": "foo"}, ValueError, "threshold mode foo is unknown!"),
    ({"min_lr": [0.1, 0.2]}, ValueError, "expected 1 min_lrs, got 2"),
])
def test_plateau_errors(kwargs, exc, msg):
    opt = rustgrad.optim.SGD([rustgrad.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(exc, match=re.escape(msg)):
        rustgrad.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        rustgrad.optim.lr_scheduler.ReduceLROnPlateau([])


def test_multiplicative_lr_matches_pytorch():
    torch = pytest.importorskip("torch")
    factor = lambda epoch: 0.9 if epoch % 2 else 0.5  # noqa: E731
    opt, _ = make_optimizer(lr=0.1)
    ours = lr_scheduler.MultiplicativeLR(opt, lr_lambda=factor)
    theirs_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    theirs = torch.optim.lr_scheduler.MultiplicativeLR(theirs_opt, lr_lambda=factor)
    for _ in range(6):
        ours.optimizer.step()
        ours.step()
        theirs_opt.step()
        theirs.step()
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
