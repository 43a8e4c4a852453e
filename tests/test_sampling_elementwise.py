"""bernoulli, poisson and the in-place samplers (bernoulli_, exponential_, geometric_, cauchy_,
log_normal_, random_): seeded large samples whose moments and histograms must fall within tight
statistical bounds (fixed seeds, so the tests are deterministic; the bounds are a few standard
errors, which a wrong distribution misses by far), generators, dtypes, and PyTorch's errors."""

import math

import numpy as np
import pytest

import rustgrad as rg

HAS_CUDA = rg.cuda.is_available()
N = 200_000


def _gen(seed=0):
    return rg.Generator().manual_seed(seed)


def _chi_square(counts, probabilities):
    """Pearson's statistic over the bins (the caller lumps sparse bins)."""
    expected = np.asarray(probabilities) * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def _chi_square_bound(bins):
    # Mean df, sd sqrt(2 df): six standard deviations over the mean.
    df = bins - 1
    return df + 6 * math.sqrt(2 * df)


def test_bernoulli_of_a_probability_tensor():
    p = rg.tensor([0.0, 0.1, 0.5, 0.93, 1.0], dtype=rg.float64)
    draws = rg.bernoulli(p.expand(N, 5), generator=_gen()).numpy()
    assert draws.dtype == np.float64 and set(np.unique(draws)) <= {0.0, 1.0}
    means = draws.mean(0)
    se = np.sqrt(p.numpy() * (1 - p.numpy()) / N)
    assert np.all(np.abs(means - p.numpy()) <= 5 * se + 1e-12)
    assert means[0] == 0 and means[-1] == 1


def test_bernoulli_forms_and_generators():
    x = rg.zeros(N, dtype=rg.float32)
    a = rg.bernoulli(x, 0.25, generator=_gen(3))
    b = x.bernoulli(0.25, generator=_gen(3))
    assert a.dtype == rg.float32 and rg.equal(a, b)
    assert abs(a.mean().item() - 0.25) < 5 * math.sqrt(0.25 * 0.75 / N)
    y = rg.empty(4, N // 4)
    assert y.bernoulli_(rg.tensor([[0.0], [0.2], [0.6], [1.0]]), generator=_gen(1)) is y
    rows = y.mean(1).numpy()
    assert rows[0] == 0 and rows[3] == 1
    assert abs(rows[1] - 0.2) < 0.012 and abs(rows[2] - 0.6) < 0.015
    z = rg.zeros(3, dtype=rg.int64)
    assert z.bernoulli_(1.0) is z and z.tolist() == [1, 1, 1]
    assert rg.bernoulli(rg.tensor([1, 0]), 0.5).dtype == rg.int64
    out = rg.empty(3)
    assert rg.bernoulli(rg.tensor([1.0, 0.0, 1.0]), out=out) is out and out.tolist() == [1, 0, 1]


def test_bernoulli_errors_follow_pytorch():
    message = r"Expected p_in >= 0 && p_in <= 1 to be true, but got false\."
    with pytest.raises(RuntimeError, match=message):
        rg.bernoulli(rg.tensor([0.5, 1.5]))
    with pytest.raises(RuntimeError, match=message):
        rg.bernoulli(rg.tensor([math.nan]))
    with pytest.raises(RuntimeError, match=r"bernoulli_ expects p to be in \[0, 1\], but got p=1.3"):
        rg.zeros(3).bernoulli_(1.3)
    with pytest.raises(RuntimeError, match=r"bernoulli_ expects p to be in \[0, 1\], but got p=1.3"):
        rg.bernoulli(rg.zeros(2), 1.3)
    with pytest.raises(NotImplementedError, match="\"bernoulli_tensor_cpu_p_\" not implemented for 'Long'"):
        rg.bernoulli(rg.tensor([1, 0]))
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        rg.zeros(2, requires_grad=True).bernoulli_()


@pytest.mark.parametrize("rate", [0.3, 3.0, 9.5, 10.0, 27.0, 400.0])
def test_poisson_histogram_and_moments(rate):
    draws = rg.poisson(rg.full((N,), rate, dtype=rg.float64), generator=_gen(7)).numpy()
    assert np.all(draws == np.floor(draws)) and draws.min() >= 0
    assert abs(draws.mean() - rate) < 5 * math.sqrt(rate / N)
    assert abs(draws.var() / rate - 1) < 5 * math.sqrt(2 / N) + 5 / math.sqrt(N * rate)
    # Histogram against the Poisson pmf: every count expected 20 times or more is a bin, the
    # rest one more bin.
    ks = np.arange(0, int(rate + 10 * math.sqrt(rate)) + 10)
    pmf = np.exp(ks * math.log(rate) - rate - np.array([math.lgamma(k + 1) for k in ks]))
    kept = ks[pmf * N >= 20]
    counts = np.array([(draws == k).sum() for k in kept], dtype=np.float64)
    probs = pmf[pmf * N >= 20]
    counts = np.append(counts, N - counts.sum())
    probs = np.append(probs, 1 - probs.sum())
    assert _chi_square(counts, probs) < _chi_square_bound(len(probs))


def test_poisson_rate_zero_dtype_and_errors():
    r = rg.tensor([0.0, 2.0, 0.0], dtype=rg.float32)
    out = rg.poisson(r, generator=_gen())
    assert out.dtype == rg.float32 and out[0].item() == 0 and out[2].item() == 0
    assert rg.equal(rg.poisson(r, _gen(5)), rg.poisson(r, _gen(5)))
    with pytest.raises(RuntimeError, match="invalid Poisson rate, expected rate to be non-negative"):
        rg.poisson(rg.tensor([-1.0, 2.0]))
    with pytest.raises(RuntimeError, match="invalid Poisson rate, expected rate to be non-negative"):
        rg.poisson(rg.tensor([math.nan]))
    with pytest.raises(NotImplementedError, match="\"poisson_cpu\" not implemented for 'Long'"):
        rg.poisson(rg.tensor([1, 2]))


def _empirical_cdf_gap(draws, cdf):
    """The Kolmogorov-Smirnov distance of the sample from ``cdf``."""
    x = np.sort(draws)
    f = cdf(x)
    n = len(x)
    return max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))


