"""How far to trust one point's estimate of log p(x): its standard error, its effective sample
size, and the flag the two give, shared by IS, AIS, BDMC and Appendix D.

Every one of these estimators ends in log((1/S) Σₛ wₛ) for S weights (importance weights, AIS
chains' weights, or Appendix D's ratios). Its error used to come from the delta method,
√((S Σw² / (Σw)² − 1) / (S − 1)), which is at most 1 by construction: one weight 108 nats above
the rest reported 0.9999. Here it is a **jackknife over groups** of the weights: with the S weights
in G groups, θ₋g is the log-mean without group g, and

    se = √((G − 1)/G · Σ_g (θ₋g − mean θ₋)²),

which grows with how much any one group moves the estimate, without bound (infinite when one
group holds all the weight). Groups are chains for AIS, interleaved samples for IS (independent
draws), and contiguous blocks of the chain for Appendix D (consecutive HMC draws are correlated;
blocks longer than the correlation make the block means nearly independent, the batch-means
idea). Asymptotically it agrees with the delta method where that one is right.

The **effective sample size** is Kish's (Σw)² / Σw², how many equal weights the S weights are
worth, multiplied for a Markov chain by its autocorrelation ESS over S. A standard error is an
estimate from the same weights, and with the mass on fewer than :data:`MIN_ESS` of them it
cannot see the weights that were not drawn: such points are flagged ``reliable = False``.

Neither says anything about *bias*: an estimator whose chains never reach part of the posterior
can be confidently wrong with a small error and a large ESS. That is what BDMC's gap bounds
(on simulated data), and what Appendix D's mixing checks look for.
"""

import math
from typing import NamedTuple

import torch
from pyro.ops.stats import effective_sample_size

#: Points whose weights are worth fewer than this many equal ones are flagged unreliable.
MIN_ESS = 5.0
#: Groups the jackknife uses at most (AIS: one per chain up to this many).
GROUPS = 20


class PointEstimates(NamedTuple):
    """Per point: the estimate of log p(x), its jackknife standard error, its effective sample
    size, and whether it can be trusted (ESS ≥ :data:`MIN_ESS`, and the estimator's own checks).
    A point an estimator refuses to estimate has ``value`` NaN."""

    value: torch.Tensor
    error: torch.Tensor
    ess: torch.Tensor
    reliable: torch.Tensor

    @classmethod
    def stacked(cls, columns: torch.Tensor) -> "PointEstimates":
        """From the (B, 4) columns :meth:`columns` wrote (how batches of points travel)."""
        value, error, ess, reliable = columns.unbind(-1)
        return cls(value, error, ess, reliable > 0.5)

    def columns(self) -> torch.Tensor:
        return torch.stack([self.value, self.error, self.ess, self.reliable.to(self.value.dtype)], -1)


def group_sums(log_w: torch.Tensor, groups: int, contiguous: bool = False, offset: int = 0) -> torch.Tensor:
    """(log Σ w, log Σ w², count) of each of ``groups`` groups of the weights ``log_w`` (S, B):
    shape (groups, B, 3). Sample s (counted from ``offset``, for sums accumulated over chunks of
    samples) goes to group s mod groups, or, with ``contiguous`` (one chunk, ``offset`` 0), to
    consecutive blocks of S / groups."""
    count = log_w.shape[0]
    index = torch.arange(offset, offset + count, device=log_w.device)
    which = index * groups // count if contiguous else index % groups
    rows = []
    for g in range(groups):
        part = log_w[which == g]
        n = part.new_full(part.shape[1:], float(len(part)))
        rows.append(torch.stack([torch.logsumexp(part, 0), torch.logsumexp(2 * part, 0), n], -1))
    return torch.stack(rows)


def merge(sums: torch.Tensor, more: torch.Tensor) -> torch.Tensor:
    """Two groupings' sums of the same groups added (log-sums by logaddexp, counts by +)."""
    return torch.cat([torch.logaddexp(sums[..., :2], more[..., :2]), sums[..., 2:] + more[..., 2:]], -1)


