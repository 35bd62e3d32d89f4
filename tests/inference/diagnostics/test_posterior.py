"""ArviZ diagnostics against the linear-Gaussian oracle."""

import numpy as np
import pytest
import torch
from conftest import linear_gaussian_problem

from aevb.guides.exact import ExactPosteriorGuide
from aevb.inference import diagnostics as diag


@pytest.mark.slow
def test_nuts_recovers_the_exact_posterior_and_converges():
    model, _, x = linear_gaussian_problem(num_test=3, dtype=torch.float64)
    idata, divergences = diag.nuts_inference_data(model, x, [7, 8, 9], num_chains=4, num_samples=1000, warmup_steps=400)
    assert set(idata.groups()) >= {"posterior", "sample_stats", "observed_data"}
    assert idata.posterior["z"].dims == ("chain", "draw", "point", "z_dim")
    assert list(idata.posterior["point"].values) == [7, 8, 9]
    summary, verdicts = diag.convergence(idata, divergences)
    exact = model.posterior(x).loc.detach().numpy().reshape(-1)
    assert (np.abs(summary["mean"].to_numpy() - exact) < 4 * summary["mcse_mean"].to_numpy()).all()
    assert (summary["r_hat"] < 1.01).all() and (summary["ess_bulk"] > 400).all()
    assert divergences == 0 and set(verdicts.values()) == {"converged"}


def test_psis_khat_separates_a_good_guide_from_a_shrunk_one():
    model, _, x = linear_gaussian_problem(num_test=5, dtype=torch.float64)
    exact = model.log_marginal(x).detach().numpy()
    good = diag.psis(model, ExactPosteriorGuide(model), x, num_samples=10_000)
    assert (good["khat"] < 0.5).all()
    np.testing.assert_allclose(good["psis_log_likelihood"], exact, atol=1e-6)
    # Scale shrunk 3x: the weights' tail index is k = 1 - 1/9 ≈ 0.89; 10,000 draws give
    # PSIS about 300 tail samples to estimate it from.
    bad = diag.psis(model, ExactPosteriorGuide(model, scale=1 / 3), x, num_samples=10_000)
    assert (bad["khat"] > 0.7).all()
    assert [diag.khat_verdict(k) for k in (0.3, 0.6, 0.9)] == ["good", "usable", "not to be trusted"]


def test_hmc_chains_of_mcem_get_the_same_summary():
    model, _, x = linear_gaussian_problem(num_test=2, dtype=torch.float64)
    idata = diag.hmc_inference_data(model, x, [0, 1], num_chains=4, num_samples=300, warmup_steps=300)
    summary, verdicts = diag.convergence(idata)
    assert list(summary.columns[:4]) == ["mean", "sd", "hdi_3%", "hdi_97%"] and "r_hat" in summary.columns
    assert idata.posterior["z"].shape == (4, 300, 2, 2) and set(verdicts) == {"0", "1"}


@pytest.mark.slow
def test_every_local_site_is_a_variable_and_nuts_recovers_both_exact_posteriors():
    """Two latent sites (z₂ → z₁ → x): one InferenceData variable per site, with its own dimension;
    NUTS's posterior means of both equal the exact ones within 4 Monte Carlo standard errors, PSIS
    with the exact two-site posterior as guide gives k̂ < 0.5 and log p(x) exactly, and MCEM's
    sampler reports both sites too."""
    from conftest import two_layer_problem

    model, _, x = two_layer_problem(num_test=2)
    model, x = model.double(), x.double()
    idata, divergences = diag.nuts_inference_data(model, x, [4, 9], num_chains=4, num_samples=600, warmup_steps=300)
    assert set(idata.posterior.data_vars) == {"z1", "z2"}
    assert idata.posterior["z1"].dims == ("chain", "draw", "point", "z1_dim") and idata.posterior["z2"].shape == (
        4,
        600,
        2,
        1,
    )
    summary, verdicts = diag.convergence(idata, divergences)
    exact = model.posterior(x).loc.detach().numpy()  # [z1 (2), z2 (1)] per point
    for site, columns in (("z1", slice(0, 2)), ("z2", slice(2, 3))):
        rows = summary.loc[[label for label in summary.index if label.startswith(site + "[")]]
        assert (
            np.abs(rows["mean"].to_numpy() - exact[:, columns].reshape(-1)) < 4 * rows["mcse_mean"].to_numpy()
        ).all(), site
    assert set(verdicts) == {"4", "9"}
    result = diag.psis(model, ExactPosteriorGuide(model), x, num_samples=5000)
    assert (result["khat"] < 0.5).all()
    np.testing.assert_allclose(result["psis_log_likelihood"], model.log_marginal(x).detach().numpy(), atol=1e-6)
    hmc = diag.hmc_inference_data(model, x, [4, 9], num_chains=4, num_samples=50, warmup_steps=50)
    assert set(hmc.posterior.data_vars) == {"z1", "z2"} and hmc.posterior["z1"].shape == (4, 50, 2, 2)


def test_active_units_find_the_latent_dimension_the_data_does_not_depend_on():
    """x ignores z's second dimension (a zero column of W): its exact posterior mean is 0 for
    every x, so it is the one inactive unit; the others vary with x. In the two-layer oracle,
    z₂'s posterior mean is averaged over draws of z₁ and still found active."""
    from conftest import two_layer_problem

    model, _, x = linear_gaussian_problem(latent_dim=3, num_test=500, dtype=torch.float64)
    with torch.no_grad():
        model.decoder.linear.weight[:, 1] = 0.0
    variances = diag.active_units(ExactPosteriorGuide(model), x, num_samples=10, batch_size=128)
    assert set(variances) == {"z"} and variances["z"].shape == (3,)
    assert variances["z"][1] < 1e-20 and (variances["z"][[0, 2]] > 0.1).all()
    two_layer, _, x2 = two_layer_problem(num_test=500)
    variances = diag.active_units(ExactPosteriorGuide(two_layer.double()), x2.double(), num_samples=50)
    assert variances["z1"].shape == (2,) and variances["z2"].shape == (1,)
    assert (variances["z1"] > diag.ACTIVE_UNIT_THRESHOLD).all() and (variances["z2"] > diag.ACTIVE_UNIT_THRESHOLD).all()
    from aevb.guides import make_guide

    flow = diag.active_units(make_guide("flow", model.float()), x.float(), num_samples=5)  # no closed-form mean: draws
    assert flow["z"].shape == (3,) and torch.isfinite(flow["z"]).all() and (flow["z"] > 0).all()
