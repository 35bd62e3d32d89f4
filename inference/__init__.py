"""Fitting algorithms, the one training loop, evaluation and checkpoints (``aevb.inference``).

This package holds algorithms and estimators only; turning a configuration into a run (data,
model, guide, algorithm, optimiser) is :mod:`aevb.experiment`'s work, one layer above.
"""

from . import diagnostics, distributed, latents, progress
from .aevb import AEVB
from .algorithm import Algorithm
from .checkpoint import Checkpointer, CheckpointError, TrainState, load_checkpoint, save_checkpoint
from .evaluate import elbo_per_point, evaluate_elbo, evaluate_log_likelihood, log_likelihood_per_point
from .full_vb import FullVB
from .iwae import IWAE
from .loglik import LL_ESTIMATORS, LogLikelihoodEstimator
from .ais import ais_log_likelihood
from .marginal import appendix_d_log_likelihood
from .mcem import MonteCarloEM
from .optim import make_optimizer
from .refine import amortisation_gap, refine_local_parameters
from .rws import RWS
from .train import TrainingDiverged, fit
from .wake_sleep import WakeSleep

#: ``--inference NAME`` → algorithm class (its declarations: :class:`~aevb.inference.algorithm.Algorithm`).
ALGORITHMS = {cls.name: cls for cls in (AEVB, IWAE, FullVB, WakeSleep, RWS, MonteCarloEM)}

__all__ = [
    "ALGORITHMS", "Algorithm", "LL_ESTIMATORS", "LogLikelihoodEstimator", "latents",
    "AEVB", "IWAE", "FullVB", "MonteCarloEM", "RWS", "WakeSleep", "Checkpointer", "CheckpointError", "TrainState", "TrainingDiverged",
    "ais_log_likelihood", "amortisation_gap", "appendix_d_log_likelihood", "diagnostics", "distributed", "elbo_per_point",
    "evaluate_elbo", "evaluate_log_likelihood", "fit", "load_checkpoint", "log_likelihood_per_point", "make_optimizer", "progress",
    "refine_local_parameters", "save_checkpoint",
]
