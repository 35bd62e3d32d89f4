"""Out-of-distribution detection by a score per point: AUROC, AUPR and the complexity-corrected score.

A score is higher for points the model finds more typical of its data (log p(x), or the corrected
score below). Out-of-distribution points are the *positive* class, detected by a *low* score:

* **AUROC** is the probability that a random in-distribution point scores higher than a random
  out-of-distribution one (ties count one half): 1 separates them perfectly, 0.5 is chance, and
  below 0.5 the model prefers the outliers (Nalisnick et al. 2019's finding for likelihoods);
* **AUPR** is the average precision of finding the out-of-distribution points by ranking every
  point from the lowest score up (scikit-learn's ``average_precision_score`` with the outliers
  as positives and minus the score as theirs); chance is the outliers' share of the points.

The **complexity-corrected score** (Serrà et al. 2020) is log₂ p(x) + L(x), in bits, with L(x) the
input's compressed length (:mod:`aevb.data.complexity`): minus their S(x), so higher is still
more typical.
"""

import math

import numpy as np
import torch
from scipy.stats import rankdata


def corrected_bits(log_p: torch.Tensor, complexity_bits: torch.Tensor) -> torch.Tensor:
    """log₂ p(x) + L(x) (bits) from log p(x) in nats and L(x) in bits."""
    return log_p.double() / math.log(2) + complexity_bits.double().to(log_p.device)


def _finite(scores, name: str) -> np.ndarray:
    values = np.asarray(torch.as_tensor(scores).double().cpu(), dtype=np.float64).reshape(-1)
    if len(values) == 0:
        raise ValueError(f"no {name} scores")
    if not np.isfinite(values).all():
        raise ValueError(f"the {name} scores hold NaN or infinite values (points an estimator refused?)")
    return values


def auroc(inside, outside) -> float:
    """P(score of an in-distribution point > score of an outlier) + ½ P(equal): the Mann–Whitney
    statistic from the ranks of all the scores (ties get their average rank)."""
    a, b = _finite(inside, "in-distribution"), _finite(outside, "out-of-distribution")
    ranks = rankdata(np.concatenate([a, b]))
    return float((ranks[: len(a)].sum() - len(a) * (len(a) + 1) / 2) / (len(a) * len(b)))


def aupr(inside, outside) -> float:
    """Average precision of the outliers ranked from the lowest score up: Σ over distinct scores of
    (recall gained there) × (precision there), tied scores taken as one threshold."""
    a, b = _finite(inside, "in-distribution"), _finite(outside, "out-of-distribution")
    scores = np.concatenate([a, b])
    positive = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    order = np.argsort(scores, kind="mergesort")
    scores, positive = scores[order], positive[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    found = np.cumsum(positive)[last_of_tie]
    precision = found / (last_of_tie + 1)
    recall_gained = np.diff(np.r_[0.0, found]) / len(b)
    return float((recall_gained * precision).sum())


def detection(inside, outside) -> dict:
    """AUROC and AUPR of one score (see the module docstring), with the chance level of the AUPR."""
    a, b = _finite(inside, "in-distribution"), _finite(outside, "out-of-distribution")
    return {"auroc": auroc(a, b), "aupr": aupr(a, b), "aupr_chance": len(b) / (len(a) + len(b))}
