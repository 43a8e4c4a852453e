"""rustgrad.amp.GradScaler against torch.amp.GradScaler("cpu") (float32: no half dtype needed), and
autocast's state: enabling, nesting, the decorator form, the deprecated spellings and the errors.
The casting of ops inside autocast needs half dtypes: tests/test_autocast.py."""

import pickle
import warnings

import numpy as np
import pytest

import rustgrad
import rustgrad.nn as nn


def _models(torch, seed=0):
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal((1, 3)).astype(np.float32), rng.standard_normal(1).astype(np.float32)
    ours, theirs = nn.Linear(3, 1), torch.nn.Linear(3, 1)
    with rustgrad.no_grad():
        ours.weight.copy_(rustgrad.tensor(w))
        ours.bias.copy_(rustgrad.tensor(b))
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w))
        theirs.bias.copy_(torch.tensor(b))
    return ours, theirs


def _train(lib, model, scaler, inputs, targets, poisoned, clip=None):
    """Runs the loop; at the steps in ``poisoned`` a gradient is made inf (odd) or NaN (even)."""
    opt = lib.optim.SGD(model.parameters(), lr=0.05)
    scales, results = [], []
    for step, (x, y) in enumerate(zip(inputs, targets)):
        opt.zero_grad()
        loss = ((model(lib.tensor(x)) - lib.tensor(y)) ** 2).mean()
        scaler.scale(loss).backward()
        if step in poisoned:
            model.weight.grad.fill_(float("inf") if step % 2 else float("nan"))
        if clip is not None:
            scaler.unscale_(opt)
            lib.nn.utils.clip_grad_norm_(model.parameters(), clip)
        results.append(scaler.step(opt))
        scaler.update()
        scales.append(scaler.get_scale())
    params = [p.detach().numpy().copy() for p in model.parameters()]
    return scales, params, results


@pytest.mark.parametrize("settings", [
    {"init_scale": 4.0, "growth_interval": 3},
    {"init_scale": 1024.0, "growth_factor": 3.0, "backoff_factor": 0.3, "growth_interval": 2},
    {"init_scale": 2.0 ** 126, "growth_interval": 1},  # growth to inf is refused
])
@pytest.mark.parametrize("clip", [None, 0.5])
def test_grad_scaler_matches_pytorch(settings, clip):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    inputs = rng.standard_normal((14, 4, 3)).astype(np.float32)
    targets = rng.standard_normal((14, 4, 1)).astype(np.float32)
    poisoned = {2, 3, 9}
    ours_model, theirs_model = _models(torch)
    ours = _train(rustgrad, ours_model, rustgrad.amp.GradScaler("cpu", **settings), inputs, targets, poisoned, clip)
    theirs = _train(torch, theirs_model, torch.amp.GradScaler("cpu", **settings), inputs, targets, poisoned, clip)
    assert ours[0] == theirs[0], "scale sequences differ"
    for a, b in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert [r is None for r in ours[2]] == [r is None for r in theirs[2]]


def test_grad_scaler_skips_the_step_on_inf_and_backs_off():
    model = nn.Linear(2, 1)
    opt = rustgrad.optim.SGD(model.parameters(), lr=1.0)
    scaler = rustgrad.amp.GradScaler("cpu", init_scale=8.0)
    before = model.weight.detach().numpy().copy()
    scaler.scale(model(rustgrad.ones(1, 2)).sum()).backward()
    model.bias.grad.fill_(float("nan"))
    scaler.step(opt)
    scaler.update()
    np.testing.assert_array_equal(model.weight.detach().numpy(), before)
    assert scaler.get_scale() == 4.0
    assert scaler._get_growth_tracker() == 0


def test_grad_scaler_unscales_gradients():
    model = nn.Linear(2, 1, bias=False)
    opt = rustgrad.optim.SGD(model.parameters(), lr=1.0)
    scaler = rustgrad.amp.GradScaler("cpu", init_scale=64.0)
    scaled = scaler.scale(model(rustgrad.tensor([[1.0, 2.0]])).sum())
    scaled.backward()
    np.testing.assert_allclose(model.weight.grad.numpy(), [[64.0, 128.0]])
    scaler.unscale_(opt)
    np.testing.assert_allclose(model.weight.grad.numpy(), [[1.0, 2.0]])


