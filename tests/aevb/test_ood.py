"""Out-of-distribution detection: AUROC and AUPR by hand, against their definitions, and on the
linear-Gaussian oracle where the answer is known; the input-complexity estimate."""

import itertools
import math

import numpy as np
import pytest
import torch
from conftest import linear_gaussian_problem
from scipy.stats import f as f_distribution

from aevb.data import DataError
from aevb.data.complexity import COMPRESSORS, compressed_bits
from aevb.guides.exact import ExactPosteriorGuide
from aevb.inference.estimators import LL_ESTIMATORS
from aevb.ood import aupr, auroc, corrected_bits, detection


def test_auroc_and_aupr_by_hand():
    assert auroc([3.0, 4.0, 5.0], [1.0, 2.0]) == 1.0 and aupr([3.0, 4.0, 5.0], [1.0, 2.0]) == 1.0
    assert auroc([1.0, 2.0], [3.0, 4.0]) == 0.0  # the model prefers the outliers: Nalisnick et al.'s failure
    assert auroc([1.0], [1.0]) == 0.5
    # ranked from the lowest score: in (0.5), out (1), in (2), out (3): precision 1/2 at recall 1/2, 2/4 at 1
    assert aupr([0.5, 2.0], [1.0, 3.0]) == pytest.approx(0.5)
    assert detection([0.5, 2.0], [1.0, 3.0, 4.0])["aupr_chance"] == pytest.approx(0.6)


def brute_auroc(a, b):
    return np.mean([1.0 if x > y else 0.5 if x == y else 0.0 for x, y in itertools.product(a, b)])


def brute_aupr(a, b):
    """Average precision from its definition: every distinct threshold t, the points scoring <= t flagged."""
    scores = np.concatenate([a, b])
    total, recall_before = 0.0, 0.0
    for t in np.unique(scores):
        found = (b <= t).sum()
        flagged = (scores <= t).sum()
        recall = found / len(b)
        total += (recall - recall_before) * found / flagged
        recall_before = recall
    return total


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_and_aupr_agree_with_their_definitions_with_ties(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 12, 40).astype(float), rng.integers(-3, 9, 25).astype(float)  # many ties
    assert auroc(a, b) == pytest.approx(brute_auroc(a, b), abs=1e-12)
    assert aupr(a, b) == pytest.approx(brute_aupr(a, b), abs=1e-12)


def test_refused_points_are_not_scored_silently():
    with pytest.raises(ValueError, match="NaN or infinite"):
        auroc([1.0, float("nan")], [0.0])
    with pytest.raises(ValueError, match="no out-of-distribution scores"):
        aupr([1.0], [])


def test_auroc_of_the_estimated_log_likelihood_on_the_oracle_is_the_known_answer():
    """In-distribution points from the linear-Gaussian model's marginal N(b, C), outliers from
    N(b, s² C): −2 log p(x) is a constant plus a χ² with D degrees of freedom (scaled by s² for the
    outliers), so AUROC = P(χ²_in < s² χ²_out) = F_{D,D}(s²), exactly. Scored as a user scores them:
    IS with the (exact-posterior) guide, through the registry."""
    model, _, _ = linear_gaussian_problem(data_dim=5, latent_dim=2, dtype=torch.float64)
    marginal, s, n = model.marginal(), 1.3, 2000
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(2 * n, 5, generator=g, dtype=torch.float64) @ marginal.scale_tril.T
    inside, outside = marginal.loc + noise[:n], marginal.loc + s * noise[n:]
    estimate = LL_ESTIMATORS["is"].estimate
    guide = ExactPosteriorGuide(model)
    log_p_in = estimate(model, guide, inside, num_samples=5)
    log_p_out = estimate(model, guide, outside, num_samples=5)
    assert torch.allclose(log_p_in, model.log_marginal(inside), atol=1e-6)  # the exact posterior: IS is exact
    known = f_distribution.cdf(s**2, 5, 5)  # 0.71
    found = detection(log_p_in, log_p_out)
    # the sampling error of an AUROC from 2000 + 2000 points is about 0.008
    assert found["auroc"] == pytest.approx(known, abs=0.03), (found, known)
    assert found["aupr"] > found["aupr_chance"] + 0.1


def test_compressed_length_grows_with_the_input_complexity():
    g = torch.Generator().manual_seed(0)
    blank, stripes = torch.zeros(1, 28 * 28), (torch.arange(28 * 28) % 2).float()[None]
    noise = torch.bernoulli(torch.full((1, 28 * 28), 0.5), generator=g)
    for method in COMPRESSORS:
        bits = compressed_bits(torch.cat([blank, stripes, noise]), (28, 28), method)
        assert bits.dtype == torch.float64 and bits[0] < bits[1] < bits[2], (method, bits)
        assert bits[2] > 0.9 * 28 * 28  # a fair coin per pixel cannot be compressed below a bit each
    colour = compressed_bits(torch.rand(2, 3 * 8 * 8, generator=g), (3, 8, 8), "png")
    assert colour.shape == (2,)
    with pytest.raises(DataError, match="not images of shape"):
        compressed_bits(blank, (20, 28))
    with pytest.raises(DataError, match="complexity must be one of"):
        compressed_bits(blank, (28, 28), "gzip")


def test_corrected_score_is_log2_p_plus_the_complexity():
    value = corrected_bits(torch.tensor([-math.log(2) * 10]), torch.tensor([25.0]))
    assert value.item() == pytest.approx(15.0)
