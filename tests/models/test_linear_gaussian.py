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


def test_two_layer_closed_forms_match_the_program():
    """log p(x) = log p(x, z₁, z₂) − log p(z₁, z₂ | x) for any latents (the program's own joint
    against the closed-form marginal and posterior), and x drawn by running the program has the
    closed-form marginal's mean and covariance."""
    import pyro
    import pyro.poutine as poutine
    from conftest import two_layer_problem

    from aevb.inference.latents import log_joint_per_point

    model, _, x = two_layer_problem(num_test=50)
    posterior = model.posterior(x)
    z = posterior.sample()
    joint = log_joint_per_point(model, x, {"z1": z[:, :2], "z2": z[:, 2:]})
    torch.testing.assert_close(joint - posterior.log_prob(z), model.log_marginal(x), atol=2e-4, rtol=0)
    pyro.set_rng_seed(0)
    with torch.no_grad(), pyro.plate("draws", 40_000, dim=-2):
        drawn = poutine.trace(poutine.uncondition(model)).get_trace(x[:1], num_data=1).nodes["x"]["value"][:, 0]
    marginal = model.marginal()
    torch.testing.assert_close(drawn.mean(0), marginal.loc, atol=0.05, rtol=0)
    torch.testing.assert_close(torch.cov(drawn.T), marginal.covariance_matrix, atol=0.15, rtol=0.03)


def test_the_exact_posterior_guide_of_two_layers_gives_log_p_x():
    """q(z₁|x) q(z₂|z₁) = p(z₁, z₂ | x): every importance weight is p(x), so IS with 10 draws and the
    ELBO both equal log p(x); a guide with half the posterior's scale has an ELBO below it."""
    from conftest import two_layer_problem

    from aevb.guides.exact import ExactPosteriorGuide
    from aevb.inference import estimators

    model, _, x = two_layer_problem()
    exact = model.log_marginal(x)
    torch.testing.assert_close(
        estimators.log_likelihood_per_point(model, ExactPosteriorGuide(model), x, num_samples=10),
        exact,
        atol=1e-4,
        rtol=0,
    )
    torch.testing.assert_close(
        estimators.elbo_per_point(model, ExactPosteriorGuide(model), x, num_samples=10), exact, atol=1e-4, rtol=0
    )
    narrow = estimators.elbo_per_point(model, ExactPosteriorGuide(model, scale=0.5), x, num_samples=1000)
    assert (narrow < exact).all() and (exact - narrow).mean() > 0.5