def test_grad_scaler_scales_nested_outputs():
    scaler = rustgrad.amp.GradScaler("cpu", init_scale=2.0)
    a, (b, c) = scaler.scale([rustgrad.ones(1), (rustgrad.ones(2), rustgrad.ones(1) * 3)])
    assert a.tolist() == [2.0] and b.tolist() == [2.0, 2.0] and c.tolist() == [6.0]
    assert [t.tolist() for t in scaler.scale(iter([rustgrad.ones(1)]))] == [[2.0]]


def _stepped_scaler():
    model = nn.Linear(2, 1)
    opt = rustgrad.optim.SGD(model.parameters(), lr=0.1)
    scaler = rustgrad.amp.GradScaler("cpu")
    scaler.scale(model(rustgrad.ones(1, 2)).sum()).backward()
    return scaler, opt


def _torch_stepped_scaler(torch):
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    scaler.scale(model(torch.ones(1, 2)).sum()).backward()
    return scaler, opt


MISUSES = {
    "unscale twice": lambda s, o: (s.unscale_(o), s.unscale_(o)),
    "unscale after step": lambda s, o: (s.step(o), s.unscale_(o)),
    "step twice": lambda s, o: (s.step(o), s.step(o)),
    "closure": lambda s, o: s.step(o, closure=lambda: 0.0),
    "update before step": lambda s, o: s.update(),
    "bad new_scale": lambda s, o: (s.step(o), s.update(new_scale=[1.0])),
}


@pytest.mark.parametrize("misuse", sorted(MISUSES))
def test_grad_scaler_misuse_raises_as_pytorch(misuse):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as theirs:
        MISUSES[misuse](*_torch_stepped_scaler(torch))
    with pytest.raises(Exception) as ours:
        MISUSES[misuse](*_stepped_scaler())
    if misuse == "bad new_scale":
        # PyTorch trips over the list before its own check (an AttributeError); ours states the rule.
        assert isinstance(ours.value, AssertionError)
        return
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


def test_grad_scaler_step_before_scale_raises_as_pytorch():
    torch = pytest.importorskip("torch")
    with pytest.raises(AssertionError) as theirs:
        torch.amp.GradScaler("cpu").step(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1))
    with pytest.raises(AssertionError) as ours:
        rustgrad.amp.GradScaler("cpu").step(rustgrad.optim.SGD([rustgrad.zeros(1, requires_grad=True)], lr=0.1))
    assert str(ours.value) == str(theirs.value)


def test_grad_scaler_update_with_new_scale():
    scaler, opt = _stepped_scaler()
    scaler.step(opt)
    scaler.update(new_scale=16.0)
    assert scaler.get_scale() == 16.0
    scaler.scale(rustgrad.ones(1))
    scaler.update(new_scale=rustgrad.tensor(2.0))
    assert scaler.get_scale() == 2.0


def test_grad_scaler_bad_factors():
    with pytest.raises(AssertionError, match="The growth factor must be > 1.0."):
        rustgrad.amp.GradScaler("cpu", growth_factor=1.0)
    with pytest.raises(AssertionError, match="The backoff factor must be < 1.0."):
        rustgrad.amp.GradScaler("cpu", backoff_factor=1.0)


def test_grad_scaler_state_dict_matches_pytorch_and_round_trips():
    torch = pytest.importorskip("torch")
    kwargs = {"init_scale": 512.0, "growth_factor": 4.0, "backoff_factor": 0.25, "growth_interval": 7}
    assert rustgrad.amp.GradScaler("cpu", **kwargs).state_dict() == torch.amp.GradScaler("cpu", **kwargs).state_dict()
    scaler, opt = _stepped_scaler()
    scaler.step(opt)
    scaler.update()
    state = scaler.state_dict()
    assert state["_growth_tracker"] == 1 and state["scale"] == 2.0 ** 16
    other = rustgrad.amp.GradScaler("cpu")
    other.load_state_dict({**state, "scale": 8.0})
    assert other.get_scale() == 8.0 and other._get_growth_tracker() == 1
    assert other.scale(rustgrad.ones(1)).item() == 8.0
    # pickled between iterations, it keeps its scale
    restored = pickle.loads(pickle.dumps(other))
    assert restored.get_scale() == 8.0 and restored.state_dict() == other.state_dict()


def test_grad_scaler_pickle_mid_iteration_raises():
    scaler, opt = _stepped_scaler()
    scaler.unscale_(opt)
    with pytest.raises(AssertionError, match="may only be pickled at the beginning of an iteration"):
        pickle.dumps(scaler)


