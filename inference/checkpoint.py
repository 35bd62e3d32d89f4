"""Checkpoints: plain dictionaries of tensors and simple values, written atomically, loaded without running code."""

import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

FORMAT = "aevb-pyro-checkpoint/1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or not one of ours."""


def rng_state() -> dict:
    """Every random-number-generator state a run consumes (torch CPU and CUDA, Python, numpy)."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))


def save_checkpoint(path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, then ``os.replace``.

    A crash mid-write leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (opening it can never run code)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: it is corrupt or not a checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an AEVB checkpoint (expected format {FORMAT!r})")
    return state


@dataclass
class TrainState:
    """What a run has done so far: finished epochs and their metrics (stored in checkpoints)."""

    epoch: int = 0
    history: list = field(default_factory=list)


class Checkpointer:
    """Saves and restores everything a run needs to continue exactly: the modules' weights,
    the optimiser's state, every RNG state, the finished epochs' metrics and the configuration.

    :param path: the checkpoint file.
    :param dict modules: name → :class:`torch.nn.Module` (e.g. ``{"model": ..., "guide": ...}``).
    :param optimizer: the run's optimiser.
    :param dict config: the run's configuration (simple values only).
    """

    def __init__(self, path, modules: dict, optimizer, config: dict):
        self.path, self.modules, self.optimizer, self.config = Path(path), modules, optimizer, config

    def save(self, state: TrainState) -> None:
        save_checkpoint(
            self.path,
            {
                "config": self.config,
                "modules": {name: m.state_dict() for name, m in self.modules.items()},
                "optimizer": self.optimizer.state_dict(),
                "epoch": state.epoch,
                "history": state.history,
                "rng": rng_state(),
            },
        )

    def restore(self, checkpoint: dict = None, rng: bool = True) -> TrainState:
        """Load weights, optimiser and (with ``rng``) RNG states, from ``checkpoint`` or ``self.path``;
        return the run's state."""
        checkpoint = checkpoint if checkpoint is not None else load_checkpoint(self.path)
        device = next(iter(self.modules.values())).parameters().__next__().device
        try:
            for name, module in self.modules.items():
                module.load_state_dict(checkpoint["modules"][name])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            if rng:
                set_rng_state(checkpoint["rng"])
        except (KeyError, RuntimeError, ValueError) as e:
            first = str(e).strip().splitlines()[0]
            raise CheckpointError(f"{self.path} does not match this model/guide/optimiser: {first}") from None
        for module in self.modules.values():
            module.to(device)
        return TrainState(epoch=int(checkpoint["epoch"]), history=list(checkpoint["history"]))
