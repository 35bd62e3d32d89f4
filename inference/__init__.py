"""Fitting algorithms, log-likelihood estimators, diagnostics and the training machinery (``aevb.inference``).

* :mod:`.algorithms`: AEVB, IWAE, full VB, wake-sleep, RWS, MCEM (one contract, ``ALGORITHMS``);
* :mod:`.estimators`: the ELBO, importance sampling, AIS, BDMC, Appendix D (``LL_ESTIMATORS``);
* :mod:`.training`: the one loop, checkpoints, progress, data parallelism, optimisers,
  schedules, the compiled and mixed-precision steps, RNG;
* :mod:`.diagnostics`: ArviZ checks, active units, refinement and the amortisation gap;
* :mod:`.contracts` (what a model, guide, algorithm and estimator must provide),
  :mod:`.capabilities` (what they may declare, read one way), :mod:`.rules` (what cannot work
  together) and :mod:`.latents` (a model's latent sites as one vector per datapoint).

Turning a configuration into a run is :mod:`aevb.experiment`'s work, one layer above.
"""

from . import diagnostics, estimators, latents
from .algorithms import AEVB, ALGORITHMS, IWAE, RWS, Algorithm, FullVB, MonteCarloEM, WakeSleep
from .capabilities import capabilities, declare
from .diagnostics import amortisation_gap, refine_local_parameters
from .estimators import (
    LL_ESTIMATORS,
    LogLikelihoodEstimator,
    ais_log_likelihood,
    appendix_d_log_likelihood,
    elbo_per_point,
    evaluate_elbo,
    evaluate_log_likelihood,
    log_likelihood_per_point,
)
from .preflight import ContractError, preflight
from .programs import wrap
from .rules import CombinationError
from .training import (
    Checkpointer,
    CheckpointError,
    StopRules,
    TrainingDiverged,
    TrainState,
    distributed,
    fit,
    load_checkpoint,
    make_optimizer,
    progress,
    save_checkpoint,
)

__all__ = [
    "ALGORITHMS",
    "AEVB",
    "Algorithm",
    "CheckpointError",
    "Checkpointer",
    "CombinationError",
    "ContractError",
    "FullVB",
    "IWAE",
    "LL_ESTIMATORS",
    "LogLikelihoodEstimator",
    "MonteCarloEM",
    "RWS",
    "StopRules",
    "TrainState",
    "TrainingDiverged",
    "WakeSleep",
    "ais_log_likelihood",
    "amortisation_gap",
    "appendix_d_log_likelihood",
    "capabilities",
    "declare",
    "diagnostics",
    "estimators",
    "distributed",
    "elbo_per_point",
    "evaluate_elbo",
    "evaluate_log_likelihood",
    "fit",
    "latents",
    "load_checkpoint",
    "log_likelihood_per_point",
    "make_optimizer",
    "preflight",
    "progress",
    "refine_local_parameters",
    "save_checkpoint",
    "wrap",
]
