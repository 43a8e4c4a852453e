"""rustgrad.distributions against torch.distributions in float64: log_prob, cdf/icdf, entropy,
mean/mode/variance/stddev, KL divergences, shapes (batch, event, sample, expand), rsample
gradients by finite differences, sample moments, and the validation errors."""

import math

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions

RNG = np.random.default_rng(0)


def _both(x):
    x = np.asarray(x, dtype=np.float64)
    return rg.tensor(x), torch.tensor(x)


def _close(got, expected, rtol=1e-10, atol=1e-10):
    np.testing.assert_allclose(np.asarray(got.detach().numpy(), dtype=np.float64),
                               expected.detach().numpy().astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)


def _positive(*shape):
    return RNG.uniform(0.3, 3.0, size=shape)


def _simplex(*shape):
    p = RNG.uniform(0.1, 1.0, size=shape)
    return p / p.sum(-1, keepdims=True)


def _spd(batch, n):
    a = RNG.normal(size=batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


# name: (build(lib, params), make the params (numpy arrays; each call draws new ones), make values to score)
CASES = {
    "Normal": (lambda m, p: m.Normal(p[0], p[1]), lambda: [RNG.normal(size=(2, 3)), _positive(2, 3)],
               lambda: RNG.normal(size=(4, 2, 3))),
    "Bernoulli_probs": (lambda m, p: m.Bernoulli(probs=p[0]), lambda: [RNG.uniform(0.05, 0.95, size=(3,))],
                        lambda: RNG.integers(0, 2, size=(5, 3)).astype(float)),
    "Bernoulli_logits": (lambda m, p: m.Bernoulli(logits=p[0]), lambda: [RNG.normal(size=(3,))],
                         lambda: RNG.integers(0, 2, size=(5, 3)).astype(float)),
    "Categorical_probs": (lambda m, p: m.Categorical(probs=p[0]), lambda: [_simplex(2, 4)],
                          lambda: RNG.integers(0, 4, size=(3, 2)).astype(float)),
    "Categorical_logits": (lambda m, p: m.Categorical(logits=p[0]), lambda: [RNG.normal(size=(2, 4))],
                           lambda: RNG.integers(0, 4, size=(3, 2)).astype(float)),
    "OneHotCategorical": (lambda m, p: m.OneHotCategorical(probs=p[0]), lambda: [_simplex(2, 4)],
                          lambda: np.eye(4)[RNG.integers(0, 4, size=(3, 2))]),
    "Uniform": (lambda m, p: m.Uniform(p[0], p[0] + p[1]), lambda: [RNG.normal(size=(3,)), _positive(3)], None),
    "Gamma": (lambda m, p: m.Gamma(p[0], p[1]), lambda: [_positive(2, 3), _positive(2, 3)],
              lambda: _positive(4, 2, 3)),
    "Beta": (lambda m, p: m.Beta(p[0], p[1]), lambda: [_positive(3), _positive(3)],
             lambda: RNG.uniform(0.05, 0.95, size=(4, 3))),
    "Dirichlet": (lambda m, p: m.Dirichlet(p[0]), lambda: [_positive(2, 3)], lambda: _simplex(4, 2, 3)),
    "Exponential": (lambda m, p: m.Exponential(p[0]), lambda: [_positive(3)], lambda: _positive(5, 3)),
    "Laplace": (lambda m, p: m.Laplace(p[0], p[1]), lambda: [RNG.normal(size=(3,)), _positive(3)],
                lambda: RNG.normal(size=(5, 3))),
    "Poisson": (lambda m, p: m.Poisson(p[0]), lambda: [_positive(3) * 3],
                lambda: RNG.integers(0, 8, size=(5, 3)).astype(float)),
    "MultivariateNormal_cov": (lambda m, p: m.MultivariateNormal(p[0], covariance_matrix=p[1]),
                               lambda: [RNG.normal(size=(2, 3)), _spd((2,), 3)], lambda: RNG.normal(size=(4, 2, 3))),
    "MultivariateNormal_tril": (lambda m, p: m.MultivariateNormal(p[0], scale_tril=p[1]),
                                lambda: [RNG.normal(size=(3,)), np.linalg.cholesky(_spd((), 3))],
                                lambda: RNG.normal(size=(4, 3))),
    "MultivariateNormal_precision": (lambda m, p: m.MultivariateNormal(p[0], precision_matrix=p[1]),
                                     lambda: [RNG.normal(size=(3,)), _spd((), 3)], lambda: RNG.normal(size=(4, 3))),
    "Independent": (lambda m, p: m.Independent(m.Normal(p[0], p[1]), 1),
                    lambda: [RNG.normal(size=(2, 3)), _positive(2, 3)], lambda: RNG.normal(size=(4, 2, 3))),
    "Cauchy": (lambda m, p: m.Cauchy(p[0], p[1]), lambda: [RNG.normal(size=(3,)), _positive(3)],
               lambda: RNG.normal(size=(5, 3)) * 3),
    "LogNormal": (lambda m, p: m.LogNormal(p[0], p[1]), lambda: [RNG.normal(size=(3,)), _positive(3) / 2],
                  lambda: _positive(5, 3)),
    "StudentT": (lambda m, p: m.StudentT(p[0], p[1], p[2]), lambda: [_positive(3) * 2, RNG.normal(size=(3,)),
                                                                      _positive(3)], lambda: RNG.normal(size=(5, 3))),
    "Binomial": (lambda m, p: m.Binomial(10, p[0]), lambda: [RNG.uniform(0.05, 0.95, size=(3,))],
                 lambda: RNG.integers(0, 11, size=(5, 3)).astype(float)),
    "Multinomial": (lambda m, p: m.Multinomial(6, p[0]), lambda: [_simplex(2, 4)],
                    lambda: RNG.multinomial(6, [0.25] * 4, size=(5, 2)).astype(float)),
    "TransformedDistribution": (
        lambda m, p: m.TransformedDistribution(m.Normal(p[0], p[1]), [m.transforms.AffineTransform(0.5, 2.0),
                                                                      m.transforms.SigmoidTransform()]),
        lambda: [RNG.normal(size=(3,)), _positive(3)], lambda: RNG.uniform(0.05, 0.95, size=(5, 3))),
}


def _build(name):
    build, make_params, make_values = CASES[name]
    params = make_params()
    ours = build(D, [rg.tensor(np.asarray(p, dtype=np.float64)) for p in params])
    theirs = build(TD, [torch.tensor(np.asarray(p, dtype=np.float64)) for p in params])
    return ours, theirs, (make_values() if make_values else None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_shapes_log_prob_and_moments_match_torch(name):
    ours, theirs, values = _build(name)
    assert tuple(ours.batch_shape) == tuple(theirs.batch_shape)
    assert tuple(ours.event_shape) == tuple(theirs.event_shape)
    assert ours.has_rsample == theirs.has_rsample
    if values is None:
        values = theirs.sample((5,)).numpy()
    v, t = _both(values)
    _close(ours.log_prob(v), theirs.log_prob(t))
    for prop in ("mean", "mode", "variance", "stddev"):
        try:
            expected = getattr(theirs, prop)
        except NotImplementedError:
            continue
        _close(getattr(ours, prop), expected)
    try:
        expected_entropy = theirs.entropy()
    except NotImplementedError:
        expected_entropy = None
    if expected_entropy is not None:
        _close(ours.entropy(), expected_entropy)
    sample = ours.sample((7,))
    assert tuple(sample.shape) == (7,) + tuple(theirs.batch_shape) + tuple(theirs.event_shape)
    assert tuple(ours.sample().shape) == tuple(theirs.sample().shape)


@pytest.mark.parametrize("name", ["Normal", "Uniform", "Exponential", "Laplace", "Cauchy", "LogNormal",
                                  "TransformedDistribution", "Gamma"])
def test_cdf_and_icdf_match_torch(name):
    ours, theirs, _ = _build(name)
    values = theirs.sample((6,))
    v = rg.tensor(values.numpy())
    _close(ours.cdf(v), theirs.cdf(values), rtol=5e-9)
    if name == "Gamma":
        return  # no icdf, as in PyTorch
    q, qt = _both(RNG.uniform(0.02, 0.98, size=(6,) + tuple(theirs.batch_shape)))
    _close(ours.icdf(q), theirs.icdf(qt))


@pytest.mark.parametrize("name", sorted(CASES))
def test_expand_matches_torch(name):
    ours, theirs, _ = _build(name)
    new_batch = (5,) + tuple(theirs.batch_shape)
    e, et = ours.expand(new_batch), theirs.expand(new_batch)
    assert tuple(e.batch_shape) == tuple(et.batch_shape) and tuple(e.event_shape) == tuple(et.event_shape)
    assert tuple(e.sample((2,)).shape) == tuple(et.sample((2,)).shape)
    try:
        expected = et.entropy()
    except NotImplementedError:
        return
    _close(e.entropy(), expected)


KL_PAIRS = [
    ("Normal", "Normal"), ("Bernoulli_probs", "Bernoulli_logits"), ("Categorical_probs", "Categorical_logits"),
    ("OneHotCategorical", "OneHotCategorical"), ("Gamma", "Gamma"), ("Beta", "Beta"), ("Dirichlet", "Dirichlet"),
    ("Exponential", "Exponential"), ("Laplace", "Laplace"), ("Poisson", "Poisson"), ("Independent", "Independent"),
    ("MultivariateNormal_tril", "MultivariateNormal_precision"), ("Uniform", "Normal"), ("Exponential", "Gamma"),
    ("Gamma", "Exponential"), ("Normal", "Laplace"), ("Uniform", "Uniform"), ("Binomial", "Binomial"),
    ("Cauchy", "Cauchy"),
]


@pytest.mark.parametrize("p_name,q_name", KL_PAIRS)
def test_kl_divergence_matches_torch(p_name, q_name):
    p, pt, _ = _build(p_name)
    q, qt, _ = _build(q_name)  # fresh parameters: a different distribution
    _close(D.kl_divergence(p, q), TD.kl_divergence(pt, qt), rtol=1e-9, atol=1e-9)


def test_uniform_kl_is_infinite_outside_the_support():
    p = D.Uniform(rg.tensor([0.0, 0.0]), rg.tensor([1.0, 1.0]))
    q = D.Uniform(rg.tensor([0.5, -1.0]), rg.tensor([2.0, 2.0]))
    kl = D.kl_divergence(p, q)
    assert kl[0].item() == math.inf and kl[1].item() == pytest.approx(math.log(3.0))


def test_register_kl_dispatches_to_the_most_specific_pair():
    class MyNormal(D.Normal):
        pass

    @D.register_kl(MyNormal, D.Normal)
    def _kl_mine(p, q):
        return rg.tensor(-7.0)

    assert D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(0.0, 1.0)).item() == -7.0
    assert D.kl_divergence(D.Normal(0.0, 1.0), D.Normal(0.0, 1.0)).item() == 0.0
    with pytest.raises(NotImplementedError, match="No KL\\(p \\|\\| q\\) is implemented for p type Normal and q type Beta"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Beta(1.0, 2.0))


@pytest.mark.parametrize("name", ["Normal", "Uniform", "Exponential", "Laplace", "MultivariateNormal_cov",
                                  "MultivariateNormal_tril", "Cauchy", "LogNormal", "TransformedDistribution"])
def test_rsample_is_differentiable_in_the_parameters(name):
    build, make_params, _ = CASES[name]
    tensors = [rg.tensor(np.asarray(p, dtype=np.float64), requires_grad=True) for p in make_params()]
    seed = 1234
    if name == "MultivariateNormal_cov":
        # A covariance must stay symmetric: differentiate through (a + a^T) / 2.
        def draw(loc, a):
            rg.manual_seed(seed)
            return D.MultivariateNormal(loc, covariance_matrix=(a + a.transpose(-2, -1)) / 2).rsample((3,))
    elif name == "MultivariateNormal_tril":
        base = tensors[1].detach()
        tensors[1] = rg.zeros(3, 3, dtype=rg.float64, requires_grad=True)

        def draw(loc, t):
            rg.manual_seed(seed)
            return D.MultivariateNormal(loc, scale_tril=base + t.tril()).rsample((3,))
    else:
        def draw(*ps):
            rg.manual_seed(seed)  # the same noise for every evaluation of finite differences
            return build(D, list(ps)).rsample((3,))

    assert rg.autograd.gradcheck(draw, tuple(tensors), atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("name", ["Normal", "Gamma", "Beta", "Dirichlet", "Bernoulli_probs", "Categorical_probs",
                                  "Poisson", "MultivariateNormal_cov", "Laplace", "Exponential", "Uniform",
                                  "LogNormal", "Binomial", "Multinomial"])
def test_sample_moments(name):
    ours, theirs, _ = _build(name)
    rg.manual_seed(0)
    n = 40_000
    draws = ours.sample((n,)).numpy()
    if name == "Categorical_probs":
        probs = theirs.probs.numpy()
        freq = np.stack([(draws == k).mean(0) for k in range(probs.shape[-1])], -1)
        assert np.all(np.abs(freq - probs) < 5 * np.sqrt(probs * (1 - probs) / n))
        return
    if name == "LogNormal":  # heavy tailed: check the normal it exponentiates
        draws, theirs = np.log(draws), theirs.base_dist
    mean, var = theirs.mean.numpy(), theirs.variance.numpy()
    assert np.all(np.abs(draws.mean(0) - mean) < 5 * np.sqrt(var / n))
    if name != "Bernoulli_probs":
        assert np.all(np.abs(draws.var(0) / var - 1) < 0.06)


def test_validation_errors_match_torch():
    with pytest.raises(ValueError) as ours:
        D.Normal(rg.tensor([0.0, 1.0]), rg.tensor([1.0, -1.0]), validate_args=True)
    assert str(ours.value).startswith(
        "Expected parameter scale (Tensor of shape (2,)) of distribution Normal(loc: rustgrad.Size([2]), scale: "
        "rustgrad.Size([2])) to satisfy the constraint GreaterThan(lower_bound=0.0), but found invalid values:\n")
    n = D.Normal(rg.tensor([0.0, 1.0]), rg.tensor([1.0, 1.0]), validate_args=True)
    with pytest.raises(ValueError, match="The value argument to log_prob must be a Tensor"):
        n.log_prob(1.0)
    with pytest.raises(ValueError, match=r"Value is not broadcastable with batch_shape\+event_shape: "
                                         r"rustgrad.Size\(\[3\]\) vs rustgrad.Size\(\[2\]\)\."):
        n.log_prob(rg.zeros(3))
    with pytest.raises(ValueError, match=r"Expected value argument \(Tensor of shape \(2,\)\) to be within the support "
                                         r"\(Real\(\)\) of the distribution Normal"):
        n.log_prob(rg.tensor([math.nan, 1.0]))
    with pytest.raises(ValueError, match=r"to be within the support \(Boolean\(\)\)"):
        D.Bernoulli(rg.tensor([0.3]), validate_args=True).log_prob(rg.tensor([0.5]))
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified, but not both."):
        D.Bernoulli()
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified, but not both."):
        D.Categorical(probs=rg.tensor([0.5, 0.5]), logits=rg.tensor([0.0, 0.0]))
    with pytest.raises(ValueError, match="Exactly one of covariance_matrix or precision_matrix or scale_tril"):
        D.MultivariateNormal(rg.zeros(2))
    with pytest.raises(ValueError, match="satisfy the constraint PositiveDefinite()"):
        D.MultivariateNormal(rg.zeros(2), covariance_matrix=rg.tensor([[1.0, 2.0], [2.0, 1.0]]), validate_args=True)
    with pytest.raises(ValueError, match=r"satisfy the constraint IndependentConstraint\(GreaterThan\(lower_bound=0.0\), 1\)"):
        D.Dirichlet(rg.tensor([1.0, -1.0]), validate_args=True)
    with pytest.raises(ValueError, match="Uniform is not defined when low>= high"):
        D.Uniform(rg.tensor([1.0]), rg.tensor([0.0]), validate_args=True)


def test_set_default_validate_args():
    try:
        D.Distribution.set_default_validate_args(False)
        D.Normal(rg.tensor([0.0]), rg.tensor([-1.0]))  # accepted without validation
        D.Distribution.set_default_validate_args(True)
        with pytest.raises(ValueError):
            D.Normal(rg.tensor([0.0]), rg.tensor([-1.0]))
        with pytest.raises(ValueError):
            D.Distribution.set_default_validate_args("yes")
    finally:
        D.Distribution.set_default_validate_args(True)


def test_repr_constraints_and_supports():
    assert repr(D.Normal(0.0, 1.0)) == "Normal(loc: 0.0, scale: 1.0)"
    assert repr(D.constraints.real_vector) == "IndependentConstraint(Real(), 1)"
    assert repr(D.Uniform(0.0, 2.0).support) == "Interval(lower_bound=0.0, upper_bound=2.0)"
    assert repr(D.Categorical(rg.tensor([0.2, 0.8])).support) == "IntegerInterval(lower_bound=0, upper_bound=1)"
    assert D.Categorical.support.is_discrete and D.constraints.is_dependent(D.Categorical.support)
    assert D.Independent(D.Normal(rg.zeros(2, 3), 1.0), 1).support.event_dim == 1


def test_enumerate_support():
    b, bt = D.Bernoulli(rg.tensor([0.2, 0.7])), TD.Bernoulli(torch.tensor([0.2, 0.7]))
    np.testing.assert_array_equal(b.enumerate_support().numpy(), bt.enumerate_support().numpy())
    c, ct = D.Categorical(rg.ones(2, 3)), TD.Categorical(torch.ones(2, 3))
    np.testing.assert_array_equal(c.enumerate_support(False).numpy(), ct.enumerate_support(False).numpy())
    o, ot = D.OneHotCategorical(rg.ones(3)), TD.OneHotCategorical(torch.ones(3))
    np.testing.assert_array_equal(o.enumerate_support().numpy(), ot.enumerate_support().numpy())


def test_log_prob_gradients_match_torch():
    loc, loc_t = _both([0.3, -1.2])
    scale, scale_t = _both([0.7, 1.9])
    conc, conc_t = _both([[0.8, 2.0, 3.5]])
    for p in (loc, scale, conc):
        p.requires_grad_()
    for p in (loc_t, scale_t, conc_t):
        p.requires_grad_()
    v, vt = _both([0.1, 0.4])
    s, st = _both([[0.2, 0.3, 0.5]])
    total = D.Normal(loc, scale).log_prob(v).sum() + D.Gamma(scale, loc.exp()).log_prob(v.exp()).sum() \
        + D.Dirichlet(conc).entropy().sum() + D.Dirichlet(conc).log_prob(s).sum()
    total_t = TD.Normal(loc_t, scale_t).log_prob(vt).sum() + TD.Gamma(scale_t, loc_t.exp()).log_prob(vt.exp()).sum() \
        + TD.Dirichlet(conc_t).entropy().sum() + TD.Dirichlet(conc_t).log_prob(st).sum()
    total.backward()
    total_t.backward()
    for p, pt in ((loc, loc_t), (scale, scale_t), (conc, conc_t)):
        _close(p.grad, pt.grad, rtol=1e-8, atol=1e-8)  # PyTorch's trigamma is good to ~1e-9


def test_gamma_rsample_gradient_is_the_implicit_reparameterization():
    concentration = rg.tensor([0.4, 2.0, 9.0], dtype=rg.float64, requires_grad=True)
    rate = rg.tensor([1.5, 0.5, 3.0], dtype=rg.float64, requires_grad=True)
    rg.manual_seed(3)
    draws = D.Gamma(concentration, rate).rsample()
    draws.sum().backward()
    x = draws.detach()
    expected_c = rg._standard_gamma_grad(concentration.detach(), x * rate.detach()) / rate.detach()
    _close(concentration.grad, expected_c, rtol=1e-12, atol=1e-12)
    _close(rate.grad, -x / rate.detach(), rtol=1e-12, atol=1e-12)


def _mean_gradient(make, params, statistic, n=100_000):
    """The average over n rsample draws of d statistic(draw) / d params."""
    rg.manual_seed(17)
    draws = make(*params).rsample((n,))
    statistic(draws).mean().backward()
    return [p.grad.numpy() for p in params], draws


@pytest.mark.parametrize("family", ["Beta", "Dirichlet", "StudentT"])
def test_rsample_gradients_estimate_the_derivative_of_the_mean(family):
    # Unbiased reparameterization gradients: their sample mean converges to d E[h(x)] / d theta.
    if family == "Beta":
        c1 = rg.tensor(2.0, dtype=rg.float64, requires_grad=True)
        c0 = rg.tensor(3.0, dtype=rg.float64, requires_grad=True)
        (g1, g0), _ = _mean_gradient(D.Beta, (c1, c0), lambda x: x)
        expected = (3.0 / 25.0, -2.0 / 25.0)  # d/dc (c1 / (c1 + c0))
        got = (float(g1), float(g0))
    elif family == "Dirichlet":
        c = rg.tensor([1.5, 2.5, 4.0], dtype=rg.float64, requires_grad=True)
        (g,), _ = _mean_gradient(D.Dirichlet, (c,), lambda x: x[..., 0])
        total = 8.0
        expected = (1 / total - 1.5 / total ** 2, -1.5 / total ** 2, -1.5 / total ** 2)
        got = tuple(g)
    else:
        df = rg.tensor(9.0, dtype=rg.float64, requires_grad=True)
        scale = rg.tensor(1.5, dtype=rg.float64, requires_grad=True)
        (g_df, g_scale), _ = _mean_gradient(lambda d, s: D.StudentT(d, 0.0, s), (df, scale), lambda x: x * x)
        expected = (-2 * 1.5 ** 2 / 7 ** 2, 2 * 1.5 * 9 / 7)  # d/d(df, scale) of scale^2 df / (df - 2)
        got = (float(g_df), float(g_scale))
    np.testing.assert_allclose(got, expected, rtol=0.03, atol=2e-3)


def test_binomial_kl_needs_as_many_trials_in_p():
    p, q = D.Binomial(3, rg.tensor([0.4])), D.Binomial(5, rg.tensor([0.4]))
    with pytest.raises(NotImplementedError, match="KL between Binomials where q.total_count > p.total_count"):
        D.kl_divergence(p, q)
    assert D.kl_divergence(q, p).item() == math.inf
