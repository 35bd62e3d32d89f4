import pytest
import torch

from conftest import linear_gaussian_problem
from aevb.models.linear_gaussian import LinearGaussianModel


def test_closed_forms_satisfy_bayes_rule_at_every_z():
    """log p(x) = log p(x, z) − log p(z|x) for any z holds only if marginal and posterior are both exact."""
    model, x, _ = linear_gaussian_problem(num_train=7, num_test=0, dtype=torch.float64)
    z = torch.randn(3, 7, 2, dtype=torch.float64) * 2
    log_joint = model.prior(x).log_prob(z) + model.likelihood(z).log_prob(x)
    identity = log_joint - model.posterior(x).log_prob(z)
    torch.testing.assert_close(identity, model.log_marginal(x).expand(3, 7))


def test_maximum_likelihood_solution_is_a_maximum():
    truth, x, _ = linear_gaussian_problem(num_train=500, dtype=torch.float64)
    ml = LinearGaussianModel.maximum_likelihood(x, latent_dim=2)
    best = ml.log_marginal(x).sum()
    assert best >= truth.log_marginal(x).sum()
    for p in ml.parameters():  # the gradient vanishes at the maximum
        p.grad = None
    ml.log_marginal(x).sum().backward()
    for p in ml.parameters():
        assert p.grad.abs().max() < 1e-6 * len(x)
    with torch.no_grad():  # and every perturbation lowers the likelihood
        for p in ml.parameters():
            p.add_(1e-2 * torch.randn_like(p))
    assert ml.log_marginal(x).sum() < best


def test_rejects_bad_sizes():
    with pytest.raises(ValueError, match="positive integer"):
        LinearGaussianModel(0, 2)
    with pytest.raises(ValueError, match="smaller than the data dimension"):
        LinearGaussianModel.maximum_likelihood(torch.randn(10, 3), latent_dim=3)
