"""multinomial: draws follow the weights (with and without replacement), reproducible with a
generator, and bad input raises PyTorch's errors."""

import numpy as np
import pytest

import rustgrad as rg


def _frequencies(samples, categories):
    return np.bincount(np.asarray(samples).reshape(-1), minlength=categories) / np.asarray(samples).size


def test_with_replacement_follows_the_weights():
    rg.manual_seed(0)
    weights = rg.tensor([1.0, 0.0, 3.0, 6.0])  # unnormalized on purpose
    draws = rg.multinomial(weights, 40000, replacement=True)
    assert draws.dtype == rg.int64 and draws.shape == (40000,)
    freq = _frequencies(draws.numpy(), 4)
    assert freq[1] == 0.0  # weight 0 is never drawn
    # 40000 draws: the standard error of each frequency is below 0.0025; 5 of them is the bound.
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.3, 0.6], atol=0.0125)


def test_without_replacement_draws_distinct_categories_by_successive_sampling():
    rg.manual_seed(1)
    weights = rg.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], dtype=rg.float64)
    firsts, seconds = [], []
    for _ in range(3000):
        d = weights.multinomial(2)
        assert d.shape == (2, 2)
        row = d.numpy()
        assert (row[:, 0] != row[:, 1]).all()
        firsts.append(row[0, 0])
        seconds.append(row[0, 1])
    # First draw ~ p; second draw given the first: P(second = j) = sum_i p_i p_j / (1 - p_i).
    p = np.array([0.5, 0.3, 0.2])
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(3) if i != j) for j in range(3)])
    np.testing.assert_allclose(_frequencies(firsts, 3), p, atol=0.04)
    np.testing.assert_allclose(_frequencies(seconds, 3), second, atol=0.04)


def test_all_categories_without_replacement_is_a_permutation_and_zeros_come_last():
    d = rg.multinomial(rg.tensor([0.5, 0.0, 0.0, 0.5]), 4)
    assert sorted(d.tolist()) == [0, 1, 2, 3]
    assert set(d.tolist()[:2]) == {0, 3}


def test_generator_makes_draws_reproducible():
    weights = rg.tensor([0.2, 0.3, 0.5])
    g1, g2 = rg.Generator().manual_seed(7), rg.Generator().manual_seed(7)
    a = rg.multinomial(weights, 10, replacement=True, generator=g1)
    b = rg.multinomial(weights, 10, replacement=True, generator=g2)
    assert a.tolist() == b.tolist()
    rg.manual_seed(3)
    c = weights.multinomial(3)
    rg.manual_seed(3)
    assert weights.multinomial(3).tolist() == c.tolist()


def test_out_argument():
    out = rg.zeros(5, dtype=rg.int64)
    result = rg.multinomial(rg.tensor([0.0, 1.0]), 5, replacement=True, out=out)
    assert result is out and out.tolist() == [1] * 5


BAD = [
    (lambda lib: lib.multinomial(lib.tensor([[[0.5]]]), 1), RuntimeError),
    (lambda lib: lib.multinomial(lib.tensor([0.0, 0.0]), 1), RuntimeError),
    (lambda lib: lib.multinomial(lib.tensor([-1.0, 2.0]), 1), RuntimeError),
    (lambda lib: lib.multinomial(lib.tensor([float("nan"), 2.0]), 1), RuntimeError),
    (lambda lib: lib.multinomial(lib.tensor([float("inf"), 2.0]), 1, True), RuntimeError),
    (lambda lib: lib.multinomial(lib.tensor([0.2, 0.8]), 3), RuntimeError),
    (lambda lib: lib.multinomial(lib.tensor([1, 2]), 1), RuntimeError),
    (lambda lib: lib.multinomial(lib.tensor([0.2, 0.8]), 0), RuntimeError),
    (lambda lib: lib.multinomial(lib.tensor([0.2, 0.8]), -1), RuntimeError),
    (lambda lib: lib.multinomial(lib.tensor([0.2, 0.8]), 2.0), TypeError),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_input_raises_pytorchs_error(case):
    make, kind = BAD[case]
    with pytest.raises(kind) as ours:
        make(rg)
    torch = pytest.importorskip("torch")
    with pytest.raises(kind) as theirs:
        make(torch)
    assert str(ours.value) == str(theirs.value)