def test_disabled_grad_scaler_passes_through():
    model = nn.Linear(2, 1)
    opt = rustgrad.optim.SGD(model.parameters(), lr=1.0)
    scaler = rustgrad.amp.GradScaler("cpu", enabled=False)
    loss = model(rustgrad.ones(1, 2)).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    before = model.weight.detach().numpy().copy()
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update()
    assert not np.array_equal(model.weight.detach().numpy(), before)
    assert scaler.get_scale() == 1.0 and scaler.state_dict() == {} and not scaler.is_enabled()
    scaler.load_state_dict({})
    with pytest.raises(RuntimeError, match="The source state dict is empty"):
        rustgrad.amp.GradScaler("cpu").load_state_dict({})


def test_cuda_grad_scaler_disables_itself_without_cuda_as_pytorch():
    if rustgrad.cuda.is_available():
        assert rustgrad.amp.GradScaler().is_enabled()
    else:
        with pytest.warns(UserWarning, match="torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  "
                                             "Disabling."):
            scaler = rustgrad.amp.GradScaler()
        assert not scaler.is_enabled()
    with pytest.warns(FutureWarning, match=r"`torch.cuda.amp.GradScaler\(args...\)` is deprecated"):
        scaler = rustgrad.cuda.amp.GradScaler(enabled=False)
    assert not scaler.is_enabled()
    with pytest.warns(FutureWarning, match=r"`torch.cpu.amp.GradScaler\(args...\)` is deprecated"):
        scaler = rustgrad.cpu.amp.GradScaler(init_scale=4.0)
    assert scaler.is_enabled() and scaler.get_scale() == 4.0


# ----- autocast state ------------------------------------------------------------------------------

def test_autocast_names_at_their_homes():
    assert rustgrad.autocast is rustgrad.amp.autocast
    from rustgrad.amp import GradScaler, autocast, is_autocast_available  # noqa: F401
    from rustgrad.cpu.amp import GradScaler, autocast  # noqa: F401,F811
    from rustgrad.cuda.amp import GradScaler, autocast  # noqa: F401,F811

    assert rustgrad.amp.is_autocast_available("cpu") and rustgrad.amp.is_autocast_available("cuda")
    assert not rustgrad.amp.is_autocast_available("mps")


def test_autocast_disabled_regions():
    assert rustgrad.is_autocast_enabled() is False
    with rustgrad.autocast("cuda", enabled=False):
        assert rustgrad.is_autocast_enabled("cuda") is False
    with rustgrad.autocast("cpu", enabled=False):
        assert rustgrad.is_autocast_enabled("cpu") is False
    with pytest.warns(FutureWarning, match=r"`torch.cuda.amp.autocast\(args...\)` is deprecated"):
        with rustgrad.cuda.amp.autocast(enabled=False):
            assert not rustgrad.is_autocast_enabled()


def test_autocast_cuda_without_cuda_warns_and_disables():
    if rustgrad.cuda.is_available():
        with rustgrad.autocast("cuda"):
            assert rustgrad.is_autocast_enabled("cuda") is True
            assert rustgrad.is_autocast_enabled() is True
        assert rustgrad.is_autocast_enabled("cuda") is False
        return
    with pytest.warns(UserWarning, match="CUDA is not available or torch_xla is imported. Disabling autocast."):
        with rustgrad.autocast("cuda"):
            assert rustgrad.is_autocast_enabled("cuda") is False


BAD_AUTOCASTS = [((3,), {}), (("xyz",), {})]


@pytest.mark.parametrize("args,kwargs", BAD_AUTOCASTS)
def test_autocast_errors_as_pytorch(args, kwargs):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as theirs:
        torch.autocast(*args, **kwargs)
    with pytest.raises(Exception) as ours:
        rustgrad.autocast(*args, **kwargs)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


def test_autocast_dtype_queries_match_pytorch():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError) as theirs:
        torch.get_autocast_dtype("xyz")
    with pytest.raises(RuntimeError) as ours:
        rustgrad.get_autocast_dtype("xyz")
    assert str(ours.value) == str(theirs.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert rustgrad.amp.is_autocast_available("mps") is False  # no mps device in rustgrad


def test_installed_autocast_wrappers_pass_through_outside_autocast():
    from rustgrad.amp import _casting

    rustgrad.manual_seed(0)
    a, b = rustgrad.randn(3, 3, requires_grad=True), rustgrad.randn(3, 3)
    expected = [(a @ b).detach().numpy(), a.matmul(b).detach().numpy(), rustgrad.cat([a, b]).detach().numpy(),
                rustgrad.nn.functional.linear(a, b).detach().numpy(), a.exp().sum().item()]
    _casting.install()
    assert getattr(rustgrad.Tensor.matmul, "_autocast_original", None) is not None
    got = [(a @ b).detach().numpy(), a.matmul(b).detach().numpy(), rustgrad.cat([a, b]).detach().numpy(),
           rustgrad.nn.functional.linear(a, b).detach().numpy(), a.exp().sum().item()]
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)
    (a @ b).sum().backward()
    assert a.grad is not None
    # float64 tensors are never cast, autocast or not
    with rustgrad.autocast("cpu", enabled=False):
        assert (a.double() @ b.double()).dtype == rustgrad.float64


