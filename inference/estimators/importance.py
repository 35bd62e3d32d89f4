"""Importance-sampled log-likelihood per datapoint (Burda et al. 2015, eq. 14), the guide as proposal:
log p(x) ≈ logsumexp_k [log p(x, z_k) − log q(z_k|x)] − log K, z_k ~ q(z|x). Its expectation is a
lower bound on log p(x) that tightens as K grows, and it is ≥ the ELBO in expectation."""

from ..preflight import preflight
from .batching import per_point
from .uncertainty import GROUPS, flagged, group_sums, log_mean, merge


def log_likelihood_per_point(
    model,
    guide,
    x,
    num_samples: int = 1000,
    batch_size: int = 100,
    seed: int = 0,
    progress=False,
    with_error: bool = False,
):
    """Importance-sampled log p(x) of every point of ``x`` (nats), with the guide as proposal;
    with ``with_error``, :class:`~aevb.inference.estimators.uncertainty.PointEstimates` instead
    (the jackknife error over :data:`~aevb.inference.estimators.uncertainty.GROUPS` groups of
    interleaved samples, Kish's effective sample size, the flag). ``progress`` (True, or a
    description) reports the points done."""
    preflight(model, guide, x)
    groups = min(num_samples, GROUPS)

    def reduce(log_w, running):  # per point (B, groups, 3): batches of points are concatenated
        offset = 0 if running is None else int(running[0, :, 2].sum())
        chunk = group_sums(log_w, groups, offset=offset).transpose(0, 1)
        return chunk if running is None else merge(running, chunk)

    desc = progress if isinstance(progress, str) else f"IS log-likelihood (K={num_samples})"
    sums = per_point(model, guide, x, num_samples, reduce, batch_size, seed, progress and desc)
    points = flagged(*log_mean(sums.transpose(0, 1)))
    return points if with_error else points.value


def evaluate_log_likelihood(model, guide, x, num_samples: int = 1000, seed: int = 0, progress=False) -> float:
    """Importance-sampled test log-likelihood in nats per datapoint (larger is better)."""
    return (
        log_likelihood_per_point(model, guide, x, num_samples=num_samples, seed=seed, progress=progress).mean().item()
    )
