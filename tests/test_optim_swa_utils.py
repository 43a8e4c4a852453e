"""optim.swa_utils against PyTorch: AveragedModel (SWA by default, EMA through avg_fn or
multi_avg_fn, use_buffers), the averaging-function factories, SWALR's learning rates and
update_bn's batch-norm statistics; PyTorch's errors."""

import re

import numpy as np
import pytest

import rustgrad as rg
from rustgrad.optim import swa_utils


def make_models(torch):
    rg.manual_seed(1)
    mine = rg.nn.Sequential(rg.nn.Linear(3, 4), rg.nn.BatchNorm1d(4), rg.nn.ReLU(), rg.nn.Linear(4, 2)).double()
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2)
    ).double()
    theirs.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in mine.state_dict().items()})
    return mine, theirs


def perturb_and_average(lib, model, averaged, rng_seed=0, updates=5):
    """Moves the model's weights (and, through a forward pass, its batch-norm statistics) and
    averages them in after each move."""
    rng = np.random.default_rng(rng_seed)
    for _ in range(updates):
        with lib.no_grad():
            for p in model.parameters():
                p.add_(lib.tensor(rng.standard_normal(tuple(p.shape))))
        model.train()
        model(lib.tensor(rng.standard_normal((8, 3))))
        averaged.update_parameters(model)


def assert_same_state(sd_mine, sd_theirs, rtol=1e-12):
    assert list(sd_mine) == list(sd_theirs)
    for key in sd_theirs:
        a, b = sd_mine[key], sd_theirs[key]
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], key
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=1e-14, err_msg=key)


AVERAGING = [
    ("swa", {}),
    ("swa-buffers", dict(use_buffers=True)),
    ("ema-multi", dict(multi_avg_fn="get_ema_multi_avg_fn")),
    ("ema-multi-buffers", dict(multi_avg_fn="get_ema_multi_avg_fn", use_buffers=True)),
    ("ema-per-tensor", dict(avg_fn="get_ema_avg_fn")),
    ("swa-multi", dict(multi_avg_fn="get_swa_multi_avg_fn")),
    ("swa-per-tensor", dict(avg_fn="get_swa_avg_fn", use_buffers=True)),
]


