"""Seeded work that leaves the caller's random state as it found it.

``pyro.set_rng_seed`` seeds three global generators: torch's, Python's ``random`` and NumPy's;
``torch.random.fork_rng`` restores only torch's. An estimator that seeds its draws inside a
forked torch RNG therefore still reseeds the caller's ``random`` and NumPy streams. These two
context managers restore all three (and a CUDA device's generator, when the work runs on one).
"""

import contextlib
import random

import numpy as np
import pyro
import torch


@contextlib.contextmanager
def isolated_rng(device=None):
    """Every global generator (torch's CPU one, ``device``'s when it is a CUDA device, Python's
    ``random``, NumPy's) restored on exit, whatever the body drew or seeded."""
    devices = [device] if device is not None and torch.device(device).type == "cuda" else []
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


@contextlib.contextmanager
def seeded(seed: int, device=None):
    """The body's draws seeded by ``seed`` (``pyro.set_rng_seed``), the caller's state restored after."""
    with isolated_rng(device):
        pyro.set_rng_seed(seed)
        yield
