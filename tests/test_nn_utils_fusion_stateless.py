"""nn.utils BatchNorm fusion (fuse_conv_bn_eval/weights, fuse_linear_bn_eval/weights), skip_init, and
functional_call (rustgrad.func and the deprecated nn.utils.stateless): values against PyTorch, gradients
reaching the substituted tensors, and PyTorch's errors."""

import warnings

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn

from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)

torch = pytest.importorskip("torch")


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def copy_state(module, torch_module):
    module.load_state_dict({k: rg.tensor(v.detach().numpy()) for k, v in torch_module.state_dict().items()})


def trained_bn(lib_bn, num_features, seed=0):
    """Gives a torch BatchNorm non-trivial statistics and affine parameters."""
    with torch.no_grad():
        lib_bn.running_mean.copy_(torch.tensor(rnd(num_features, seed=seed)))
        lib_bn.running_var.copy_(torch.tensor(np.abs(rnd(num_features, seed=seed + 1)) + 0.5))
        lib_bn.weight.copy_(torch.tensor(rnd(num_features, seed=seed + 2)))
        lib_bn.bias.copy_(torch.tensor(rnd(num_features, seed=seed + 3)))
    return lib_bn.eval()


@pytest.mark.parametrize("bias", [True, False])
def test_fuse_conv_bn_eval_matches_torch_and_the_unfused_pair(bias):
    tconv = torch.nn.Conv2d(2, 3, 3, bias=bias).double().eval()
    tbn = trained_bn(torch.nn.BatchNorm2d(3).double(), 3)
    conv, bn = nn.Conv2d(2, 3, 3, bias=bias).double().eval(), nn.BatchNorm2d(3).double().eval()
    copy_state(conv, tconv)
    copy_state(bn, tbn)
    fused = nn.utils.fuse_conv_bn_eval(conv, bn)
    tfused = torch.nn.utils.fuse_conv_bn_eval(tconv, tbn)
    x = rg.tensor(rnd(2, 2, 5, 5))
    np.testing.assert_allclose(fused(x).detach().numpy(), tfused(torch.tensor(rnd(2, 2, 5, 5))).detach().numpy(),
                               atol=1e-10)
    np.testing.assert_allclose(fused(x).detach().numpy(), bn(conv(x)).detach().numpy(), atol=1e-10)
    assert isinstance(fused.weight, nn.Parameter) and fused is not conv
    with pytest.raises(AssertionError, match="Fusion only for eval!"):
        nn.utils.fuse_conv_bn_eval(conv.train(), bn)


def test_fuse_conv_bn_weights_transposed_matches_torch():
    args = [rnd(2, 3, 3, 3), rnd(3, seed=1), rnd(3, seed=2), np.abs(rnd(3, seed=3)) + 0.5]
    ours = nn.utils.fuse_conv_bn_weights(*[rg.tensor(a) for a in args], 1e-5, rg.tensor(rnd(3, seed=4)), None,
                                         transpose=True)
    theirs = torch.nn.utils.fuse_conv_bn_weights(*[torch.tensor(a) for a in args], 1e-5,
                                                 torch.tensor(rnd(3, seed=4)), None, transpose=True)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-12)


def test_fuse_linear_bn_eval_matches_torch():
    tlin = torch.nn.Linear(4, 3).double().eval()
    tbn = trained_bn(torch.nn.BatchNorm1d(3).double(), 3)
    lin, bn = nn.Linear(4, 3).double().eval(), nn.BatchNorm1d(3).double().eval()
    copy_state(lin, tlin)
    copy_state(bn, tbn)
    fused = nn.utils.fuse_linear_bn_eval(lin, bn)
    tfused = torch.nn.utils.fuse_linear_bn_eval(tlin, tbn)
    x = rnd(5, 4)
    np.testing.assert_allclose(fused(rg.tensor(x)).detach().numpy(), tfused(torch.tensor(x)).detach().numpy(),
                               atol=1e-10)
    with pytest.raises(AssertionError) as expected:
        torch.nn.utils.fuse_linear_bn_eval(torch.nn.Linear(2, 3).eval(), torch.nn.BatchNorm1d(4).eval())
    with pytest.raises(AssertionError) as got:
        nn.utils.fuse_linear_bn_eval(nn.Linear(2, 3).eval(), nn.BatchNorm1d(4).eval())
    assert str(got.value) == str(expected.value)


