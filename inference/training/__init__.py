"""The training machinery every algorithm shares: the loop (:func:`fit`) and its stop rules,
checkpoints, progress reports, data parallelism, optimisers, step-size schedules, the weight
prior, the compiled and mixed-precision step wrappers, and seeded RNG."""

from . import checkpoint, distributed, progress
from .checkpoint import Checkpointer, CheckpointError, TrainState, load_checkpoint, save_checkpoint
from .compile import MODES, CompiledStep, compile_step
from .loop import fit, interrupt_requested
from .optim import make_optimizer
from .precision import PRECISIONS, MixedStep, mixed_precision
from .schedule import LR_SCHEDULES
from .stops import COLLAPSE_FACTOR, COLLAPSE_STEPS, StopRules, TrainingDiverged

__all__ = [
    "COLLAPSE_FACTOR",
    "COLLAPSE_STEPS",
    "LR_SCHEDULES",
    "MODES",
    "PRECISIONS",
    "CheckpointError",
    "Checkpointer",
    "CompiledStep",
    "checkpoint",
    "MixedStep",
    "StopRules",
    "TrainState",
    "TrainingDiverged",
    "compile_step",
    "distributed",
    "fit",
    "interrupt_requested",
    "load_checkpoint",
    "make_optimizer",
    "mixed_precision",
    "progress",
    "save_checkpoint",
]
