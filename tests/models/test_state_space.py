"""The Kalman oracle: a linear-Gaussian state-space model on sequences of different lengths, whose
log p(x_{1:T}) is known exactly, against every estimator that applies."""

import pytest
import torch

from aevb.inference import LL_ESTIMATORS
from aevb.inference.estimators.elbo import elbo_per_point
from aevb.inference.estimators.importance import log_likelihood_per_point
from aevb.inference.estimators.weights import log_importance_weights
from aevb.models import ExactStateSpaceGuide, LinearStateSpace

STEPS = 5


def sequences(model, count, seed=1):
    """``count`` sequences drawn from the model, of lengths 1..STEPS, packed."""
    torch.manual_seed(seed)
    return model.simulate(torch.randint(1, STEPS + 1, (count,)))


@pytest.fixture(scope="module")
def oracle():
    model = LinearStateSpace.random(steps=STEPS, width=3, size=2, dtype=torch.float64)
    return model, sequences(model, 40)


def test_kalman_filter_equals_the_joint_gaussian(oracle):
    model, x = oracle
    torch.testing.assert_close(model.log_marginal(x), model.log_marginal_dense(x))


def test_every_weight_of_the_exact_posterior_is_the_marginal(oracle):
    """log p(x, z) − log p(z|x) = log p(x) at every draw, padding included: the model's and the
    guide's N(0, I) past each sequence's end cancel exactly, and only a sequence's steps are scored."""
    model, x = oracle
    log_w = log_importance_weights(model, ExactStateSpaceGuide(model), x, 7)
    torch.testing.assert_close(log_w, model.log_marginal(x).expand(7, -1))


def test_a_sequence_scores_the_same_packed_in_longer_rows():
    """Padding changes nothing: the same sequences in rows of 5 and of 8 steps have the same log p."""
    short = LinearStateSpace.random(steps=STEPS, dtype=torch.float64)
    long = LinearStateSpace(short.A, short.C, short.c, float(short.q), float(short.r), steps=8)
    x = sequences(short, 10)
    width = short.sequence.width + 1
    padded = torch.cat([x, x.new_zeros(len(x), 3 * width)], dim=1)
    torch.testing.assert_close(long.log_marginal(padded), short.log_marginal(x))
    exact = log_importance_weights(long, ExactStateSpaceGuide(long), padded, 3)
    torch.testing.assert_close(exact, short.log_marginal(x).expand(3, -1))


def test_importance_sampling_with_a_wrong_proposal_is_within_005_nats(oracle):
    """The posterior widened by 1.3: every weight differs, and IS with K = 2000 still finds log p(x)."""
    model, x = oracle
    guide = ExactStateSpaceGuide(model, widen=1.3)
    exact = model.log_marginal(x)
    estimate = log_likelihood_per_point(model, guide, x, num_samples=2000, seed=0)
    assert (estimate - exact).mean().abs() < 0.05
    elbo = elbo_per_point(model, guide, x, num_samples=200, seed=0)
    assert (elbo - exact).mean() < -0.05  # a bound, strictly below for a wrong q


@pytest.mark.parametrize("start", ["prior", "guide"])
def test_ais_is_within_015_nats(oracle, start):
    """AIS over a sequence's latents (steps × size numbers, padding's N(0, I) included): from the
    prior (no guide given) and from the widened posterior."""
    model, x = oracle
    guide = ExactStateSpaceGuide(model, widen=1.3) if start == "guide" else None
    exact = model.log_marginal(x[:16])
    estimate = LL_ESTIMATORS["ais"].estimate(model, guide, x[:16], num_samples=200, seed=0)
    assert (estimate - exact).mean().abs() < 0.15