def test_skip_init():
    m = nn.utils.skip_init(nn.Linear, 2, 3, bias=False)
    assert type(m) is nn.Linear and tuple(m.weight.shape) == (3, 2) and m.bias is None

    with pytest.raises(RuntimeError, match=r"^Expected a Module; got <class 'int'>$"):
        nn.utils.skip_init(int)

    class NoDevice(nn.Module):
        pass
    with pytest.raises(RuntimeError, match=r"^Module must support a 'device' arg to skip initialization$"):
        nn.utils.skip_init(NoDevice)


def test_functional_call_substitutes_and_restores():
    m = nn.Linear(2, 2)
    original = m.weight
    weight = rg.tensor(rnd(2, 2), dtype=rg.float32, requires_grad=True)
    x = rg.ones(1, 2)
    out = rg.func.functional_call(m, {"weight": weight}, x)
    expected = x @ weight.detach().T + m.bias.detach()
    np.testing.assert_allclose(out.detach().numpy(), expected.numpy(), rtol=1e-6)
    out.sum().backward()
    assert weight.grad is not None and m.weight is original and original.grad is None
    assert m._parameters["weight"] is original
    # Keyword arguments, a sequence of dicts, a nested module and a buffer.
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).eval()
    mean = rg.tensor([1.0, -1.0])
    out = rg.func.functional_call(net, ({"0.bias": rg.zeros(2)}, {"1.running_mean": mean}), args=(),
                                  kwargs={"input": x})
    reference = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).eval()
    reference.load_state_dict(net.state_dict())
    with rg.no_grad():
        reference[0].bias.zero_()
        reference[1].running_mean.copy_(mean)
    np.testing.assert_allclose(out.detach().numpy(), reference(x).detach().numpy(), rtol=1e-6)
    assert net[1].running_mean.tolist() == [0.0, 0.0]


def test_functional_call_ties_weights():
    m = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False))
    m[1].weight = m[0].weight
    zeros = rg.zeros(2, 2)
    assert rg.func.functional_call(m, {"0.weight": rg.eye(2)}, rg.ones(1, 2)).tolist() == [[1.0, 1.0]]
    out = rg.func.functional_call(m, {"0.weight": rg.eye(2)}, rg.ones(1, 2), tie_weights=False)
    assert out.tolist() != [[1.0, 1.0]]
    assert rg.func.functional_call(m, {"0.weight": zeros, "1.weight": zeros}, rg.ones(1, 2)).tolist() == [[0, 0]]


ERRORS = [
    ("missing", lambda lib, m, x: lib.func.functional_call(m, {"weight": lib.zeros(2, 2)}, x, strict=True)),
    ("unexpected", lambda lib, m, x: lib.func.functional_call(
        m, {"weight": lib.zeros(2, 2), "bias": lib.ones(2), "foo": lib.ones(1)}, x, strict=True)),
    ("ambiguous", lambda lib, m, x: lib.func.functional_call(
        m, ({"weight": lib.zeros(2, 2)}, {"weight": lib.zeros(2, 2)}), x)),
]


@pytest.mark.parametrize("name,call", ERRORS, ids=[e[0] for e in ERRORS])
def test_functional_call_errors_match_torch(name, call):
    with pytest.raises(Exception) as expected:
        call(torch, torch.nn.Linear(2, 2), torch.ones(1, 2))
    with pytest.raises(type(expected.value)) as got:
        call(rg, nn.Linear(2, 2), rg.ones(1, 2))
    assert str(got.value) == str(expected.value)


def test_stateless_functional_call_is_deprecated():
    m = nn.Linear(2, 2)
    with pytest.warns(FutureWarning, match="`torch.nn.utils.stateless.functional_call` is deprecated"):
        out = nn.utils.stateless.functional_call(m, {"bias": rg.zeros(2)}, rg.zeros(1, 2))
    assert out.tolist() == [[0.0, 0.0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rg.func.functional_call(m, {"bias": rg.zeros(2)}, rg.zeros(1, 2))


def test_functional_call_on_a_parametrized_module():
    class Scale(nn.Module):
        def forward(self, X):
            return X * 2

        def right_inverse(self, X):
            return X / 2
    m = nn.Linear(2, 2, bias=False)
    nn.utils.parametrize.register_parametrization(m, "weight", Scale())
    before = m.weight.detach().clone()
    w = rg.tensor([[1.0, 2.0], [3.0, 4.0]])
    # By the parametrized name (stored through right_inverse, as PyTorch does) and by the original's name.
    assert rg.func.functional_call(m, {"weight": w}, rg.eye(2)).tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert rg.func.functional_call(m, {"parametrizations.weight.original": w}, rg.eye(2)).tolist() == \
        [[2.0, 6.0], [4.0, 8.0]]
    np.testing.assert_allclose(m.weight.detach().numpy(), before.numpy())
