"""Standard errors that can be large, effective sample sizes and the flags they give."""

import math

import torch

from aevb.inference.estimators import batching
from aevb.inference.estimators.importance import log_likelihood_per_point
from aevb.inference.estimators.uncertainty import (
    MIN_ESS,
    PointEstimates,
    estimates,
    flag_note,
    summary,
)


def test_the_jackknife_error_matches_the_spread_over_repeats():
    """Log-normal weights (σ = 1), S = 64 per estimate, 4000 independent estimates in the columns:
    the mean reported error against the estimates' spread."""
    torch.manual_seed(0)
    log_w = torch.randn(64, 4000, dtype=torch.float64)
    points = estimates(log_w)
    spread = points.value.std().item()
    assert abs(points.error.mean().item() / spread - 1) < 0.1, (points.error.mean().item(), spread)


def test_one_dominant_weight_gives_a_large_error_and_a_flag():
    """The audit's case: one weight 108 nats above 63 others. The delta method reported 0.9999 (it
    is at most 1 by construction); the jackknife's error is the size of the jump, and the
    effective sample size of 1 flags the point."""
    log_w = torch.zeros(64, 2, dtype=torch.float64)
    log_w[5, 0] = 108.0
    points = estimates(log_w)
    assert points.error[0] > 10 and points.error[1] == 0
    assert points.ess[0] < 1.01 and abs(points.ess[1] - 64) < 1e-9
    assert points.reliable.tolist() == [False, True]
    # leaving out the one group that holds all the weight leaves nothing: an infinite error
    single = torch.full((4, 1), -math.inf, dtype=torch.float64)
    single[0, 0] = 0.0
    assert math.isinf(estimates(single).error.item())


def test_blocks_of_a_chain_count_its_correlation():
    """Log-weights from an AR(1) chain (ρ = 0.8, S = 200, 2000 independent chains in the columns):
    the error from contiguous blocks matches the spread of the estimate over the chains; treating
    the draws as independent understates it about threefold (√((1 + ρ)/(1 − ρ)) = 3)."""
    torch.manual_seed(0)
    rho, steps, chains = 0.8, 200, 2000
    log_w = torch.empty(steps, chains, dtype=torch.float64)
    log_w[0] = torch.randn(chains, dtype=torch.float64)
    for s in range(1, steps):
        log_w[s] = rho * log_w[s - 1] + math.sqrt(1 - rho**2) * torch.randn(chains, dtype=torch.float64)
    log_w = 0.5 * log_w
    blocked = estimates(log_w, groups=10, chain=True)
    spread = blocked.value.std().item()
    assert abs(blocked.error.mean().item() / spread - 1) < 0.2, (blocked.error.mean().item(), spread)
    assert estimates(log_w).error.mean().item() < 0.5 * spread
    assert (blocked.ess < estimates(log_w).ess).all()  # the chain's correlation lowers its ESS


def test_importance_sampling_in_chunks_gives_the_numbers_in_one_piece(monkeypatch):
    """The running group sums over sample chunks give the same estimate, error and ESS as one
    chunk holding every sample."""
    from conftest import linear_gaussian_problem

    from aevb.guides.exact import ExactPosteriorGuide

    model, _, x = linear_gaussian_problem(num_test=8, dtype=torch.float64)
    guide = ExactPosteriorGuide(model, scale=1.5)
    whole = log_likelihood_per_point(model, guide, x, num_samples=60, with_error=True)
    monkeypatch.setattr(batching, "MAX_CHUNK_ELEMENTS", 8 * 5 * 7)  # chunks of 7 samples
    chunked = log_likelihood_per_point(model, guide, x, num_samples=60, with_error=True)
    for a, b in zip(whole, chunked, strict=True):
        torch.testing.assert_close(a, b)
    assert (whole.error > 0).all() and (whole.ess > MIN_ESS).all()


def test_the_summary_leaves_out_refused_points_and_counts_the_flags():
    points = PointEstimates(
        value=torch.tensor([-1.0, math.nan, -3.0, -5.0]),
        error=torch.tensor([0.3, 0.1, 0.4, 0.0]),
        ess=torch.tensor([20.0, 2.0, 3.0, 30.0]),
        reliable=torch.tensor([True, False, False, True]),
    )
    result = summary(points)
    assert result["value"] == -3.0 and result["num_points"] == 4 and result["refused"] == 1
    assert result["unreliable"] == 2 and result["min_ess"] == 2.0
    assert abs(result["standard_error"] - 0.5 / 3) < 1e-7
    assert flag_note(result) == " (2 of 4 points unreliable, 1 of them refused)"
    assert flag_note(summary(PointEstimates(*(t[:1] for t in points)))) == ""
    torch.testing.assert_close(PointEstimates.stacked(points.columns()).value, points.value, equal_nan=True)
