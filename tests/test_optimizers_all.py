"""ASGD, Adadelta, Adafactor, Adamax, NAdam, RAdam, Rprop, Muon and SparseAdam against PyTorch:
20 float64 training steps of a small model with two parameter groups for every option that
changes the update, state dicts (their layout, round trips, and loading PyTorch's), defaults,
reprs and PyTorch's errors."""

import copy
import inspect
import re

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn

NEW_OPTIMIZERS = ["ASGD", "Adadelta", "Adafactor", "Adamax", "NAdam", "RAdam", "Rprop", "Muon", "SparseAdam", "LBFGS"]


def make_models(torch, bias=True):
    rg.manual_seed(3)
    mine = nn.Sequential(nn.Linear(3, 5, bias=bias), nn.Tanh(), nn.Linear(5, 2, bias=bias)).double()
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 5, bias=bias), torch.nn.Tanh(), torch.nn.Linear(5, 2, bias=bias)
    ).double()
    theirs.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in mine.state_dict().items()})
    return mine, theirs


def two_groups(model):
    return [{"params": list(model[0].parameters())}, {"params": list(model[2].parameters()), "lr": 0.005}]


def train(models_and_opts, steps, seed=0):
    """The same random regression batches for each (model, optimizer, library)."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
        for model, opt, lib in models_and_opts:
            opt.zero_grad()
            loss = ((model(lib.tensor(x)) - lib.tensor(y)) ** 2).mean()
            loss.backward()
            opt.step()


def assert_same_params(mine, theirs, rtol=1e-10, atol=1e-13):
    for (n1, p1), (n2, p2) in zip(mine.named_parameters(), theirs.named_parameters()):
        assert n1 == n2
        np.testing.assert_allclose(p1.detach().numpy(), p2.detach().numpy(), rtol=rtol, atol=atol, err_msg=n1)


def to_numpy(v):
    return v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)


def compare_state_dicts(sd_mine, sd_theirs, rtol=1e-10, atol=1e-13):
    assert sd_mine["param_groups"] == sd_theirs["param_groups"]
    assert list(sd_mine["state"]) == list(sd_theirs["state"])
    for idx in sd_theirs["state"]:
        s1, s2 = sd_mine["state"][idx], sd_theirs["state"][idx]
        assert list(s1) == list(s2)
        for key in s2:
            a, b = s1[key], s2[key]
            if hasattr(b, "dtype"):
                assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], key
                assert tuple(a.shape) == tuple(b.shape), key
            np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=rtol, atol=atol, err_msg=key)


def torch_state_dict_to_rustgrad(sd):
    """A PyTorch optimizer state dict with its tensors turned into rustgrad tensors."""
    import torch

    def conv(v):
        if isinstance(v, torch.Tensor):
            return rg.tensor(v.numpy().copy(), dtype=getattr(rg, str(v.dtype).split(".")[-1]))
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return conv(copy.deepcopy(sd))


PARITY = [
    ("ASGD", dict()),
    ("ASGD", dict(lr=0.05, lambd=1e-2, alpha=0.5, t0=5, weight_decay=0.01)),
    ("ASGD", dict(lr=0.05, t0=3, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.05)),
    ("Adadelta", dict(maximize=True)),
    ("Adafactor", dict()),
    ("Adafactor", dict(lr=0.05, beta2_decay=-0.5, eps=(1e-20, 1e-2), d=2.0, weight_decay=0.05)),
    ("Adafactor", dict(maximize=True, d=1.5)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.05)),
    ("Adamax", dict(maximize=True)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.95), momentum_decay=0.01, weight_decay=0.05)),
    ("NAdam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True)),
    ("NAdam", dict(maximize=True, eps=1e-5)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.01, betas=(0.5, 0.6), weight_decay=0.05)),
    ("RAdam", dict(lr=0.01, betas=(0.5, 0.6), weight_decay=0.05, decoupled_weight_decay=True)),
    ("RAdam", dict(maximize=True)),
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.02))),
    ("Rprop", dict(maximize=True)),
]


@pytest.mark.parametrize("name,kw", PARITY, ids=[f"{n}-{kw}" for n, kw in PARITY])
def test_optimizer_matches_pytorch_over_20_steps(name, kw):
    torch = pytest.importorskip("torch")
    mine, theirs = make_models(torch)
    opt_m = getattr(rg.optim, name)(two_groups(mine), **kw)
    opt_t = getattr(torch.optim, name)(two_groups(theirs), **kw)
    train([(mine, opt_m, rg), (theirs, opt_t, torch)], 20)
    assert_same_params(mine, theirs)
    compare_state_dicts(opt_m.state_dict(), opt_t.state_dict())


@pytest.mark.parametrize("name,kw", PARITY[::3], ids=[f"{n}-{kw}" for n, kw in PARITY[::3]])
def test_loading_pytorchs_state_dict_continues_as_pytorch(name, kw):
    torch = pytest.importorskip("torch")
    mine, theirs = make_models(torch)
    opt_t = getattr(torch.optim, name)(two_groups(theirs), **kw)
    train([(theirs, opt_t, torch)], 5)
    mine.load_state_dict({k: rg.tensor(v.numpy().copy()) for k, v in theirs.state_dict().items()})
    opt_m = getattr(rg.optim, name)(two_groups(mine), **kw)
    opt_m.load_state_dict(torch_state_dict_to_rustgrad(opt_t.state_dict()))
    # Loading casts floating state (ASGD's eta and mu, NAdam's mu_product) to the parameters'
    # dtype; PyTorch's own optimizer goes through the same load to stay comparable.
    opt_t.load_state_dict(opt_t.state_dict())
    train([(mine, opt_m, rg), (theirs, opt_t, torch)], 5, seed=1)
    assert_same_params(mine, theirs)
    compare_state_dicts(opt_m.state_dict(), opt_t.state_dict())


@pytest.mark.parametrize("name,kw", PARITY[1::3], ids=[f"{n}-{kw}" for n, kw in PARITY[1::3]])
def test_state_dict_round_trip_continues_identically(name, kw):
    torch = pytest.importorskip("torch")
    mine, _ = make_models(torch)
    opt = getattr(rg.optim, name)(two_groups(mine), **kw)
    train([(mine, opt, rg)], 4)
    twin = copy.deepcopy(mine)
    opt_twin = getattr(rg.optim, name)(two_groups(twin), **kw)
    opt_twin.load_state_dict(copy.deepcopy(opt.state_dict()))
    train([(mine, opt, rg), (twin, opt_twin, rg)], 4, seed=2)
    # Equal up to the float32 -> float64 cast loading gives scalar state such as NAdam's mu_product.
    for p, q in zip(mine.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-7, atol=0)


@pytest.mark.parametrize("name", NEW_OPTIMIZERS)
def test_signatures_and_defaults_match_pytorch(name):
    torch = pytest.importorskip("torch")
    sig_t = inspect.signature(getattr(torch.optim, name).__init__)
    sig_m = inspect.signature(getattr(rg.optim, name).__init__)
    assert [(p.name, p.kind, p.default) for p in sig_m.parameters.values()] == [
        (p.name, p.kind, p.default) for p in sig_t.parameters.values()
    ]


@pytest.mark.parametrize("name", [n for n in NEW_OPTIMIZERS if n not in ("Muon",)])
def test_reprs_and_param_groups_match_pytorch(name):
    torch = pytest.importorskip("torch")
    a = getattr(rg.optim, name)([rg.zeros(2, 3, requires_grad=True)])
    b = getattr(torch.optim, name)([torch.zeros(2, 3, requires_grad=True)])
    assert repr(a) == repr(b)
    assert a.state_dict() == {"state": {}, "param_groups": b.state_dict()["param_groups"]}


def test_optimizers_step_without_grads_and_return_the_closure_loss():
    for name, kw in PARITY:
        if name == "Muon":
            continue
        p = rg.tensor([1.0, 2.0], requires_grad=True)
        opt = getattr(rg.optim, name)([p], **kw)
        opt.step()  # no gradient yet: nothing changes, no state
        assert p.tolist() == [1.0, 2.0] and len(opt.state) == 0

        def closure():
            opt.zero_grad()
            loss = (p * p).sum()
            loss.backward()
            return loss

        assert opt.step(closure).item() == 5.0
        assert p.tolist() != [1.0, 2.0]


# ----- errors ------------------------------------------------------------------------------------

OPT_ERRORS = [
    (lambda o, p: o.ASGD(p, lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda o, p: o.ASGD(p, lambd=-1.0), "Invalid lambd value: -1.0"),
    (lambda o, p: o.ASGD(p, alpha=-1.0), "Invalid alpha value: -1.0"),
    (lambda o, p: o.ASGD(p, weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    (lambda o, p: o.Adadelta(p, lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda o, p: o.Adadelta(p, rho=1.5), "Invalid rho value: 1.5"),
    (lambda o, p: o.Adadelta(p, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda o, p: o.Adadelta(p, weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    (lambda o, p: o.Adafactor(p, lr=-1.0), "Learning rate should be >= 0 but is: -1.0"),
    (lambda o, p: o.Adafactor(p, beta2_decay=0.5), "beta2_decay should be <= 0 but is: 0.5"),
    (lambda o, p: o.Adafactor(p, eps=(-1.0, 1e-3)), "epsilon1 should be >= 0 but is: -1.0"),
    (lambda o, p: o.Adafactor(p, eps=(None, -1.0)), "epsilon2 should be >= 0 but is: -1.0"),
    (lambda o, p: o.Adafactor(p, d=0.5), "Clipping threshold d should be >= 1 but is: 0.5"),
    (lambda o, p: o.Adafactor(p, weight_decay=-1.0), "weight_decay should be >= 0 but is: -1.0"),
    (lambda o, p: o.Adamax(p, lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda o, p: o.Adamax(p, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda o, p: o.Adamax(p, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    (lambda o, p: o.Adamax(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda o, p: o.Adamax(p, weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    (lambda o, p: o.NAdam(p, lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda o, p: o.NAdam(p, momentum_decay=-1.0), "Invalid momentum_decay value: -1.0"),
    (lambda o, p: o.NAdam(p, betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    (lambda o, p: o.RAdam(p, lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda o, p: o.RAdam(p, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda o, p: o.RAdam(p, weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    (lambda o, p: o.Rprop(p, lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda o, p: o.Rprop(p, etas=(1.5, 2.0)), "Invalid eta values: 1.5, 2.0"),
    (lambda o, p: o.Rprop(p, etas=(0.5, 0.9)), "Invalid eta values: 0.5, 0.9"),
    (lambda o, p: o.SparseAdam(p, lr=0.0), "Invalid learning rate: 0.0"),
    (lambda o, p: o.SparseAdam(p, eps=0.0), "Invalid epsilon value: 0.0"),
    (lambda o, p: o.SparseAdam(p, betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    (lambda o, p: o.LBFGS(p, lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda o, p: o.Muon(p, lr=-1.0), "Learning rate should be >= 0 but is: -1.0"),
    (lambda o, p: o.Muon(p, momentum=-1.0), "momentum should be >= 0 but is: -1.0"),
    (lambda o, p: o.Muon(p, weight_decay=-1.0), "weight decay should be >= 0 but is: -1.0"),
    (lambda o, p: o.Muon(p, adjust_lr_fn="x"), "Adjust learning rate function x is not supported"),
]


@pytest.mark.parametrize("i", range(len(OPT_ERRORS)))
def test_constructor_errors_match_pytorch(i):
    torch = pytest.importorskip("torch")
    fn, msg = OPT_ERRORS[i]
    with pytest.raises(ValueError, match=re.escape(msg) + "$"):
        fn(rg.optim, [rg.zeros(2, 2, requires_grad=True)])
    with pytest.raises(ValueError, match=re.escape(msg) + "$"):
        fn(torch.optim, [torch.zeros(2, 2, requires_grad=True)])


def test_tensor_lr_must_have_one_element():
    for name in ["ASGD", "Adadelta", "Adafactor", "Adamax", "NAdam", "RAdam", "Rprop", "SparseAdam", "LBFGS", "Muon"]:
        with pytest.raises(ValueError, match="^Tensor lr must be 1-element$"):
            getattr(rg.optim, name)([rg.zeros(2, 2, requires_grad=True)], lr=rg.tensor([0.1, 0.2]))


def test_differentiable_is_not_implemented():
    for name in ["ASGD", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop"]:
        with pytest.raises(NotImplementedError, match="differentiable=True"):
            getattr(rg.optim, name)([rg.zeros(2, requires_grad=True)], differentiable=True)


def test_sparse_adam_rejects_dense_gradients_as_pytorch():
    torch = pytest.importorskip("torch")
    msg = "SparseAdam does not support dense gradients, please consider Adam instead"
    for lib in (rg, torch):
        p = lib.zeros(3, requires_grad=True)
        (p * 2).sum().backward()
        opt = lib.optim.SparseAdam([p])
        with pytest.raises(RuntimeError, match=re.escape(msg)):
            opt.step()


def test_muon_rejects_non_matrix_parameters_as_pytorch():
    torch = pytest.importorskip("torch")
    for lib in (rg, torch):
        with pytest.raises(ValueError, match=re.escape(
                "Muon only supports 2D parameters whereas we found a parameter with size: " + "{}([3])".format(
                    "torch.Size" if lib is torch else "rustgrad.Size"))):
            lib.optim.Muon([lib.zeros(3, requires_grad=True)])


def test_lbfgs_rejects_several_groups_and_unknown_line_searches():
    torch = pytest.importorskip("torch")
    for lib in (rg, torch):
        a, b = lib.zeros(2, requires_grad=True), lib.zeros(2, requires_grad=True)
        with pytest.raises(ValueError, match="^LBFGS doesn't support per-parameter options \\(parameter groups\\)$"):
            lib.optim.LBFGS([{"params": [a]}, {"params": [b]}])
        opt = lib.optim.LBFGS([a], line_search_fn="armijo")

        def closure():
            opt.zero_grad()
            loss = ((a - 1) ** 2).sum()
            loss.backward()
            return loss

        with pytest.raises(RuntimeError, match="^only 'strong_wolfe' is supported$"):
            opt.step(closure)


# ----- Muon: PyTorch runs its Newton-Schulz iteration in bfloat16 ---------------------------------

MUON_CASES = [
    dict(),
    dict(lr=0.02, momentum=0.9, nesterov=False, weight_decay=0.0),
    dict(lr=0.02, adjust_lr_fn="match_rms_adamw", ns_steps=3),
    dict(lr=0.02, adjust_lr_fn="spectral_unclamped", ns_coefficients=(3.0, -3.2, 1.2), eps=1e-5),
]


@pytest.mark.parametrize("kw", MUON_CASES, ids=[str(k) for k in MUON_CASES])
def test_muon_matches_pytorch(kw):
    torch = pytest.importorskip("torch")
    mine, theirs = make_models(torch, bias=False)
    opt_m = rg.optim.Muon(two_groups(mine), **kw)
    opt_t = torch.optim.Muon(two_groups(theirs), **kw)
    train([(mine, opt_m, rg), (theirs, opt_t, torch)], 10)
    # bfloat16 rounding (8 significant bits) inside each step: equal up to its precision.
    assert_same_params(mine, theirs, rtol=0, atol=2e-4)
    compare_state_dicts(opt_m.state_dict(), opt_t.state_dict(), rtol=0, atol=2e-3)


def test_muon_orthogonalizes_the_update():
    from rustgrad.optim.muon import _zeropower_via_newtonschulz

    g = rg.randn(6, 4, dtype=rg.float64)
    o = _zeropower_via_newtonschulz(g, (3.4445, -4.775, 2.0315), 5, 1e-7).numpy()
    singular_values = np.linalg.svd(o, compute_uv=False)
    assert o.shape == (6, 4) and np.all((singular_values > 0.5) & (singular_values < 1.5))


# ----- devices ------------------------------------------------------------------------------------

HAS_CUDA = rg.cuda.is_available()
needs_gpu = pytest.mark.skipif(not HAS_CUDA, reason="no usable CUDA device: " + (
    "" if HAS_CUDA else rg.cuda._unavailable_reason()))
DEVICE_CASES = [PARITY[i] for i in (1, 4, 7, 10, 13, 17, 21)] + [("Muon", dict(lr=0.02)), ("LBFGS", dict(
    line_search_fn="strong_wolfe", max_iter=5))]


@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize("name,kw", DEVICE_CASES, ids=[n for n, _ in DEVICE_CASES])
def test_optimizer_on_cuda_matches_cpu(name, kw):
    rg.manual_seed(3)
    bias = name != "Muon"
    cpu = nn.Sequential(nn.Linear(3, 5, bias=bias), nn.Tanh(), nn.Linear(5, 2, bias=bias)).double()
    gpu = copy.deepcopy(cpu).to("cuda")
    opts = [getattr(rg.optim, name)(m.parameters(), **kw) for m in (cpu, gpu)]
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
        for model, opt, device in ((cpu, opts[0], "cpu"), (gpu, opts[1], "cuda")):
            xt, yt = rg.tensor(x, device=device), rg.tensor(y, device=device)

            def closure(model=model, opt=opt, xt=xt, yt=yt):
                opt.zero_grad()
                loss = ((model(xt) - yt) ** 2).mean()
                loss.backward()
                return loss

            opt.step(closure)
    for p, q in zip(cpu.parameters(), gpu.parameters()):
        assert q.device.type == "cuda"
        np.testing.assert_allclose(q.cpu().detach().numpy(), p.detach().numpy(), rtol=1e-9, atol=1e-12)
