"""LBFGS against PyTorch in float64: every point the closure is evaluated at (hence the iterates
and the closure call counts) on Rosenbrock's function and on a small regression, with and without
the strong-Wolfe line search and with the options that change the iteration; its state."""

import copy

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn


def rosenbrock_trace(lib, steps, **kw):
    """Runs ``steps`` LBFGS steps on Rosenbrock's function; returns each closure call's point,
    loss and gradient (one row per call) and the optimizer."""
    x = lib.tensor([-1.5, 2.0], dtype=lib.float64, requires_grad=True)
    opt = lib.optim.LBFGS([x], **kw)
    rows = []

    def closure():
        opt.zero_grad()
        loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        loss.backward()
        rows.append(np.r_[x.detach().numpy(), loss.item(), x.grad.numpy()])
        return loss

    for _ in range(steps):
        opt.step(closure)
    return np.array(rows), opt


def regression_trace(lib, steps, sign=1.0, **kw):
    """LBFGS on a small tanh network fitting a noisy linear target (float64, fixed weights)."""
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((32, 4))
    y_np = x_np @ np.array([[0.5], [-1.0], [2.0], [0.3]]) + 0.05 * rng.standard_normal((32, 1))
    w1, b1 = 0.5 * rng.standard_normal((6, 4)), 0.1 * rng.standard_normal(6)
    w2, b2 = 0.5 * rng.standard_normal((1, 6)), 0.1 * rng.standard_normal(1)
    model = lib.nn.Sequential(lib.nn.Linear(4, 6), lib.nn.Tanh(), lib.nn.Linear(6, 1)).double()
    with lib.no_grad():
        for p, v in zip(model.parameters(), (w1, b1, w2, b2)):
            p.copy_(lib.tensor(v))
    x, y = lib.tensor(x_np), lib.tensor(y_np)
    opt = lib.optim.LBFGS(model.parameters(), **kw)
    rows = []

    def closure():
        opt.zero_grad()
        loss = sign * ((model(x) - y) ** 2).mean()
        loss.backward()
        flat = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
        rows.append(np.r_[flat, loss.item()])
        return loss

    losses = [opt.step(closure).item() for _ in range(steps)]
    return np.array(rows), opt, losses


def assert_same_trace(mine, theirs, num_point_columns):
    """The same number of closure calls, at the same points (within 1e-10), with the same losses
    (and gradients) up to what a 1e-10 change of the point makes of them (Rosenbrock's Hessian
    reaches 1e3)."""
    assert mine.shape == theirs.shape
    k = num_point_columns
    np.testing.assert_allclose(mine[:, :k], theirs[:, :k], rtol=0, atol=1e-10)
    np.testing.assert_allclose(mine[:, k:], theirs[:, k:], rtol=1e-9, atol=1e-7)


ROSENBROCK = [
    (5, dict(line_search_fn="strong_wolfe")),
    (3, dict(line_search_fn="strong_wolfe", history_size=2, max_iter=7)),
    (2, dict(line_search_fn="strong_wolfe", max_eval=9, lr=0.5)),
    (2, dict(max_iter=10)),
    (3, dict(lr=0.2, max_iter=6, history_size=3)),
]


@pytest.mark.parametrize("steps,kw", ROSENBROCK, ids=[str(k) for _, k in ROSENBROCK])
def test_rosenbrock_matches_pytorch(steps, kw):
    torch = pytest.importorskip("torch")
    mine, opt_m = rosenbrock_trace(rg, steps, **kw)
    theirs, opt_t = rosenbrock_trace(torch, steps, **kw)
    assert_same_trace(mine, theirs, 2)
    s_m, s_t = next(iter(opt_m.state.values())), next(iter(opt_t.state.values()))
    assert (s_m["func_evals"], s_m["n_iter"]) == (s_t["func_evals"], s_t["n_iter"])


def test_rosenbrock_reaches_the_minimum_with_strong_wolfe():
    rows, opt = rosenbrock_trace(rg, 5, line_search_fn="strong_wolfe")
    np.testing.assert_allclose(rows[-1][:2], [1.0, 1.0], atol=1e-4)


REGRESSION = [
    (2, dict()),
    (2, dict(line_search_fn="strong_wolfe")),
    (2, dict(line_search_fn="strong_wolfe", history_size=3, max_iter=15, max_eval=18)),
    (4, dict(lr=0.5, max_iter=5)),
    (2, dict(line_search_fn="strong_wolfe", tolerance_grad=1e-4, tolerance_change=1e-6)),
    (3, dict(tolerance_change=1e-3)),
]


@pytest.mark.parametrize("steps,kw", REGRESSION, ids=[str(k) for _, k in REGRESSION])
def test_regression_matches_pytorch(steps, kw):
    torch = pytest.importorskip("torch")
    mine, opt_m, losses_m = regression_trace(rg, steps, **kw)
    theirs, opt_t, losses_t = regression_trace(torch, steps, **kw)
    assert_same_trace(mine, theirs, mine.shape[1] - 1)
    np.testing.assert_allclose(losses_m, losses_t, rtol=1e-10)
    compare_lbfgs_state(opt_m, opt_t)


