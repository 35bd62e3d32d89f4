"""Discrete latent sites: every algorithm and estimator that declares ``handles_discrete`` against the
exact log p(x) of a mixture of linear-Gaussian models (y ~ Cat, z ~ N(0, I), x | y, z linear-Gaussian),
and the rest refused with their declarations."""

import math

import pytest
import torch

from aevb.guides.exact import ExactMixtureGuide
from aevb.inference import ALGORITHMS, LL_ESTIMATORS
from aevb.inference.algorithms.aevb import AEVB
from aevb.inference.algorithms.iwae import IWAE
from aevb.inference.capabilities import capabilities
from aevb.inference.estimators import elbo_per_point
from aevb.inference.estimators.weights import log_importance_weights
from aevb.inference.rules import CombinationError, check
from aevb.models.mixture import LinearGaussianMixture


@pytest.fixture(scope="module")
def mixture():
    """Components close enough (spread 0.5) that p(y | x) is far from one-hot for a third of the points."""
    model = LinearGaussianMixture(spread=0.5, seed=0)
    x, _, _ = model.simulate(20, torch.Generator().manual_seed(0))
    assert (model.posterior_y(x).exp().max(-1).values < 0.9).sum() >= 5
    return model, x, model.log_marginal(x)


@pytest.mark.parametrize("enumerate_y", [True, False], ids=["guide-enumerates-y", "model-sums-y"])
def test_the_exact_posterior_gives_every_weight_and_the_elbo_equal_to_log_p(mixture, enumerate_y):
    model, x, exact = mixture
    guide = ExactMixtureGuide(model, enumerate_y=enumerate_y)
    log_w = log_importance_weights(model, guide, x, 4)
    if enumerate_y:  # each weight sums y exactly: Σ_y p(x, y, z_y) / p(z_y | x, y) = Σ_y p(x, y) = p(x)
        torch.testing.assert_close(log_w, exact.expand(4, -1), atol=1e-4, rtol=0)
        # the ELBO takes q(y|x) = p(y|x) in expectation, exactly: it equals log p(x) too
        torch.testing.assert_close(elbo_per_point(model, guide, x, 2), exact, atol=1e-4, rtol=0)
    else:  # a one-Gaussian guide for a mixture posterior: the ELBO is below log p(x) where y is uncertain
        assert (elbo_per_point(model, guide, x, 50) < exact + 1e-4).all()


@pytest.mark.parametrize("enumerate_y", [True, False], ids=["guide-enumerates-y", "model-sums-y"])
def test_importance_sampling_is_within_0_05_nats_with_a_widened_guide(mixture, enumerate_y):
    model, x, exact = mixture
    guide = ExactMixtureGuide(model, widen=1.5, enumerate_y=enumerate_y)
    estimate = LL_ESTIMATORS["is"].estimate(model, guide, x, num_samples=5000)
    assert abs((estimate - exact).mean().item()) < 0.05, (estimate - exact).mean().item()


def test_ais_sums_y_inside_the_target_and_is_within_0_15_nats(mixture):
    model, x, exact = mixture
    estimate = LL_ESTIMATORS["ais"].estimate(model, ExactMixtureGuide(model), x, num_samples=200)
    assert abs((estimate - exact).mean().item()) < 0.15, (estimate - exact).mean().item()


def test_aevb_sums_y_by_pyros_enumeration_and_iwae_inside_each_weight(mixture):
    model, x, exact = mixture
    full = -(40 / len(x)) * exact.sum().item()  # minus the bound on 40 points from these 20, at the exact posterior
    aevb = AEVB(model, ExactMixtureGuide(model))
    assert math.isclose(aevb.loss_fn.elbo.loss(model, aevb.guide, x, num_data=40), full, rel_tol=1e-5)
    iwae = IWAE(model, ExactMixtureGuide(model, widen=1.5), num_particles=3)
    bound = iwae.bound(x, num_data=40)
    assert bound.item() < -full and bound.item() > -full - 40  # a bound, close: within a nat per point


def test_what_cannot_sum_y_is_refused_with_its_declaration(mixture):
    model, x, _ = mixture
    for name, algorithm in ALGORITHMS.items():
        if capabilities(algorithm, "algorithm").handles_discrete:
            continue
        with pytest.raises(CombinationError, match="does not declare handles_discrete.*declares discrete_latents"):
            check(algorithm, model=model)
    with pytest.raises(CombinationError, match="appendix-d does not declare handles_discrete"):
        LL_ESTIMATORS["appendix-d"].estimate(model, None, x, num_samples=10)
    assert {n for n, a in ALGORITHMS.items() if capabilities(a, "algorithm").handles_discrete} == {"aevb", "iwae"}
