"""The test log-likelihood estimators, in one registry with one per-point signature.

``LL_ESTIMATORS[name].estimate(model, guide, x, *, num_samples, seed, progress, with_error)``
returns the estimate of log p(xᵢ) of every row of ``x`` (nats), and with ``with_error`` also each
row's Monte Carlo standard error (a second tensor; :func:`monte_carlo_error` combines them into
the error of an average over points). The runs (``--ll-estimator``), the training
curves of the paper's figures and the diagnostics all read this registry, so a number called
"IS", "Appendix D" or "AIS" is computed by one piece of code wherever it appears. What each
estimator needs is declared beside it and read by the combination rules.
"""

from dataclasses import dataclass
from typing import Callable

import torch

from .evaluate import log_likelihood_per_point
from .ais import ais_log_likelihood
from .marginal import appendix_d_log_likelihood


@dataclass(frozen=True)
class LogLikelihoodEstimator:
    """A registered estimator.

    :param estimate: the per-point estimator (see the module docstring).
    :param samples: what ``num_samples`` counts for it (for tables and ``--help``).
    :param needs_guide: it samples from q(z|x): a run without a guide cannot use it.
    :param max_latent_size: the largest total size of a datapoint's latents it is valid for.
    """

    estimate: Callable
    samples: str
    needs_guide: bool = False
    max_latent_size: int = None


def _importance_sampling(model, guide, x, *, num_samples, seed=0, progress=False, with_error=False):
    return log_likelihood_per_point(model, guide, x, num_samples=num_samples, seed=seed, progress=progress, with_error=with_error)


def _appendix_d(model, guide, x, *, num_samples, seed=0, progress=False, with_error=False):
    return appendix_d_log_likelihood(model, x, num_samples=num_samples, seed=seed, progress=progress, with_error=with_error)


def _ais(model, guide, x, *, num_samples, seed=0, progress=False, with_error=False):
    """From the guide when it can start the chains (amortised, log q anywhere), else from the prior."""
    usable = guide is not None and getattr(guide, "amortised", False) and getattr(guide, "density_anywhere", False)
    return ais_log_likelihood(model, x, guide=guide if usable else None, num_steps=num_samples, seed=seed, progress=progress,
                              with_error=with_error)


def monte_carlo_error(errors: torch.Tensor) -> float:
    """The standard error of the average of independent per-point estimates with standard errors
    ``errors``: √(Σ seᵢ²) / n. It is the estimator's own noise with the points held fixed (the
    test set is fixed); the points' spread is not part of it."""
    return (errors.square().sum().sqrt() / len(errors)).item()


#: ``--ll-estimator NAME`` → estimator.
LL_ESTIMATORS = {
    "is": LogLikelihoodEstimator(_importance_sampling, "importance samples K", needs_guide=True),
    "appendix-d": LogLikelihoodEstimator(_appendix_d, "HMC posterior samples on each of its two chains", max_latent_size=4),
    "ais": LogLikelihoodEstimator(_ais, "annealing steps (16 chains)"),
}
