"""Log-likelihood estimators and the ELBO, one file each, and their registry (``LL_ESTIMATORS``).

* :mod:`.elbo`: the ELBO per datapoint; :mod:`.importance`: importance sampling with the guide;
* :mod:`.ais`: annealed importance sampling; :mod:`.bdmc`: bidirectional Monte Carlo;
* :mod:`.appendix_d`: the paper's Appendix D estimator; :mod:`.hmc`: the per-point HMC they share;
* :mod:`.mass`: the HMC chains' mass matrices, diagonal or dense;
* :mod:`.uncertainty`: each point's standard error, effective sample size and reliability flag;
* :mod:`.weights` and :mod:`.batching`: the log-weight arithmetic and the seeded point batches
  every estimator runs on; :mod:`.registry`: ``--ll-estimator NAME`` → estimator.
"""

from .ais import ais_log_likelihood
from .appendix_d import appendix_d_log_likelihood
from .bdmc import bdmc
from .elbo import elbo_per_point, evaluate_elbo
from .importance import evaluate_log_likelihood, log_likelihood_per_point
from .registry import LL_ESTIMATORS, LogLikelihoodEstimator
from .uncertainty import PointEstimates, summary
from .weights import log_importance_weights

__all__ = [
    "LL_ESTIMATORS",
    "LogLikelihoodEstimator",
    "ais_log_likelihood",
    "appendix_d_log_likelihood",
    "bdmc",
    "elbo_per_point",
    "evaluate_elbo",
    "evaluate_log_likelihood",
    "log_importance_weights",
    "log_likelihood_per_point",
    "PointEstimates",
    "summary",
]
