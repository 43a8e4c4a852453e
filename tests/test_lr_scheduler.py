"""rustgrad.optim.lr_scheduler: PyTorch's stored schedules, formulas, state dicts, warnings."""

import json
import math
import os
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
