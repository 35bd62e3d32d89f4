"""The IWAE bound with a subsampled data plate."""

import math

import pyro
import pytest
import torch
from conftest import binary_data, linear_gaussian_problem, tiny_model_and_guide
from pyro.infer import Trace_ELBO

from aevb.guides.exact import ExactPosteriorGuide
from aevb.inference.algorithms.iwae import IWAE


def test_equals_log_p_x_times_n_over_m_with_the_exact_posterior():
    """With q = p(z|x) every importance weight is p(x): the bound is exactly (N/M) Σᵢ log p(xᵢ)
    for any k: the N/M scale is applied after the logsumexp (RenyiELBO's is not)."""
    truth, x, _ = linear_gaussian_problem(num_train=20, dtype=torch.float64)
    for k in (1, 5):
        bound = IWAE(truth, ExactPosteriorGuide(truth), num_particles=k).bound(x[:8], num_data=20)
        torch.testing.assert_close(bound, truth.log_marginal(x[:8]).sum() * 20 / 8)


def test_k_equal_one_is_estimator_a():
    model, guide = tiny_model_and_guide()
    x = binary_data(5, 6)
    pyro.set_rng_seed(3)
    ours = IWAE(model, guide, num_particles=1).bound(x, num_data=50)
    pyro.set_rng_seed(3)
    trace_elbo = -Trace_ELBO().differentiable_loss(model, guide, x, num_data=50)
    torch.testing.assert_close(ours, trace_elbo)


def test_bound_grows_with_k_and_gradients_reach_theta_and_phi():
    model, guide = tiny_model_and_guide()
    x = binary_data(20, 6)
    means = {}
    for k in (1, 5, 50):
        pyro.set_rng_seed(0)
        with torch.no_grad():
            draws = torch.stack([IWAE(model, guide, num_particles=k).bound(x, num_data=20) for _ in range(200)])
        means[k] = (draws.mean().item(), draws.std().item() / math.sqrt(200))
    assert means[1][0] + 3 * means[1][1] < means[5][0] < means[50][0] - 3 * means[50][1]
    algorithm = IWAE(model, guide, num_particles=5)
    algorithm.step(x, num_data=20)[0].backward()
    for module in (model, guide):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def test_rejects_bad_k():
    model, guide = tiny_model_and_guide()
    with pytest.raises(ValueError, match="positive integer"):
        IWAE(model, guide, num_particles=0)