# The KS distance of n draws of the right distribution exceeds 1.95/sqrt(n) with probability 0.001.
KS_BOUND = 1.95 / math.sqrt(N)


def test_exponential_():
    x = rg.empty(N, dtype=rg.float64)
    assert x.exponential_(2.5, generator=_gen(2)) is x
    draws = x.numpy()
    assert draws.min() >= 0
    assert _empirical_cdf_gap(draws, lambda v: 1 - np.exp(-2.5 * v)) < KS_BOUND
    with pytest.raises(RuntimeError, match="exponential_ expects lambda > 0.0, but found lambda=-1"):
        rg.zeros(3).exponential_(-1)
    with pytest.raises(RuntimeError, match="exponential_ expects lambda > 0.0, but found lambda=0"):
        rg.zeros(3).exponential_(0)
    with pytest.raises(RuntimeError, match="Exponential distribution is a continuous probability distribution. "
                                           "dtype must be a floating point but you specified Long"):
        rg.zeros(3, dtype=rg.int64).exponential_()


def test_geometric_():
    p = 0.3
    draws = rg.empty(N).geometric_(p, generator=_gen(4)).numpy()
    assert draws.min() >= 1 and np.all(draws == np.floor(draws))
    ks = np.arange(1, 16)
    counts = np.array([(draws == k).sum() for k in ks] + [(draws > 15).sum()], dtype=np.float64)
    probs = np.append((1 - p) ** (ks - 1) * p, (1 - p) ** 15)
    assert _chi_square(counts, probs) < _chi_square_bound(len(probs))
    for bad in (0, 1, 1.5):
        with pytest.raises(RuntimeError, match=rf"geometric_ expects p to be in \(0, 1\), but got p={bad}"):
            rg.zeros(3).geometric_(bad)