class _Cube(rustgrad.autograd.Function):
    seen = []

    @staticmethod
    @rustgrad.amp.custom_fwd(device_type="cpu")
    def forward(ctx, x):
        _Cube.seen.append(("forward", rustgrad.is_autocast_enabled("cpu")))
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    @rustgrad.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad):
        _Cube.seen.append(("backward", rustgrad.is_autocast_enabled("cpu")))
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2


def test_custom_fwd_and_bwd_outside_autocast():
    _Cube.seen.clear()
    x = rustgrad.tensor([1.0, 2.0], requires_grad=True)
    _Cube.apply(x).sum().backward()
    assert x.grad.tolist() == [3.0, 12.0]
    assert _Cube.seen == [("forward", False), ("backward", False)]


def test_custom_fwd_errors_and_deprecated_spellings():
    torch = pytest.importorskip("torch")
    for lib in (torch, rustgrad):
        with pytest.raises(TypeError, match="device_type"):
            lib.amp.custom_fwd(lambda ctx, x: x)
    with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
        rustgrad.amp.custom_bwd(lambda ctx, g: g, device_type=0)
    with pytest.warns(FutureWarning, match=r"`torch.cuda.amp.custom_fwd\(args...\)` is deprecated"):
        rustgrad.cuda.amp.custom_fwd(lambda ctx, x: x)
    with pytest.warns(FutureWarning, match=r"`torch.cuda.amp.custom_bwd\(args...\)` is deprecated"):
        rustgrad.cuda.amp.custom_bwd(lambda ctx, g: g)


# ----- on a CUDA device (the CI runs these on the CUDA emulator) ------------------------------------

HAS_CUDA = rustgrad.cuda.is_available()
needs_gpu = pytest.mark.skipif(not HAS_CUDA, reason="no usable CUDA device: " + (
    "" if HAS_CUDA else rustgrad.cuda._unavailable_reason()))


def _scaler_run(device):
    rustgrad.manual_seed(0)
    model = nn.Linear(3, 1).to(device)
    opt = rustgrad.optim.SGD(model.parameters(), lr=0.05)
    scaler = rustgrad.amp.GradScaler(device, init_scale=4.0, growth_interval=2)
    rng = np.random.default_rng(2)
    scales, skipped = [], []
    for step in range(6):
        opt.zero_grad()
        x = rustgrad.tensor(rng.standard_normal((4, 3)).astype(np.float32)).to(device)
        loss = (model(x) ** 2).mean()
        scaler.scale(loss).backward()
        if step in (1, 4):
            model.weight.grad.fill_(float("inf"))
        before = model.weight.detach().cpu().numpy().copy()
        scaler.step(opt)  # returns the optimizer's step() result (None) whether or not it stepped
        skipped.append(bool((model.weight.detach().cpu().numpy() == before).all()))
        scaler.update()
        scales.append(scaler.get_scale())
    return scales, skipped, [p.detach().cpu().numpy() for p in model.parameters()]


@pytest.mark.cuda
@needs_gpu
def test_grad_scaler_on_cuda_matches_the_cpu_run():
    scaler = rustgrad.amp.GradScaler()
    assert scaler.is_enabled()
    assert scaler.scale(rustgrad.ones(1, device="cuda")).device.type == "cuda"
    on_gpu, on_cpu = _scaler_run("cuda"), _scaler_run("cpu")
    assert on_gpu[0] == on_cpu[0] and on_gpu[1] == on_cpu[1]
    assert on_gpu[1] == [False, True, False, False, True, False]
    for a, b in zip(on_gpu[2], on_cpu[2]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_is_autocast_enabled_device_type_is_checked_as_pytorch():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError) as theirs:
        torch.is_autocast_enabled(3)
    with pytest.raises(TypeError) as ours:
        rustgrad.is_autocast_enabled(3)
    assert str(ours.value) == str(theirs.value)
