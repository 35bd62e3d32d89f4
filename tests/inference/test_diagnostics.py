"""ArviZ diagnostics against the linear-Gaussian oracle."""

import numpy as np
import torch

from conftest import linear_gaussian_problem
from aevb.guides.exact import ExactPosteriorGuide
from aevb.inference import diagnostics as diag


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
