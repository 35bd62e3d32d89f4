"""Learning-rate schedules: the step size of every epoch as a pure function of the run's step
size and the epoch number, so that a resumed run takes exactly the steps an uninterrupted one
would (:func:`aevb.inference.training.loop.fit` sets it at the start of every epoch).

* ``constant``: the run's step size throughout.
* ``burda``: Burda, Grosse & Salakhutdinov's (2015) protocol: in stage i = 0, 1, 2, … the step
  size is lr·10^(−i/7), held for 3^i epochs; stages 0 … 7 (3280 epochs) are their Table 1's.

PyTorch's ``torch.optim.lr_scheduler`` counts the calls it receives instead of reading the epoch,
which would tie the step size to how many calls a resumed process has made; a function of the
epoch needs no state in the checkpoint.
"""

#: Burda et al.: the step size falls by a factor 10^(1/7) per stage; stage i lasts STAGE_BASE^i epochs.
STAGE_DECAY_EXPONENT, STAGE_BASE = 7, 3
#: Their protocol's number of stages (3280 epochs).
BURDA_STAGES = 8


def stage_end(stages: int) -> int:
    """The last epoch of the first ``stages`` stages of Burda et al.'s schedule: Σᵢ₌₀^{stages−1} 3^i."""
    if not isinstance(stages, int) or stages < 0:
        raise ValueError(f"stages must be a non-negative integer, got {stages!r}")
    return (STAGE_BASE**stages - 1) // (STAGE_BASE - 1)


def stage_of(epoch: int) -> int:
    """The stage (0-based) that epoch ``epoch`` (1-based) belongs to."""
    if not isinstance(epoch, int) or epoch < 1:
        raise ValueError(f"epoch must be a positive integer, got {epoch!r}")
    stage = 0
    while stage_end(stage + 1) < epoch:  # stage i ends at epoch (3^(i+1) − 1)/2
        stage += 1
    return stage


def _constant(lr: float, epoch: int) -> float:
    return lr


def _burda(lr: float, epoch: int) -> float:
    return lr * 10.0 ** (-stage_of(epoch) / STAGE_DECAY_EXPONENT)


#: ``--lr-schedule NAME`` → ``schedule(lr, epoch) -> the step size of that epoch``.
LR_SCHEDULES = {"constant": _constant, "burda": _burda}


def set_lr(optimizer, lr: float) -> None:
    """Give every parameter group of ``optimizer`` (a torch optimiser, or
    :class:`aevb.inference.training.optim.CombinedOptimizer`) the step size ``lr``."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def current_lr(optimizer) -> float:
    """The step size of ``optimizer``'s first parameter group (every group has the same under :func:`set_lr`)."""
    return optimizer.param_groups[0]["lr"]
