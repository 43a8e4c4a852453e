"""nn.utils.parametrize (register/remove, chains, right_inverse, cached, the per-instance class),
nn.utils.parametrizations (weight_norm, spectral_norm) and the older hook-based weight_norm/spectral_norm:
values, gradients, buffers and state_dict keys against PyTorch, gradcheck, and PyTorch's errors."""

import copy
import pickle
import warnings

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
from rustgrad.autograd import gradcheck
from rustgrad.nn.utils import parametrize as P

from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)

torch = pytest.importorskip("torch")
TP = torch.nn.utils.parametrize


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def same(ours, theirs, atol=1e-10):
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), atol=atol, rtol=1e-9)


def linear_pair(in_features=3, out_features=3, lib_seed=0):
    """A float64 rustgrad Linear and a torch Linear with the same weights."""
    m = nn.Linear(in_features, out_features).double()
    tm = torch.nn.Linear(in_features, out_features).double()
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(rnd(out_features, in_features, seed=lib_seed)))
        tm.bias.copy_(torch.tensor(rnd(out_features, seed=lib_seed + 1)))
    m.load_state_dict({k: rg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    return m, tm


# Parametrizations written once for both libraries (``lib`` is rustgrad or torch).
def symmetric(lib):
    class Symmetric(lib.nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(0, 1)
    return Symmetric()


def scale(lib, factor=2.0):
    class Scale(lib.nn.Module):
        def forward(self, X):
            return X * factor

        def right_inverse(self, X):
            return X / factor
    return Scale()


def split_sum(lib):
    class SplitSum(lib.nn.Module):
        def forward(self, A, B):
            return A + B

        def right_inverse(self, X):
            return [X * 0.25, X * 0.75]
    return SplitSum()


# ----- register_parametrization ----------------------------------------------------------------------

def test_register_matches_torch_values_gradients_and_keys():
    m, tm = linear_pair()
    for lib, mod in ((rg, m), (torch, tm)):
        lib.nn.utils.parametrize.register_parametrization(mod, "weight", symmetric(lib))
        lib.nn.utils.parametrize.register_parametrization(mod, "weight", scale(lib))
    assert type(m).__name__ == type(tm).__name__ == "ParametrizedLinear"
    assert P.type_before_parametrizations(m) is nn.Linear and type(m).__bases__ == (nn.Linear,)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert repr(m) == repr(tm)
    assert P.is_parametrized(m) and P.is_parametrized(m, "weight") and not P.is_parametrized(m, "bias")
    assert not P.is_parametrized(nn.Linear(2, 2))
    same(m.weight, tm.weight)
    same(m.parametrizations.weight.original, tm.parametrizations.weight.original)
    x, tx = rg.tensor(rnd(2, 3, seed=4)), torch.tensor(rnd(2, 3, seed=4))
    (m(x) ** 2).sum().backward()
    (tm(tx) ** 2).sum().backward()
    same(m.parametrizations.weight.original.grad, tm.parametrizations.weight.original.grad)
    same(m.bias.grad, tm.bias.grad)


def test_assignment_stores_the_right_inverse_and_keeps_the_parameter():
    m, tm = linear_pair()
    P.register_parametrization(m, "weight", scale(rg, 4.0))
    TP.register_parametrization(tm, "weight", scale(torch, 4.0))
    original = m.parametrizations.weight.original
    value = rnd(3, 3, seed=9)
    m.weight = rg.tensor(value)
    tm.weight = torch.tensor(value)
    assert m.parametrizations.weight.original is original  # an optimizer holding it still sees it
    same(original, tm.parametrizations.weight.original)
    np.testing.assert_allclose(m.weight.detach().numpy(), value)
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        m.weight = nn.Parameter(rg.ones(3, 3))


def test_sequence_right_inverse_gives_original0_original1():
    m, tm = linear_pair()
    P.register_parametrization(m, "weight", split_sum(rg))
    TP.register_parametrization(tm, "weight", split_sum(torch))
    assert list(m.state_dict()) == list(tm.state_dict())
    same(m.parametrizations.weight.original1, tm.parametrizations.weight.original1)
    same(m.weight, tm.weight)
    m.weight = rg.ones(3, 3, dtype=rg.float64)
    np.testing.assert_allclose(m.parametrizations.weight.original0.detach().numpy(), 0.25)
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        P.remove_parametrizations(m, "weight", leave_parametrized=False)
    P.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and isinstance(m.weight, nn.Parameter)
    np.testing.assert_allclose(m.weight.detach().numpy(), 1.0)


def test_cached_computes_once_per_block():
    m = nn.Linear(3, 3)
    P.register_parametrization(m, "weight", symmetric(rg))
    assert m.weight is not m.weight
    with P.cached():
        first = m.weight
        assert m.weight is first
        with P.cached():
            assert m.weight is first
    assert m.weight is not first


@pytest.mark.parametrize("leave_parametrized", [True, False])
def test_remove_parametrizations_matches_torch(leave_parametrized):
    m, tm = linear_pair()
    for lib, mod in ((rg, m), (torch, tm)):
        lib.nn.utils.parametrize.register_parametrization(mod, "weight", symmetric(lib))
        lib.nn.utils.parametrize.register_parametrization(mod, "bias", scale(lib))
    original = m.parametrizations.weight.original
    P.remove_parametrizations(m, "weight", leave_parametrized=leave_parametrized)
    TP.remove_parametrizations(tm, "weight", leave_parametrized=leave_parametrized)
    assert m.weight is original and isinstance(m.weight, nn.Parameter)
    same(m.weight, tm.weight)
    assert type(m).__name__ == "ParametrizedLinear" and list(m.state_dict()) == list(tm.state_dict())
    P.remove_parametrizations(m, "bias", leave_parametrized=leave_parametrized)
    TP.remove_parametrizations(tm, "bias", leave_parametrized=leave_parametrized)
    assert type(m) is nn.Linear and not hasattr(m, "parametrizations")
    same(m.bias, tm.bias)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["weight", "bias"]


def test_unsafe_allows_a_new_shape_and_buffers_work():
    class FirstRow(nn.Module):
        def forward(self, X):
            return X[0]
    m = nn.Linear(3, 3)
    P.register_parametrization(m, "weight", FirstRow(), unsafe=True)
    assert tuple(m.weight.shape) == (3,)
    bn = nn.BatchNorm1d(3)
    P.register_parametrization(bn, "running_var", scale(rg))
    assert list(bn.state_dict())[:3] == ["weight", "bias", "running_mean"]
    assert "parametrizations.running_var.original" in bn.state_dict()
    np.testing.assert_allclose(bn.running_var.numpy(), 1.0)


def test_parametrized_weight_passes_gradcheck():
    m = nn.Linear(3, 3).double()
    P.register_parametrization(m, "weight", symmetric(rg))
    P.register_parametrization(m, "weight", scale(rg))
    original = m.parametrizations.weight.original
    x = rg.tensor(rnd(2, 3), dtype=rg.float64, requires_grad=True)
    assert gradcheck(lambda x, w: m(x), (x, original))


def test_deepcopy_and_pickling():
    m = nn.Linear(3, 3)
    P.register_parametrization(m, "weight", symmetric(rg))
    replica = copy.deepcopy(m)
    assert type(replica).__name__ == "ParametrizedLinear" and type(replica) is not type(m)
    np.testing.assert_allclose(replica.weight.detach().numpy(), m.weight.detach().numpy())
    P.remove_parametrizations(replica, "weight")
    assert P.is_parametrized(m, "weight") and type(replica) is nn.Linear
    with pytest.raises(RuntimeError, match="Serialization of parametrized modules is only supported through "
                                           "state_dict()"):
        pickle.dumps(m)


def test_transfer_parametrizations_and_params():
    source = nn.Linear(3, 3)
    P.register_parametrization(source, "weight", symmetric(rg))
    target = P.transfer_parametrizations_and_params(source, nn.Linear(3, 3))
    assert P.is_parametrized(target, "weight")
    np.testing.assert_allclose(target.weight.detach().numpy(), source.weight.detach().numpy())


def _bad_forward(lib, kind):
    class Bad(lib.nn.Module):
        def forward(self, X):
            return {"shape": lambda: X[0], "dtype": lambda: X.double(), "type": lambda: 1}[kind]()
    return Bad()


def _bad_inverse(lib, kind):
    class BadInverse(lib.nn.Module):
        def forward(self, *X):
            return X[0]

        def right_inverse(self, X):
            return {"dtype": lambda: X.double(), "int": lambda: 3, "element": lambda: [X, 3]}[kind]()
    return BadInverse()


def register(lib, module, name, parametrization):
    return lib.nn.utils.parametrize.register_parametrization(module, name, parametrization)


ERRORS = [
    ("no_such_tensor", lambda lib, m: register(lib, m, "foo", scale(lib))),
    ("remove_missing", lambda lib, m: lib.nn.utils.parametrize.remove_parametrizations(m, "bias")),
    ("shape", lambda lib, m: register(lib, m, "weight", _bad_forward(lib, "shape"))),
    ("dtype", lambda lib, m: register(lib, m, "weight", _bad_forward(lib, "dtype"))),
    ("not_tensor", lambda lib, m: register(lib, m, "weight", _bad_forward(lib, "type"))),
    ("inverse_dtype", lambda lib, m: register(lib, m, "weight", _bad_inverse(lib, "dtype"))),
    ("inverse_int", lambda lib, m: register(lib, m, "weight", _bad_inverse(lib, "int"))),
    ("inverse_element", lambda lib, m: register(lib, m, "weight", _bad_inverse(lib, "element"))),
    ("chained_shape", lambda lib, m: register(lib, register(lib, m, "weight", scale(lib)), "weight",
                                              _bad_forward(lib, "shape"))),
    ("empty_list", lambda lib, m: lib.nn.utils.parametrize.ParametrizationList([], lib.nn.Parameter(lib.ones(2)))),
    ("set_without_inverse", lambda lib, m: setattr(register(lib, m, "weight", symmetric(lib)), "weight",
                                                   lib.ones(3, 3))),
    ("set_wrong_dtype", lambda lib, m: setattr(register(lib, m, "weight", scale(lib)), "weight",
                                               lib.ones(3, 3, dtype=lib.float64))),
    ("set_sequence_wrong_dtype", lambda lib, m: setattr(register(lib, m, "weight", split_sum(lib)), "weight",
                                                        lib.ones(3, 3, dtype=lib.float64))),
]


@pytest.mark.parametrize("name,call", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name, call):
    with pytest.raises(Exception) as expected:
        call(torch, torch.nn.Linear(3, 3))
    with pytest.raises(type(expected.value)) as got:
        call(rg, nn.Linear(3, 3))
    assert str(got.value) == str(expected.value).replace("torch.", "rustgrad.")


# ----- parametrizations.weight_norm and spectral_norm --------------------------------------------------

def conv_pair():
    m = nn.Conv2d(2, 3, 3).double()
    tm = torch.nn.Conv2d(2, 3, 3).double()
    m.load_state_dict({k: rg.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return m, tm


@pytest.mark.parametrize("dim", [0, 1, None, -1])
@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_weight_norm_parametrization_matches_torch(dim, kind):
    m, tm = linear_pair(3, 4) if kind == "linear" else conv_pair()
    nn.utils.parametrizations.weight_norm(m, dim=dim)
    torch.nn.utils.parametrizations.weight_norm(tm, dim=dim)
    assert list(m.state_dict()) == list(tm.state_dict())
    for key, value in tm.state_dict().items():
        same(m.state_dict()[key], value)
    shape = (2, 3) if kind == "linear" else (1, 2, 5, 5)
    x = rg.tensor(rnd(*shape, seed=3))
    tx = torch.tensor(rnd(*shape, seed=3))
    same(m(x), tm(tx))
    (m(x) ** 2).sum().backward()
    (tm(tx) ** 2).sum().backward()
    for (name, p), (tname, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert name == tname
        same(p.grad, tp.grad)
    v = m.parametrizations.weight.original1
    g = m.parametrizations.weight.original0
    assert gradcheck(lambda g, v: m.parametrizations.weight[0](g, v), (g, v))


def test_weight_norm_parametrization_loads_the_old_state_dict():
    old = nn.Linear(3, 4)
    with pytest.warns(FutureWarning):
        nn.utils.weight_norm(old)
    new = nn.utils.parametrizations.weight_norm(nn.Linear(3, 4))
    new.load_state_dict(old.state_dict())
    x = rg.randn(2, 3)
    np.testing.assert_allclose(new(x).detach().numpy(), old(x).detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_spectral_norm_parametrization_matches_torch(kind):
    m, tm = linear_pair(3, 4) if kind == "linear" else conv_pair()
    nn.utils.parametrizations.spectral_norm(m, n_power_iterations=2)
    torch.nn.utils.parametrizations.spectral_norm(tm, n_power_iterations=2)
    assert list(m.state_dict()) == list(tm.state_dict())
    # Same starting vectors, then the same power iterations.
    for name in ("_u", "_v"):
        getattr(m.parametrizations.weight[0], name).copy_(
            rg.tensor(getattr(tm.parametrizations.weight[0], name).numpy()))
    shape = (2, 3) if kind == "linear" else (1, 2, 5, 5)
    x, tx = rg.tensor(rnd(*shape, seed=3)), torch.tensor(rnd(*shape, seed=3))
    for _ in range(3):
        same(m(x), tm(tx))
    for name in ("_u", "_v"):
        same(getattr(m.parametrizations.weight[0], name), getattr(tm.parametrizations.weight[0], name))
    (m(x) ** 2).sum().backward()
    (tm(tx) ** 2).sum().backward()
    same(m.parametrizations.weight.original.grad, tm.parametrizations.weight.original.grad)
    m.eval()
    tm.eval()
    u = m.parametrizations.weight[0]._u.clone()
    same(m(x), tm(tx))
    np.testing.assert_array_equal(m.parametrizations.weight[0]._u.numpy(), u.numpy())  # no iteration in eval


def test_spectral_norm_parametrization_errors_match_torch():
    cases = [
        lambda lib: lib.nn.utils.parametrizations.spectral_norm(lib.nn.Linear(3, 4), name="foo"),
        lambda lib: lib.nn.utils.parametrizations.spectral_norm(lib.nn.Linear(3, 4), dim=2),
        lambda lib: lib.nn.utils.parametrizations.spectral_norm(lib.nn.Linear(3, 4), n_power_iterations=0),
    ]
    for call in cases:
        with pytest.raises(Exception) as expected:
            call(torch)
        with pytest.raises(type(expected.value)) as got:
            call(rg)
        assert str(got.value) == str(expected.value)


def test_spectral_norm_of_a_vector_normalizes_it():
    m = nn.Linear(3, 4)
    nn.utils.parametrizations.spectral_norm(m, name="bias")
    np.testing.assert_allclose(m.bias.detach().norm().item(), 1.0, rtol=1e-6)


# ----- the older hook-based weight_norm and spectral_norm ------------------------------------------------

def test_old_weight_norm_matches_torch_and_warns():
    m, tm = linear_pair(3, 4)
    with pytest.warns(FutureWarning, match=r"`torch.nn.utils.weight_norm` is deprecated in favor of "
                                           r"`torch.nn.utils.parametrizations.weight_norm`."):
        nn.utils.weight_norm(m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.nn.utils.weight_norm(tm)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["bias", "weight_g", "weight_v"]
    x, tx = rg.tensor(rnd(2, 3)), torch.tensor(rnd(2, 3))
    (m(x) ** 2).sum().backward()
    (tm(tx) ** 2).sum().backward()
    same(m.weight_g.grad, tm.weight_g.grad)
    same(m.weight_v.grad, tm.weight_v.grad)
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks on the same parameter weight"), \
            pytest.warns(FutureWarning):
        nn.utils.weight_norm(m)
    nn.utils.remove_weight_norm(m)
    torch.nn.utils.remove_weight_norm(tm)
    assert list(m.state_dict()) == ["bias", "weight"] and isinstance(m.weight, nn.Parameter)
    same(m.weight, tm.weight)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found in Linear"):
        nn.utils.remove_weight_norm(m)


def test_old_spectral_norm_matches_torch():
    m, tm = linear_pair(3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation warning, as in PyTorch
        nn.utils.spectral_norm(m)
    torch.nn.utils.spectral_norm(tm)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    assert m.state_dict()._metadata[""]["spectral_norm"] == {"weight.version": 1}
    m.weight_u.copy_(rg.tensor(tm.weight_u.numpy()))
    m.weight_v.copy_(rg.tensor(tm.weight_v.numpy()))
    x, tx = rg.tensor(rnd(2, 3)), torch.tensor(rnd(2, 3))
    for _ in range(3):
        same(m(x), tm(tx))
    same(m.weight_u, tm.weight_u)
    (m(x) ** 2).sum().backward()
    (tm(tx) ** 2).sum().backward()
    same(m.weight_orig.grad, tm.weight_orig.grad)
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks on the same parameter weight"):
        nn.utils.spectral_norm(m)
    nn.utils.remove_spectral_norm(m)
    torch.nn.utils.remove_spectral_norm(tm)
    same(m.weight, tm.weight)
    assert list(m.state_dict()) == ["bias", "weight"]
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found in Linear"):
        nn.utils.remove_spectral_norm(m)


# ----- parametrizations.orthogonal ------------------------------------------------------------------

class _Holder:
    """A module holding one float64 parameter ``weight`` of a given value, for both libraries."""

    @staticmethod
    def make(lib, value):
        module = lib.nn.Module()
        module.weight = lib.nn.Parameter(lib.tensor(value, dtype=lib.float64))
        return module


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 3, 3)])
@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("use_trivialization", [True, False])
def test_orthogonal_matches_torch(shape, orthogonal_map, use_trivialization):
    w = rnd(*shape, seed=11)
    m, tm = _Holder.make(rg, w), _Holder.make(torch, w)
    nn.utils.parametrizations.orthogonal(m, orthogonal_map=orthogonal_map, use_trivialization=use_trivialization)
    torch.nn.utils.parametrizations.orthogonal(tm, orthogonal_map=orthogonal_map,
                                               use_trivialization=use_trivialization)
    assert list(m.state_dict()) == list(tm.state_dict())
    if use_trivialization and shape[-1] != shape[-2]:
        # A wide or tall base is completed with random columns: copy PyTorch's.
        m.parametrizations.weight[0].base = rg.tensor(tm.parametrizations.weight[0].base.numpy())
    noise = rnd(*tm.parametrizations.weight.original.shape, seed=12) * 0.3
    # Off the diagonal: the householder map reads the diagonal only as the sign (+-1) of each reflector.
    noise *= 1 - np.eye(*noise.shape[-2:])
    with torch.no_grad():
        tm.parametrizations.weight.original.add_(torch.tensor(noise))
    with rg.no_grad():
        m.parametrizations.weight.original.add_(rg.tensor(noise))
    same(m.weight, tm.weight, atol=1e-12)
    q = m.weight.detach().numpy()
    gram = q @ np.swapaxes(q, -1, -2) if shape[-2] < shape[-1] else np.swapaxes(q, -1, -2) @ q
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(min(shape[-2:])), gram.shape), atol=1e-12)
    weights = rnd(*shape, seed=13)
    (m.weight * rg.tensor(weights)).pow(3).sum().backward()
    (tm.weight * torch.tensor(weights)).pow(3).sum().backward()
    same(m.parametrizations.weight.original.grad, tm.parametrizations.weight.original.grad, atol=1e-11)


def test_orthogonal_maps_pass_gradcheck():
    for orthogonal_map in ("matrix_exp", "cayley", "householder"):
        m = _Holder.make(rg, rnd(4, 3, seed=2))
        nn.utils.parametrizations.orthogonal(m, orthogonal_map=orthogonal_map, use_trivialization=False)
        parametrization = m.parametrizations.weight[0]
        original = m.parametrizations.weight.original
        # The diagonal held fixed: the householder map reads it only as a sign, a step function.
        off_diagonal = rg.tensor(1 - np.eye(4, 3))
        diagonal = (original * (1 - off_diagonal)).detach()
        assert gradcheck(lambda X: parametrization(X * off_diagonal + diagonal), (original,)), orthogonal_map


def test_orthogonal_assignment_and_errors_match_torch():
    w = rnd(3, 3, seed=4)
    m, tm = _Holder.make(rg, w), _Holder.make(torch, w)
    nn.utils.parametrizations.orthogonal(m)
    torch.nn.utils.parametrizations.orthogonal(tm)
    q = np.linalg.qr(rnd(3, 3, seed=5))[0]
    m.weight = rg.tensor(q)
    tm.weight = torch.tensor(q)
    same(m.weight, tm.weight, atol=1e-12)
    np.testing.assert_allclose(m.weight.detach().numpy(), q, atol=1e-12)
    cases = [
        lambda lib: lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(3, 3), name="foo"),
        lambda lib: lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(3, 3), name="bias"),
        lambda lib: lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(3, 3), orthogonal_map="qr"),
        lambda lib: setattr(lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(3, 3), use_trivialization=False),
                            "weight", lib.eye(3)),
    ]
    for call in cases:
        with pytest.raises(Exception) as expected:
            call(torch)
        with pytest.raises(type(expected.value)) as got:
            call(rg)
        assert str(got.value) == str(expected.value).replace("torch.", "rustgrad.")


def test_state_dict_of_a_parametrized_torch_module_loads():
    tm = torch.nn.Linear(3, 3).double()
    TP.register_parametrization(tm, "weight", symmetric(torch))
    torch.nn.utils.parametrizations.spectral_norm(tm, name="weight")
    m = nn.Linear(3, 3).double()
    P.register_parametrization(m, "weight", symmetric(rg))
    nn.utils.parametrizations.spectral_norm(m, name="weight")
    m.load_state_dict({k: rg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    m.eval()
    tm.eval()
    same(m.weight, tm.weight)
    x = rnd(2, 3, seed=6)
    same(m(rg.tensor(x)), tm(torch.tensor(x)))
