"""The stop rules of the training loop: a budget of time or examples, a non-finite number, and a
bound that collapses while staying finite. Each is a small function of the numbers a step or an
epoch produced; :mod:`aevb.inference.training.loop` calls them and owns nothing of their logic.

A stop that is a failure raises :class:`TrainingDiverged`, whose message says what the stopped
run keeps (the last checkpoint is never overwritten by anything non-finite).
"""

import math
from dataclasses import dataclass
from typing import Optional

import torch

from .checkpoint import TrainState

#: The collapse stop (measured with benchmarks/divergence.py, docs/reliability.md): a step's bound
#: estimate per datapoint is *collapsed* when it lies more than COLLAPSE_FACTOR × max(|reference|, D)
#: below the reference (the run's first estimate; D the data dimension). Training stops after
#: COLLAPSE_STEPS collapsed steps in a row, or when an epoch ends on a collapsed step (so a
#: collapsed model is never checkpointed). Measured: runs that recover dip for at most 4
#: steps and never end an epoch there; runs that do not recover stay collapsed at nearly every step.
COLLAPSE_FACTOR, COLLAPSE_STEPS = 100.0, 20


class TrainingDiverged(RuntimeError):
    """Training stopped because it diverged (a non-finite loss, evaluation or parameter, or a
    collapsed bound); the last checkpoint was left as it was."""


def kept(state: TrainState) -> str:
    """What a stopped run keeps, for its message."""
    if state.epoch == 0:
        return "no epoch had finished, so nothing was saved"
    return f"the checkpoint after epoch {state.epoch} is intact"


@dataclass(frozen=True)
class StopRules:
    """When :func:`~aevb.inference.training.fit` stops early.

    :param max_seconds: a training-time budget (evaluation not counted): the epoch in which it runs
        out stops after the step that exhausts it, is evaluated and checkpointed as the last one,
        and is marked ``"partial": True``.
    :param max_examples: a budget of training examples over the whole run (resumed calls
        included): training stops after the step that reaches it (that epoch is ``"partial"``);
        a call that starts at or beyond it trains nothing, and a larger budget continues with the
        next epoch (how training curves are evaluated at chosen sample counts, :mod:`aevb.curves`).
    :param collapse_factor: a step whose bound estimate per datapoint lies more than
        ``collapse_factor × max(|reference|, D)`` below the reference (the estimate at the run's
        first step, kept in the checkpoint; D the data dimension) is collapsed; training stops
        after :data:`COLLAPSE_STEPS` collapsed steps in a row or when an epoch ends on one.
        None turns the stop off.
    """

    max_seconds: Optional[float] = None
    max_examples: Optional[int] = None
    collapse_factor: Optional[float] = COLLAPSE_FACTOR

    def __post_init__(self):
        if self.max_examples is not None and not (isinstance(self.max_examples, int) and self.max_examples >= 1):
            raise ValueError(f"max_examples must be a positive integer, got {self.max_examples!r}")

    def examples_spent(self, examples: int) -> bool:
        """The example budget was used up before an epoch starts."""
        return self.max_examples is not None and examples >= self.max_examples

    def out_of_budget(self, seconds: float, examples: int) -> bool:
        """After a step that brought training to ``seconds`` and ``examples``: is the budget spent?"""
        return (self.max_seconds is not None and seconds > self.max_seconds) or (
            self.max_examples is not None and examples >= self.max_examples
        )

    def collapse_floor(self, reference: float, data_dim: int) -> Optional[float]:
        """The bound per datapoint below which a step counts as collapsed (None: the stop is off)."""
        if not self.collapse_factor:
            return None
        return reference - self.collapse_factor * max(abs(reference), data_dim)


def check_step(value: float, checked: float, *, epoch: int, step: int, state: TrainState) -> None:
    """A step's bound ``value`` and objective ``checked`` must be finite."""
    if not (math.isfinite(value) and math.isfinite(checked)):
        raise TrainingDiverged(
            f"the loss became {checked} (bound {value}) at epoch {epoch}, step {step}; "
            f"stopped: {kept(state)}. Try a smaller --lr."
        )


def check_collapse(
    per_point: float,
    floor: Optional[float],
    collapsed: int,
    *,
    ends_epoch: bool,
    epoch: int,
    step: int,
    state: TrainState,
) -> int:
    """The count of consecutive collapsed steps after this one; raises when it reaches
    :data:`COLLAPSE_STEPS` or the epoch ends on a collapsed step."""
    collapsed = collapsed + 1 if floor is not None and per_point < floor else 0
    if collapsed and (collapsed >= COLLAPSE_STEPS or ends_epoch):
        raise TrainingDiverged(
            f"the training bound collapsed to {per_point:.4g} nats per datapoint at epoch {epoch}, step {step} "
            f"(it started at {state.reference:.1f}; runs that recover never stay below {floor:.0f}); stopped: "
            f"{kept(state)}. Try a smaller --lr."
        )
    return collapsed


def check_epoch(record: dict, params, *, epoch: int, state: TrainState) -> None:
    """An epoch's record (evaluation included) and the parameters after it must be finite."""
    broken = {k: v for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)}
    if broken:
        raise TrainingDiverged(
            f"epoch {epoch} ended with non-finite {', '.join(f'{k} = {v}' for k, v in broken.items())}; "
            f"stopped: {kept(state)}. Try a smaller --lr."
        )
    if not all(torch.isfinite(p).all() for p in params):
        raise TrainingDiverged(
            f"the parameters stopped being finite in epoch {epoch}; stopped: {kept(state)}. Try a smaller --lr."
        )
