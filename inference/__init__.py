"""Fitting, evaluation and checkpointing; ``ALGORITHMS`` maps ``--inference NAME`` to a factory."""

from .aevb import AEVB
from . import diagnostics, distributed
from .checkpoint import Checkpointer, CheckpointError, TrainState, load_checkpoint, save_checkpoint
from .evaluate import elbo_per_point, evaluate_elbo, evaluate_log_likelihood, log_likelihood_per_point
from .full_vb import FullVB
from .iwae import IWAE
from .optim import make_optimizer
from .refine import amortisation_gap, refine_local_parameters
from .marginal import ais_log_likelihood, appendix_d_log_likelihood
from .mcem import MonteCarloEM
from .rws import RWS
from .train import TrainingDiverged, fit
from .wake_sleep import WakeSleep

from .experiment import ALGORITHMS

__all__ = [
    "ALGORITHMS", "AEVB", "IWAE", "FullVB", "diagnostics", "distributed", "amortisation_gap", "refine_local_parameters", "MonteCarloEM", "RWS", "WakeSleep", "ais_log_likelihood", "appendix_d_log_likelihood", "Checkpointer", "CheckpointError", "TrainState", "TrainingDiverged",
    "elbo_per_point", "evaluate_elbo", "evaluate_log_likelihood", "fit", "load_checkpoint",
    "log_likelihood_per_point", "make_optimizer", "save_checkpoint",
]
