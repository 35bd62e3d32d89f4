"""The test log-likelihood estimators, in one registry with one per-point signature.

``LL_ESTIMATORS[name].estimate(model, guide, x, *, num_samples, seed, progress, with_error)``
returns the estimate of log p(xᵢ) of every row of ``x`` (nats), and with ``with_error``
:class:`~aevb.inference.estimators.uncertainty.PointEstimates` (each row's estimate, standard
error, effective sample size and reliability flag;
:func:`~aevb.inference.estimators.uncertainty.summary` averages them over points, leaving out
points an estimator refused). The runs (``--ll-estimator``), the training curves of the paper's
figures and the diagnostics all read this registry, so a number called "IS", "Appendix D" or
"AIS" is computed by one piece of code wherever it appears. What each estimator needs it
declares (:class:`~aevb.inference.capabilities.EstimatorCapabilities`), and
:meth:`LogLikelihoodEstimator.estimate` checks those declarations against the model and guide in
hand (:mod:`aevb.inference.rules`) before any work.
"""

from dataclasses import dataclass
from typing import Callable, Optional

from ..capabilities import capabilities
from ..latents import LatentLayout
from ..rules import check
from . import appendix_d
from .ais import ais_log_likelihood
from .appendix_d import appendix_d_log_likelihood
from .importance import log_likelihood_per_point


@dataclass(frozen=True)
class LogLikelihoodEstimator:
    """A registered estimator (the contract: :class:`aevb.inference.contracts.LogLikelihoodEstimator`).

    :param name: its ``--ll-estimator`` name.
    :param fn: the per-point estimator ``fn(model, guide, x, *, num_samples, seed, progress, with_error)``.
    :param samples: what ``num_samples`` counts for it (for tables and ``--help``).
    :param needs_guide: declared: it samples from q(z|x).
    :param max_latent_size: declared: the largest total size of a datapoint's latents it is valid for.
    :param handles_discrete: declared: it sums a model's discrete sites out exactly.
    """

    name: str
    fn: Callable
    samples: str
    needs_guide: bool = False
    max_latent_size: Optional[int] = None
    handles_discrete: bool = False

    def estimate(self, model, guide, x, *, num_samples, seed=0, progress=False, with_error=False):
        """log p(xᵢ) of every row of ``x`` (see the module docstring), after the rules' check."""
        latent_size = LatentLayout.of(model, x).size if self.max_latent_size is not None else None
        check(
            model=model,
            guide=guide,
            estimator=self,
            latent_size=latent_size,
            names={"estimator": f"--ll-estimator {self.name}"},
        )
        return self.fn(model, guide, x, num_samples=num_samples, seed=seed, progress=progress, with_error=with_error)


def _importance_sampling(model, guide, x, *, num_samples, seed=0, progress=False, with_error=False):
    return log_likelihood_per_point(
        model, guide, x, num_samples=num_samples, seed=seed, progress=progress, with_error=with_error
    )


def _appendix_d(model, guide, x, *, num_samples, seed=0, progress=False, with_error=False):
    return appendix_d_log_likelihood(
        model, x, num_samples=num_samples, seed=seed, progress=progress, with_error=with_error
    )


def _ais(model, guide, x, *, num_samples, seed=0, progress=False, with_error=False):
    """From the guide when its declarations let it start the chains (amortised, log q anywhere), else from the prior."""
    declared = capabilities(guide, "guide")
    usable = guide is not None and declared.amortised and declared.density_anywhere
    return ais_log_likelihood(
        model,
        x,
        guide=guide if usable else None,
        num_steps=num_samples,
        seed=seed,
        progress=progress,
        with_error=with_error,
    )


#: ``--ll-estimator NAME`` → estimator.
LL_ESTIMATORS = {
    entry.name: entry
    for entry in (
        LogLikelihoodEstimator(
            "is", _importance_sampling, "importance samples K", needs_guide=True, handles_discrete=True
        ),
        LogLikelihoodEstimator(
            "appendix-d",
            _appendix_d,
            "HMC posterior samples on each of its two chains",
            max_latent_size=appendix_d.MAX_LATENT_SIZE,
        ),
        LogLikelihoodEstimator("ais", _ais, "annealing steps (16 chains)", handles_discrete=True),
    )
}
