"""Fitting algorithms, one per file, each implementing the algorithm contract
(:class:`aevb.inference.contracts.Algorithm`): AEVB (estimators A and B), IWAE, full VB, wake-sleep,
reweighted wake-sleep and Monte Carlo EM. ``ALGORITHMS`` maps ``--inference NAME`` to its class."""

from .aevb import AEVB
from .base import Algorithm
from .full_vb import FullVB
from .iwae import IWAE
from .mcem import MonteCarloEM
from .rws import RWS
from .wake_sleep import WakeSleep

#: ``--inference NAME`` → algorithm class (its declarations: :mod:`aevb.inference.capabilities`).
ALGORITHMS = {cls.name: cls for cls in (AEVB, IWAE, FullVB, WakeSleep, RWS, MonteCarloEM)}

__all__ = ["ALGORITHMS", "AEVB", "Algorithm", "FullVB", "IWAE", "MonteCarloEM", "RWS", "WakeSleep"]