def test_cauchy_():
    draws = rg.empty(N, dtype=rg.float64).cauchy_(1.5, 0.5, generator=_gen(6)).numpy()
    cdf = lambda v: 0.5 + np.arctan((v - 1.5) / 0.5) / math.pi  # noqa: E731
    assert _empirical_cdf_gap(draws, cdf) < KS_BOUND
    with pytest.raises(RuntimeError, match="cauchy_ expects sigma > 0.0, but found sigma=-1"):
        rg.zeros(3).cauchy_(0, -1)
    with pytest.raises(RuntimeError, match="dtype must be a floating point but you specified long int"):
        rg.zeros(3, dtype=rg.int64).cauchy_()


def test_log_normal_():
    draws = rg.empty(N, dtype=rg.float64).log_normal_(0.5, 0.75, generator=_gen(8)).numpy()
    assert draws.min() > 0
    logs = np.log(draws)
    assert abs(logs.mean() - 0.5) < 5 * 0.75 / math.sqrt(N)
    assert abs(logs.std() / 0.75 - 1) < 5 * math.sqrt(0.5 / N)
    with pytest.raises(RuntimeError, match="log_normal_ expects std > 0.0, but found std=0"):
        rg.zeros(3).log_normal_(0, 0)
    with pytest.raises(NotImplementedError, match="\"log_normal_cpu\" not implemented for 'Long'"):
        rg.zeros(3, dtype=rg.int64).log_normal_()


def test_random_():
    x = rg.empty(N, dtype=rg.int64)
    assert x.random_(3, 9, generator=_gen(9)) is x
    counts = np.bincount(x.numpy() - 3, minlength=6)
    assert len(counts) == 6 and _chi_square(counts.astype(float), np.full(6, 1 / 6)) < _chi_square_bound(6)
    y = rg.empty(N).random_(5, generator=_gen(1)).numpy()
    assert set(np.unique(y)) == {0.0, 1.0, 2.0, 3.0, 4.0}
    assert rg.empty(3, dtype=rg.int64).random_(generator=_gen(2)).min().item() >= 0
    g = rg.empty(N, dtype=rg.int64).geometric_(0.5, generator=_gen(3))
    assert g.dtype == rg.int64 and g.min().item() >= 1
    z = rg.empty(N).random_(generator=_gen(2)).numpy()
    assert z.min() >= 0 and z.max() <= 2 ** 24 and z.max() > 2 ** 23 and np.all(z == np.floor(z))
    b = rg.empty(1000, dtype=rg.bool).random_(generator=_gen(3)).numpy()
    assert 400 < b.sum() < 600
    with pytest.raises(RuntimeError, match=r"random_ expects 'from' to be less than 'to', but got from=5 >= to=2"):
        rg.zeros(3).random_(5, 2)
    with pytest.raises(RuntimeError, match=r"random_ expects 'from' to be less than 'to', but got from=0 >= to=-3"):
        rg.zeros(3).random_(-3)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="no usable CUDA device: " + (
    "" if HAS_CUDA else rg.cuda._unavailable_reason()))
def test_samplers_on_the_cuda_device():
    p = rg.full((N,), 0.3, device="cuda")
    b = rg.bernoulli(p, generator=None)
    assert b.device.type == "cuda" and abs(b.mean().item() - 0.3) < 0.005
    r = rg.poisson(rg.full((N,), 12.0, device="cuda"))
    assert r.device.type == "cuda" and abs(r.mean().item() - 12) < 5 * math.sqrt(12 / N)
    e = rg.empty(N, device="cuda").exponential_(2.0)
    assert e.device.type == "cuda" and abs(e.mean().item() - 0.5) < 5 * 0.5 / math.sqrt(N)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="no usable CUDA device: " + (
    "" if HAS_CUDA else rg.cuda._unavailable_reason()))
def test_gamma_draws_and_gradient_on_the_cuda_device():
    alpha = rg.full((N,), 3.0, device="cuda", requires_grad=True)
    draws = rg._standard_gamma(alpha)
    assert draws.device.type == "cuda" and abs(draws.mean().item() - 3.0) < 5 * math.sqrt(3.0 / N)
    draws.mean().backward()
    # The mean of the reparameterized gradients estimates d E[x] / d alpha = 1.
    assert alpha.grad.device.type == "cuda" and abs(alpha.grad.sum().item() - 1.0) < 0.01
