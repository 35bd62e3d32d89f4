"""The ELBO per datapoint (§2.2): the mean over ``num_samples`` draws z ~ q(z|x) of
log p(x, z) − log q(z|x), an unbiased estimate of L(θ, φ; x); the number every algorithm's test
ELBO is."""

import torch

from ..preflight import preflight
from .batching import per_point
from .weights import elbo_terms


def elbo_per_point(
    model, guide, x, num_samples: int = 10, batch_size: int = 1000, seed: int = 0, progress=False
) -> torch.Tensor:
    """Monte Carlo ELBO of every point of ``x`` (nats), averaged over ``num_samples`` draws (a guide's
    enumerated discrete sites in expectation, exactly: :func:`~.weights.elbo_terms`); ``progress``
    (True, or a description) reports the points done."""
    preflight(model, guide, x)

    def reduce(log_w, running):
        total = log_w.sum(0)
        return total if running is None else running + total

    desc = progress if isinstance(progress, str) else f"ELBO ({num_samples} draws per point)"
    return (
        per_point(model, guide, x, num_samples, reduce, batch_size, seed, progress and desc, elbo_terms) / num_samples
    )


def evaluate_elbo(model, guide, x, num_samples: int = 10, seed: int = 0, progress=False) -> float:
    """Test ELBO in nats per datapoint (larger is better)."""
    return elbo_per_point(model, guide, x, num_samples=num_samples, seed=seed, progress=progress).mean().item()