def test_maximize_matches_pytorch():
    torch = pytest.importorskip("torch")
    for kw in (dict(), dict(line_search_fn="strong_wolfe")):
        mine, _, _ = regression_trace(rg, 2, sign=-1.0, maximize=True, **kw)
        theirs, _, _ = regression_trace(torch, 2, sign=-1.0, maximize=True, **kw)
        assert_same_trace(mine, theirs, mine.shape[1] - 1)
        minimized, _, _ = regression_trace(rg, 2, **kw)
        np.testing.assert_allclose(mine[:, :-1], minimized[:, :-1], rtol=0, atol=1e-12)


def compare_lbfgs_state(opt_m, opt_t):
    s_m, s_t = opt_m.state_dict()["state"][0], opt_t.state_dict()["state"][0]
    assert sorted(s_m) == sorted(s_t)
    for key in s_t:
        a, b = s_m[key], s_t[key]
        if key == "al":
            a = [v for v in a if v is not None]
            b = [v for v in b if v is not None]
        if isinstance(b, list):
            assert len(a) == len(b), key
            for u, v in zip(a, b):
                np.testing.assert_allclose(np.asarray(u.numpy() if hasattr(u, "numpy") else u),
                                           np.asarray(v.numpy() if hasattr(v, "numpy") else v), atol=1e-9, err_msg=key)
        else:
            np.testing.assert_allclose(np.asarray(a.numpy() if hasattr(a, "numpy") else a),
                                       np.asarray(b.numpy() if hasattr(b, "numpy") else b), atol=1e-9, err_msg=key)


def test_defaults_and_state_dict_round_trip():
    p = rg.zeros(3, dtype=rg.float64, requires_grad=True)
    opt = rg.optim.LBFGS([p], max_iter=8)
    group = opt.param_groups[0]
    assert (group["max_eval"], group["history_size"], group["tolerance_grad"], group["tolerance_change"]) == (
        10, 100, 1e-7, 1e-9)
    target = rg.tensor([1.0, -2.0, 3.0], dtype=rg.float64)

    def closure_for(o, q):
        def closure():
            o.zero_grad()
            loss = ((q - target) ** 4).sum()
            loss.backward()
            return loss
        return closure

    opt.step(closure_for(opt, p))
    q = p.detach().clone().requires_grad_(True)
    twin = rg.optim.LBFGS([q], max_iter=8)
    # Deep-copied: a loaded state shares its tensors with the dict (as in PyTorch).
    twin.load_state_dict(copy.deepcopy(opt.state_dict()))
    opt.step(closure_for(opt, p))
    twin.step(closure_for(twin, q))
    assert p.tolist() == q.tolist()


def test_a_zero_gradient_returns_at_once():
    p = rg.ones(2, dtype=rg.float64, requires_grad=True)
    opt = rg.optim.LBFGS([p])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = ((p - 1) ** 2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 0.0 and len(calls) == 1


def test_float32_model_converges():
    rg.manual_seed(0)
    model = nn.Linear(3, 1)
    x = rg.randn(20, 3)
    y = x @ rg.tensor([[1.0], [2.0], [-1.0]]) + 0.5
    opt = rg.optim.LBFGS(model.parameters(), line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    assert closure().item() < 1e-8


def test_loading_pytorchs_state_continues_as_pytorch():
    torch = pytest.importorskip("torch")

    def setup(lib):
        x = lib.tensor([-1.5, 2.0], dtype=lib.float64, requires_grad=True)
        opt = lib.optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=4)
        rows = []

        def closure():
            opt.zero_grad()
            loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
            loss.backward()
            rows.append(np.r_[x.detach().numpy(), loss.item()])
            return loss

        return x, opt, closure, rows

    x_t, opt_t, closure_t, rows_t = setup(torch)
    opt_t.step(closure_t)
    x_m, opt_m, closure_m, rows_m = setup(rg)
    with rg.no_grad():
        x_m.copy_(rg.tensor(x_t.detach().numpy().copy()))

    def conv(v):
        if isinstance(v, torch.Tensor):
            return rg.tensor(v.numpy().copy())
        if isinstance(v, list):
            return [conv(u) for u in v]
        if isinstance(v, dict):
            return {k: conv(u) for k, u in v.items()}
        return v

    opt_m.load_state_dict(conv(copy.deepcopy(opt_t.state_dict())))
    del rows_t[:]
    for _ in range(2):
        opt_t.step(closure_t)
        opt_m.step(closure_m)
    assert len(rows_m) == len(rows_t)
    np.testing.assert_allclose(np.array(rows_m), np.array(rows_t), rtol=1e-10, atol=1e-10)