def log_mean(sums: torch.Tensor) -> tuple:
    """(log-mean estimate, jackknife standard error, Kish ESS) per point from group sums (G, B, 3)."""
    log_sum, log_sum_sq, count = sums.unbind(-1)
    total_count = count.sum(0)
    total = torch.logsumexp(log_sum, 0)
    estimate = total - total_count.log()
    kish = torch.exp(2 * total - torch.logsumexp(log_sum_sq, 0))
    groups = sums.shape[0]
    if groups < 2:
        return estimate, torch.full_like(estimate, math.nan), kish
    # leave-one-group-out log-means, each a logsumexp over the other groups (no cancellation)
    others = ~torch.eye(groups, dtype=torch.bool, device=sums.device)
    masked = torch.where(others.unsqueeze(-1), log_sum.unsqueeze(0), torch.full_like(log_sum, -math.inf).unsqueeze(0))
    loo = torch.logsumexp(masked, 1) - (total_count - count).log()
    finite = torch.isfinite(loo).all(0)
    spread = ((loo - loo.mean(0)).pow(2).sum(0) * (groups - 1) / groups).sqrt()
    error = torch.where(finite, spread, torch.full_like(spread, math.inf))
    return estimate, error, kish


def flagged(value: torch.Tensor, error: torch.Tensor, ess: torch.Tensor, checks: torch.Tensor = None) -> PointEstimates:
    """:class:`PointEstimates` flagged unreliable where the ESS is below :data:`MIN_ESS` or the
    estimator's own ``checks`` (a boolean per point) failed."""
    reliable = ess >= MIN_ESS
    return PointEstimates(value, error, ess, reliable if checks is None else reliable & checks)


def estimates(log_w: torch.Tensor, groups: int = None, chain: bool = False) -> PointEstimates:
    """:class:`PointEstimates` of log((1/S) Σ w) from log-weights (S, B), over ``groups`` groups
    (default: one per weight, at most :data:`GROUPS`) of interleaved weights, or, with ``chain``
    (consecutive draws of a Markov chain), of contiguous blocks, the ESS then multiplied by the
    chain's autocorrelation ESS over S."""
    count = log_w.shape[0]
    value, error, ess = log_mean(group_sums(log_w, groups or min(count, GROUPS), contiguous=chain))
    if chain:
        weights = torch.exp(log_w - torch.logsumexp(log_w, 0))  # normalised per point
        along = effective_sample_size(weights.unsqueeze(0), chain_dim=0, sample_dim=1).clamp(min=1, max=count)
        ess = ess * along / count
    return flagged(value, error, ess)


def summary(points: PointEstimates) -> dict:
    """The average over points an estimate reports, with what the flags say: ``value`` the mean of
    the points with a value (an estimator's refused points, NaN, are left out), ``standard_error``
    √(Σ se²)/n over them (the estimator's own noise with the points held fixed; the points' spread
    is not part of it), ``num_points`` the points scored, ``refused`` those without a value,
    ``unreliable`` those flagged (refused ones included)."""
    has_value = torch.isfinite(points.value)
    n = int(has_value.sum())
    value = points.value[has_value].mean().item() if n else math.nan
    error = (points.error[has_value].square().sum().sqrt() / n).item() if n else math.nan
    return {
        "value": value,
        "standard_error": error,
        "num_points": len(points.value),
        "refused": len(points.value) - n,
        "unreliable": int((~points.reliable).sum()),
        "min_ess": points.ess.min().item() if len(points.ess) else math.nan,
    }


def flag_note(result: dict) -> str:
    """What a :func:`summary` says about its flags, for a table cell or a printed line: "" when no
    point is flagged, else e.g. " (3 of 100 points unreliable, 2 of them refused)"."""
    unreliable, refused = result.get("unreliable", 0), result.get("refused", 0)
    if not unreliable:
        return ""
    total = result.get("num_points", 0)
    tail = f", {refused} of them refused" if refused else ""
    return f" ({unreliable} of {total} points unreliable{tail})"
