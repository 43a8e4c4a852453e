"""The in-place samplers exponential_, cauchy_, log_normal_, geometric_ and random_: the distribution
of the draws (moments and quantiles against the exact ones), reproducibility through a generator,
and argument errors against PyTorch."""

import math

import numpy as np
import pytest

import rustgrad as rg

torch = pytest.importorskip("torch")

N = 200_000


def draws(fill, dtype=rg.float64, seed=0):
    rg.manual_seed(seed)
    x = rg.empty(N, dtype=dtype)
    assert fill(x) is x
    return x.numpy()


def test_exponential_has_the_exact_quantiles():
    v = draws(lambda x: x.exponential_(2.0))
    assert v.min() >= 0
    for q in (0.1, 0.5, 0.9):
        assert np.quantile(v, q) == pytest.approx(-math.log1p(-q) / 2.0, rel=0.02)


def test_cauchy_has_the_exact_quartiles():
    v = draws(lambda x: x.cauchy_(1.0, 3.0))
    assert np.quantile(v, 0.25) == pytest.approx(1.0 - 3.0, abs=0.1)
    assert np.median(v) == pytest.approx(1.0, abs=0.1)
    assert np.quantile(v, 0.75) == pytest.approx(1.0 + 3.0, abs=0.1)


def test_log_normal_has_normal_logarithms():
    v = np.log(draws(lambda x: x.log_normal_(0.5, 0.25)))
    assert v.mean() == pytest.approx(0.5, abs=0.01)
    assert v.std() == pytest.approx(0.25, rel=0.02)


def test_geometric_counts_trials_to_the_first_success():
    v = draws(lambda x: x.geometric_(0.25))
    assert v.min() == 1 and np.all(v == np.round(v))
    assert v.mean() == pytest.approx(4.0, rel=0.02)  # 1 / p
    assert (v == 1).mean() == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize("dtype", [rg.float32, rg.float64, rg.int64])
def test_random_draws_every_integer_of_the_range_evenly(dtype):
    v = draws(lambda x: x.random_(3, 7), dtype)
    assert sorted(np.unique(v).tolist()) == [3, 4, 5, 6]
    counts = np.bincount(v.astype(np.int64))[3:]
    assert np.all(np.abs(counts / N - 0.25) < 0.01)
    w = draws(lambda x: x.random_(5), dtype)
    assert sorted(np.unique(w).tolist()) == [0, 1, 2, 3, 4]
    u = draws(lambda x: x.random_(), dtype)
    assert u.min() >= 0 and np.all(u == np.round(u)) and u.max() > 1000


def test_random_of_bool_and_keyword_bounds():
    assert set(draws(lambda x: x.random_(), rg.bool).tolist()) == {False, True}
    assert set(draws(lambda x: x.random_(to=3)).tolist()) == {0.0, 1.0, 2.0}


@pytest.mark.parametrize("fill", [
    lambda x, g: x.exponential_(generator=g), lambda x, g: x.cauchy_(generator=g),
    lambda x, g: x.log_normal_(generator=g), lambda x, g: x.geometric_(0.5, generator=g),
    lambda x, g: x.random_(0, 10, generator=g),
])
def test_a_generator_makes_the_draws_reproducible(fill):
    first, second = (fill(rg.empty(50), rg.Generator().manual_seed(7)) for _ in range(2))
    assert first.tolist() == second.tolist()


@pytest.mark.parametrize("call", [
    lambda m: m.zeros(3).exponential_(-1.0),
    lambda m: m.zeros(3).cauchy_(0.0, -1.0),
    lambda m: m.zeros(3).log_normal_(1.0, 0.0),
    lambda m: m.zeros(3).geometric_(1.5),
    lambda m: m.zeros(3).random_(5, 2),
])
def test_errors_match_pytorch(call):
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(rg)
    assert str(ours.value) == str(theirs.value)
