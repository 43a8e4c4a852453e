"""_standard_gamma draws (seeded large samples against the gamma CDF), their reparameterized
gradient (against finite differences of the CDF relation P(alpha, x) = u, and against PyTorch's
_standard_gamma_grad within its approximation error), and Dirichlet draws."""

import math

import numpy as np
import pytest

import rustgrad as rg

torch = pytest.importorskip("torch")
N = 100_000
KS_BOUND = 1.95 / math.sqrt(N)  # exceeded with probability 0.001 by a correct sample


def _gen(seed):
    return rg.Generator().manual_seed(seed)


@pytest.mark.parametrize("alpha", [0.05, 0.6, 1.0, 2.5, 40.0])
def test_draws_follow_the_gamma_cdf(alpha):
    draws = rg._standard_gamma(rg.full((N,), alpha, dtype=rg.float64), _gen(11)).numpy()
    assert draws.min() > 0
    x = np.sort(draws)
    cdf = torch.special.gammainc(torch.tensor(alpha, dtype=torch.float64), torch.from_numpy(x)).numpy()
    gap = max(np.max(np.arange(1, N + 1) / N - cdf), np.max(cdf - np.arange(N) / N))
    assert gap < KS_BOUND
    assert abs(draws.mean() / alpha - 1) < 5 / math.sqrt(N * alpha)


def test_dtype_edges_and_errors():
    out = rg._standard_gamma(rg.tensor([0.0, -1.0, 2.0]), _gen(0))
    assert out.dtype == rg.float32
    tiny = np.finfo(np.float32).tiny
    assert out[0].item() == pytest.approx(tiny) and out[1].item() == pytest.approx(tiny) and out[2].item() > 0
    with pytest.raises(NotImplementedError, match="\"gamma_cpu\" not implemented for 'Long'"):
        rg._standard_gamma(rg.tensor([1, 2]))


def _cdf_relation_gradient(alpha, x, h=1e-6):
    """-dP/dalpha / p(x) with dP/dalpha by central differences of PyTorch's gammainc (of the
    complement gammaincc = 1 - P above the mean, where P itself rounds to 1)."""
    a = torch.tensor(alpha, dtype=torch.float64)
    x = torch.tensor(x, dtype=torch.float64)
    dp = (torch.special.gammainc(a + h, x) - torch.special.gammainc(a - h, x)) / (2 * h)
    dq = (torch.special.gammaincc(a + h, x) - torch.special.gammaincc(a - h, x)) / (2 * h)
    density = torch.exp((a - 1) * x.log() - x - torch.lgamma(a))
    return torch.where(x > a, dq, -dp).div(density).numpy()


@pytest.mark.parametrize("alpha", [0.1, 0.7, 1.0, 3.0, 25.0, 300.0])
def test_gradient_matches_the_cdf_relation(alpha):
    # Points across the bulk and both tails of Gamma(alpha).
    q = np.array([0.01, 0.2, 0.5, 0.8, 0.99])
    grid = np.quantile(rg._standard_gamma(rg.full((20000,), alpha, dtype=rg.float64), _gen(3)).numpy(), q)
    grid = np.concatenate([grid, [alpha + 12 * math.sqrt(alpha) + 15]])  # the far upper tail
    got = rg._standard_gamma_grad(rg.full((len(grid),), alpha, dtype=rg.float64), rg.tensor(grid)).numpy()
    np.testing.assert_allclose(got, _cdf_relation_gradient(alpha, grid), rtol=2e-6, atol=1e-9)


def test_gradient_agrees_with_torchs_approximation():
    alpha = np.array([0.3, 0.9, 2.0, 7.5, 60.0, 2000.0])
    x = np.array([0.2, 1.3, 1.1, 9.0, 55.0, 2050.0])
    got = rg._standard_gamma_grad(rg.tensor(alpha), rg.tensor(x)).numpy()
    expected = torch._standard_gamma_grad(torch.tensor(alpha), torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=5e-3)


def test_rsample_gradient_flows_through_the_draw():
    alpha = rg.tensor([0.8, 3.0], dtype=rg.float64, requires_grad=True)
    draws = rg._standard_gamma(alpha, _gen(4))
    draws.sum().backward()
    expected = rg._standard_gamma_grad(alpha.detach(), draws.detach())
    assert rg.allclose(alpha.grad, expected)
    # The gradient of the sample mean of many draws estimates d E[x] / d alpha = 1.
    a = rg.full((N,), 2.0, dtype=rg.float64, requires_grad=True)
    rg._standard_gamma(a, _gen(5)).mean().backward()
    assert abs(a.grad.sum().item() - 1.0) < 0.01


def test_dirichlet_draws_lie_on_the_simplex_with_the_right_means():
    alpha = rg.tensor([0.5, 2.0, 7.5], dtype=rg.float64)
    draws = rg._sample_dirichlet(alpha.expand(N, 3), _gen(6)).numpy()
    np.testing.assert_allclose(draws.sum(1), 1.0, atol=1e-12)
    total = alpha.sum().item()
    means = alpha.numpy() / total
    sd = np.sqrt(means * (1 - means) / (total + 1) / N)
    assert np.all(np.abs(draws.mean(0) - means) < 5 * sd)
