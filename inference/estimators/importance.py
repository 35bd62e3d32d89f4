"""Importance-sampled log-likelihood per datapoint (Burda et al. 2015, eq. 14), the guide as proposal:
log p(x) ≈ logsumexp_k [log p(x, z_k) − log q(z_k|x)] − log K, z_k ~ q(z|x). Its expectation is a
lower bound on log p(x) that tightens as K grows, and it is ≥ the ELBO in expectation."""

import math

import torch

from ..preflight import preflight
from .batching import per_point
from .weights import log_mean_standard_error


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
    with ``with_error``, also each point's standard error (:func:`log_mean_standard_error`) as a
    second tensor. ``progress`` (True, or a description) reports the points done."""
    preflight(model, guide, x)

    def reduce(log_w, running):
        chunk = torch.stack([torch.logsumexp(log_w, 0), torch.logsumexp(2 * log_w, 0)], -1)
        return chunk if running is None else torch.logaddexp(running, chunk)

    desc = progress if isinstance(progress, str) else f"IS log-likelihood (K={num_samples})"
    sums = per_point(model, guide, x, num_samples, reduce, batch_size, seed, progress and desc)
    estimate = sums[:, 0] - math.log(num_samples)
    return (estimate, log_mean_standard_error(sums[:, 0], sums[:, 1], num_samples)) if with_error else estimate


def evaluate_log_likelihood(model, guide, x, num_samples: int = 1000, seed: int = 0, progress=False) -> float:
    """Importance-sampled test log-likelihood in nats per datapoint (larger is better)."""
    return (
        log_likelihood_per_point(model, guide, x, num_samples=num_samples, seed=seed, progress=progress).mean().item()
    )
