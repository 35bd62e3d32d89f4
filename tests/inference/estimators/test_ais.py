"""AIS and bidirectional Monte Carlo against exact log p(x): the anisotropic and two-layer oracles."""

import math

import pytest
import torch
from conftest import anisotropic_linear_gaussian, linear_gaussian_problem, two_layer_problem

from aevb.inference.estimators.ais import ais_log_likelihood
from aevb.inference.estimators.bdmc import bdmc, simulate
from aevb.inference.estimators.weights import log_mean_exp_with_error


@pytest.mark.slow
def test_ais_from_the_prior_holds_on_an_anisotropic_posterior():
    """Posterior standard deviations spanning a factor of 50, Figure 3's cost (300 steps, 16 chains,
    4 pilot chains). Measured: mean errors −0.104, −0.073, −0.046 for seeds 0–2 (−0.058 over
    seeds 0–5) with the adapted mass; −0.735, −0.749, −0.522 with the identity mass and no jitter."""
    model, x = anisotropic_linear_gaussian()
    exact = model.log_marginal(x)
    errors = [
        (ais_log_likelihood(model, x, num_steps=300, num_chains=16, seed=s) - exact).mean().item() for s in range(3)
    ]
    assert abs(sum(errors) / 3) < 0.1, errors
    identity = (ais_log_likelihood(model, x, num_steps=300, num_chains=16, adapt_mass=False) - exact).mean().item()
    assert identity < -0.4  # the problem is hard: the estimator without the adaptation fails it


def test_the_standard_error_matches_the_spread_over_repeats():
    """The delta-method standard error of a log-mean of S weights against the spread of the
    log-mean over 4000 independent repeats (log-normal weights, σ = 1, S = 64)."""
    torch.manual_seed(0)
    log_w = torch.randn(64, 4000, dtype=torch.float64)  # 4000 independent repeats in the columns
    estimate, error = log_mean_exp_with_error(log_w).unbind(-1)
    spread = estimate.std().item()
    assert abs(error.mean().item() / spread - 1) < 0.1, (error.mean().item(), spread)


def test_ais_reports_a_standard_error_per_point():
    model, _, x = linear_gaussian_problem(num_test=20)
    estimate, error = ais_log_likelihood(model, x, num_steps=50, num_chains=8, with_error=True)
    assert estimate.shape == error.shape == (20,) and (error > 0).all() and (error < 1).all()
    torch.testing.assert_close(estimate, ais_log_likelihood(model, x, num_steps=50, num_chains=8))


def test_simulated_points_come_with_exact_posterior_draws():
    """(z, x) ~ p(z) p(x|z): x follows the marginal, and z given x the exact posterior, checked by
    the standardised residuals (z − E[z|x]) / sd(z|x) having mean 0 and variance 1 (4000 draws)."""
    model, _, x_like = linear_gaussian_problem(num_test=4000)
    x, z = simulate(model, x_like, seed=0)
    marginal = model.marginal()
    assert (x.mean(0) - marginal.loc).abs().max() < 0.15
    posterior = model.posterior(x)
    residual = (z - posterior.loc) / posterior.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt()
    assert residual.mean(0).abs().max() < 0.08 and (residual.var(0) - 1).abs().max() < 0.1


def test_bdmc_sandwiches_the_exact_log_likelihood_on_an_anisotropic_posterior():
    """Measured: lower −0.063, upper +0.122 (gap 0.185) around the exact value for seed 0 of the
    chains; gaps 0.166 and 0.110 on average over seeds 0–2 for two sets of simulated points; with
    the identity mass the gap was 2.05."""
    model, x_like = anisotropic_linear_gaussian()
    x, z = simulate(model, x_like, seed=1)
    exact = model.log_marginal(x)
    sandwich = bdmc(model, x, z, num_steps=300, num_chains=16)
    assert (sandwich.lower - exact).mean() < 0 < (sandwich.upper - exact).mean()
    assert sandwich.gap.mean() < 0.2
    assert (sandwich.lower_error > 0).all() and (sandwich.upper_error > 0).all()


def test_bdmc_on_two_latent_sites():
    model, _, test = two_layer_problem()
    x, z = simulate(model, test, seed=0)
    exact = model.log_marginal(x)
    sandwich = bdmc(model, x, z, num_steps=200, num_chains=8)
    assert (sandwich.lower - exact).mean() < 0.02 and (sandwich.upper - exact).mean() > -0.02
    assert 0 < sandwich.gap.mean() < 0.2


def test_reverse_chains_started_away_from_the_posterior_do_not_bound_from_above():
    """The upper bound needs exact posterior draws: started at prior draws instead, the reverse
    estimate falls far below log p(x), so the test above checks something."""
    model, x_like = anisotropic_linear_gaussian(num_points=30)
    x, _ = simulate(model, x_like, seed=1)
    _, wrong = simulate(model, x_like, seed=2)  # z drawn for other points
    sandwich = bdmc(model, x, wrong, num_steps=100, num_chains=4)
    assert (sandwich.upper - model.log_marginal(x)).mean() < -1


def test_the_standard_error_of_correlated_draws_counts_their_effective_number():
    """Log-weights from an AR(1) chain (ρ = 0.8, S = 200, 2000 independent chains in the columns):
    the error with ``correlated=True`` matches the spread of the estimate over the chains; the
    independent-draws formula understates it about threefold (√((1 + ρ)/(1 − ρ)) = 3)."""
    torch.manual_seed(0)
    rho, steps, chains = 0.8, 200, 2000
    log_w = torch.empty(steps, chains, dtype=torch.float64)
    log_w[0] = torch.randn(chains, dtype=torch.float64)
    for s in range(1, steps):
        log_w[s] = rho * log_w[s - 1] + math.sqrt(1 - rho**2) * torch.randn(chains, dtype=torch.float64)
    log_w = 0.5 * log_w
    estimate, error = log_mean_exp_with_error(log_w, correlated=True).unbind(-1)
    spread = estimate.std().item()
    assert abs(error.mean().item() / spread - 1) < 0.15, (error.mean().item(), spread)
    naive = log_mean_exp_with_error(log_w)[:, 1].mean().item()
    assert naive < 0.5 * spread


def test_planar_and_radial_flows_get_ais_from_the_prior_and_a_refusal_from_the_guide():
    """AIS from the guide needs log q at points q did not draw, which planar and radial flows
    cannot give (no inverse): asked for directly it is refused before any work; through the
    registry (``--ll-estimator ais``) such a guide is scored by AIS from the prior, which is
    exactly the estimate without any guide."""
    from aevb.guides import make_guide
    from aevb.inference import LL_ESTIMATORS

    model, _, x = linear_gaussian_problem(num_test=6)
    for flow_type in ("planar", "radial"):
        flow = make_guide("flow", model, flow_type=flow_type)
        with pytest.raises(ValueError, match="does not declare density_anywhere"):
            ais_log_likelihood(model, x, guide=flow, num_steps=5)
        got = LL_ESTIMATORS["ais"].estimate(model, flow, x, num_samples=20)
        torch.testing.assert_close(got, LL_ESTIMATORS["ais"].estimate(model, None, x, num_samples=20))
        assert torch.isfinite(got).all()
