"""nn.init: the deprecated non-underscore aliases (warn as PyTorch does, then do the same thing),
``generator=`` on every function that draws random numbers (same generator state, same values),
and the public names against PyTorch's."""

import inspect
import re
import warnings

import numpy as np
import pytest

import rustgrad as rg
from rustgrad.nn import init

ALIASES = {
    "uniform": ((), {}),
    "normal": ((), {}),
    "constant": ((0.5,), {}),
    "eye": ((), {}),
    "dirac": ((), {}),
    "xavier_uniform": ((), {}),
    "xavier_normal": ((), {}),
    "kaiming_uniform": ((), {}),
    "kaiming_normal": ((), {}),
    "orthogonal": ((), {}),
    "sparse": ((0.5,), {}),
}


def shape_for(name):
    return (4, 3, 3) if name == "dirac" else (4, 6)


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_deprecated_alias_warns_and_matches_the_underscore_function(name):
    args, kw = ALIASES[name]
    alias = getattr(init, name)
    assert alias.__name__ == name
    rg.manual_seed(7)
    with pytest.warns(FutureWarning, match=re.escape(
            f"`nn.init.{name}` is now deprecated in favor of `nn.init.{name}_`.")):
        a = alias(rg.empty(*shape_for(name)), *args, **kw)
    rg.manual_seed(7)
    b = getattr(init, name + "_")(rg.empty(*shape_for(name)), *args, **kw)
    assert a.tolist() == b.tolist()


def test_alias_warning_matches_pytorchs():
    torch = pytest.importorskip("torch")
    for name in ALIASES:
        assert callable(getattr(torch.nn.init, name))
        with warnings.catch_warnings(record=True) as got_t:
            warnings.simplefilter("always")
            args, kw = ALIASES[name]
            getattr(torch.nn.init, name)(torch.empty(*shape_for(name)), *args, **kw)
        with warnings.catch_warnings(record=True) as got_m:
            warnings.simplefilter("always")
            getattr(init, name)(rg.empty(*shape_for(name)), *args, **kw)
        assert [(w.category, str(w.message)) for w in got_m] == [(w.category, str(w.message)) for w in got_t]
        assert got_m[0].filename == __file__  # points at the caller, as PyTorch's stacklevel=2


RANDOM_INITS = [
    ("uniform_", dict(a=-2.0, b=3.0)),
    ("normal_", dict(mean=1.0, std=0.5)),
    ("trunc_normal_", dict(std=2.0)),
    ("xavier_uniform_", dict(gain=2.0)),
    ("xavier_normal_", {}),
    ("kaiming_uniform_", dict(a=0.1)),
    ("kaiming_normal_", dict(mode="fan_out", nonlinearity="relu")),
    ("orthogonal_", dict(gain=0.5)),
    ("sparse_", dict(sparsity=0.25)),
]


@pytest.mark.parametrize("name,kw", RANDOM_INITS, ids=[n for n, _ in RANDOM_INITS])
def test_generator_makes_the_draw_reproducible(name, kw):
    fn = getattr(init, name)
    assert "generator" in inspect.signature(fn).parameters
    draws = []
    for _ in range(2):
        g = rg.Generator().manual_seed(123)
        rg.manual_seed(0)  # sparse_ picks its zero rows from the global generator, as PyTorch
        draws.append(fn(rg.empty(5, 4, dtype=rg.float64), generator=g, **kw).numpy())
    np.testing.assert_array_equal(draws[0], draws[1])
    other = fn(rg.empty(5, 4, dtype=rg.float64), generator=rg.Generator().manual_seed(124), **kw).numpy()
    assert not np.array_equal(draws[0], other)


def test_public_names_and_signatures_match_pytorch():
    torch = pytest.importorskip("torch")
    theirs = {n for n, f in vars(torch.nn.init).items()
              if callable(f) and not n.startswith("_") and getattr(f, "__module__", "") == "torch.nn.init"}
    mine = {n for n in theirs if callable(getattr(init, n, None))}
    assert mine == theirs
    for name in theirs:
        if name.endswith("_") or name == "calculate_gain":
            params_t = list(inspect.signature(getattr(torch.nn.init, name)).parameters)
            params_m = list(inspect.signature(getattr(init, name)).parameters)
            assert params_m == params_t, name


def test_sparse_zero_fraction_and_orthogonality_with_a_generator():
    g = rg.Generator().manual_seed(5)
    w = init.sparse_(rg.empty(8, 5, dtype=rg.float64), 0.25, std=1.0, generator=g).numpy()
    assert ((w == 0).sum(axis=0) == 2).all()  # ceil(0.25 * 8) zeros in every column
    q = init.orthogonal_(rg.empty(3, 7, dtype=rg.float64), generator=g).numpy()
    np.testing.assert_allclose(q @ q.T, np.eye(3), atol=1e-12)