@pytest.mark.parametrize("name,kw", AVERAGING, ids=[n for n, _ in AVERAGING])
def test_averaged_model_matches_pytorch(name, kw):
    torch = pytest.importorskip("torch")
    mine, theirs = make_models(torch)

    def build(lib_swa, model):
        args = dict(kw)
        for key in ("avg_fn", "multi_avg_fn"):
            if key in args:
                factory = getattr(lib_swa, args[key])
                args[key] = factory(0.8) if "ema" in args[key] else factory()
        return lib_swa.AveragedModel(model, **args)

    avg_m, avg_t = build(swa_utils, mine), build(torch.optim.swa_utils, theirs)
    perturb_and_average(rg, mine, avg_m)
    perturb_and_average(torch, theirs, avg_t)
    assert_same_state(avg_m.state_dict(), avg_t.state_dict())
    assert avg_m.n_averaged.item() == 5 and avg_m.n_averaged.dtype == rg.int64
    x = np.random.default_rng(5).standard_normal((4, 3))
    avg_m.eval()
    avg_t.eval()
    np.testing.assert_allclose(avg_m(rg.tensor(x)).detach().numpy(), avg_t(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12)


def test_the_default_average_is_the_mean_of_the_updates():
    model = rg.nn.Linear(2, 1, bias=False).double()
    averaged = swa_utils.AveragedModel(model)
    seen = []
    for v in ([1.0, 2.0], [3.0, -1.0], [2.0, 5.0]):
        with rg.no_grad():
            model.weight.copy_(rg.tensor([v], dtype=rg.float64))
        averaged.update_parameters(model)
        seen.append(v)
    np.testing.assert_allclose(averaged.module.weight.detach().numpy(), [np.mean(seen, axis=0)], rtol=1e-15)
    assert model.weight.requires_grad and averaged.module.weight is not model.weight


def test_factories_and_their_errors_match_pytorch():
    torch = pytest.importorskip("torch")
    for lib in (swa_utils, torch.optim.swa_utils):
        for factory in (lib.get_ema_avg_fn, lib.get_ema_multi_avg_fn):
            for bad in (-0.1, 1.5):
                with pytest.raises(ValueError, match=re.escape(
                        f"Invalid decay value {bad} provided. Please provide a value in [0,1] range.")):
                    factory(bad)
    a, b = rg.tensor([1.0, 2.0], dtype=rg.float64), rg.tensor([3.0, 6.0], dtype=rg.float64)
    assert swa_utils.get_ema_avg_fn(0.75)(a, b, 3).tolist() == [1.5, 3.0]
    assert swa_utils.get_swa_avg_fn()(a, b, 1).tolist() == [2.0, 4.0]
    # Integer tensors with a tensor count: PyTorch's addcdiv refuses integer division, so do we.
    for lib in (rg, torch):
        with pytest.raises(RuntimeError, match="^Integer division with addcdiv is no longer supported"):
            lib.optim.swa_utils.get_swa_multi_avg_fn()([lib.tensor([10, 20])], [lib.tensor([20, 40])], lib.tensor(1))
    ema = [rg.tensor([1.0, 2.0], dtype=rg.float64)]
    swa_utils.get_ema_multi_avg_fn(0.75)(ema, [b], 3)
    assert ema[0].tolist() == [1.5, 3.0]


def test_averaged_model_rejects_two_averaging_functions():
    model = rg.nn.Linear(2, 1)
    with pytest.raises(AssertionError, match="^Only one of avg_fn and multi_avg_fn should be provided$"):
        swa_utils.AveragedModel(model, avg_fn=swa_utils.get_swa_avg_fn(),
                                multi_avg_fn=swa_utils.get_swa_multi_avg_fn())


# ----- SWALR --------------------------------------------------------------------------------------

SWALR_CASES = [
    dict(swa_lr=0.05),
    dict(swa_lr=0.05, anneal_epochs=3, anneal_strategy="linear"),
    dict(swa_lr=[0.01, 0.2], anneal_epochs=4),
    dict(swa_lr=0.3, anneal_epochs=0),
]


@pytest.mark.parametrize("kw", SWALR_CASES, ids=[str(k) for k in SWALR_CASES])
def test_swalr_matches_pytorch(kw):
    torch = pytest.importorskip("torch")
    lrs = {}
    for lib in (rg, torch):
        a, b = lib.zeros(2, requires_grad=True), lib.zeros(2, requires_grad=True)
        opt = lib.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=1.0)
        sched = lib.optim.swa_utils.SWALR(opt, **kw)
        seen = [sched.get_last_lr()]
        for _ in range(7):
            opt.step()
            sched.step()
            seen.append(sched.get_last_lr())
        lrs[lib.__name__] = seen
        state = sched.state_dict()
        assert "optimizer" not in state and "anneal_func" not in state
        sched.load_state_dict(state)
        assert sched.anneal_func(0.5) == 0.5 if kw.get("anneal_strategy") == "linear" else True
    np.testing.assert_allclose(lrs["rustgrad"], lrs["torch"], rtol=1e-15)


def test_swalr_errors_match_pytorch():
    torch = pytest.importorskip("torch")
    for lib in (rg, torch):
        opt = lib.optim.SGD([lib.zeros(2, requires_grad=True)], lr=1.0)
        with pytest.raises(ValueError, match=re.escape(
                "anneal_strategy must be one of 'cos' or 'linear', instead got exp")):
            lib.optim.swa_utils.SWALR(opt, 0.1, anneal_strategy="exp")
        with pytest.raises(ValueError, match=re.escape("anneal_epochs must be equal or greater than 0, got -1")):
            lib.optim.swa_utils.SWALR(opt, 0.1, anneal_epochs=-1)
        with pytest.raises(ValueError, match=re.escape(
                "swa_lr must have the same length as optimizer.param_groups. swa_lr has 2 values, param_groups has 1.")):
            lib.optim.swa_utils.SWALR(opt, [0.1, 0.2])


# ----- update_bn ----------------------------------------------------------------------------------

def test_update_bn_matches_pytorch():
    torch = pytest.importorskip("torch")
    mine, theirs = make_models(torch)
    rng = np.random.default_rng(3)
    batches = [rng.standard_normal((6, 3)) for _ in range(4)]
    for lib, model in ((rg, mine), (torch, theirs)):
        model.eval()
        loader = [(lib.tensor(b), lib.zeros(6)) for b in batches[:2]] + [lib.tensor(b) for b in batches[2:]]
        lib.optim.swa_utils.update_bn(loader, model)
        assert not model.training and model[1].momentum == 0.1
    assert_same_state(mine.state_dict(), theirs.state_dict())
    # A cumulative average over the batches: the running mean is the mean of the batch means.
    pre_bn = [mine[0](rg.tensor(b)).detach().numpy().mean(0) for b in batches]
    np.testing.assert_allclose(mine[1].running_mean.numpy(), np.mean(pre_bn, axis=0), rtol=1e-12)


def test_update_bn_without_batch_norm_does_nothing():
    model = rg.nn.Linear(2, 2)
    swa_utils.update_bn([rg.zeros(1, 2)], model)
