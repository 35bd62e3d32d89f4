"""Checkpoints: plain dictionaries of tensors and simple values, written atomically, loaded without running code."""

import os
import pickle
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

FORMAT = "aevb-pyro-checkpoint/1"
#: The suffix of every temporary file the collection writes; a killed run's are removed when its
#: folder is next opened (:mod:`aevb.folder`).
TEMP_SUFFIX = ".aevb-tmp"


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        # A disk that fills during torch.save surfaces as torch's RuntimeError from its zip writer's
        # clean-up ("unexpected pos"); the OSError behind it (ENOSPC) is what the user must see.
        cause = error.__context__
        while cause is not None and not isinstance(cause, OSError):
            cause = cause.__context__
        if isinstance(error, RuntimeError) and cause is not None:
            raise cause from None
        raise


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (opening it can never run code) and check its
    structure; raises :class:`CheckpointError` with one line saying what is wrong and what to do
    (never suggesting the unsafe ``weights_only=False``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "unsupported GLOBAL" in str(e) or "Unsupported global" in str(e):
            raise CheckpointError(
                f"{path} holds Python objects other than tensors and plain values; it was not opened, because "
                "opening it could run code: use a checkpoint written by this collection"
            ) from None
        raise CheckpointError(
            f"cannot read checkpoint {path}: it is corrupt or not a checkpoint of this collection"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        what = (
            "it is empty"
            if isinstance(e, EOFError)
            else "it is truncated or corrupt (a copy or write that did not finish?)"
        )
        raise CheckpointError(f"cannot read checkpoint {path}: {what}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an AEVB checkpoint (expected format {FORMAT!r})")
    check_structure(state, path)
    return state


#: What every checkpoint holds, and the type of each entry.
STRUCTURE = {"config": dict, "modules": dict, "optimizer": dict, "epoch": int, "history": list, "rng": dict}


def check_structure(state: dict, path) -> None:
    """Every entry of :data:`STRUCTURE` present with its type, the modules' states dictionaries of
    tensors, the history a list of records; raises :class:`CheckpointError` naming what is wrong."""
    for key, kind in STRUCTURE.items():
        if key not in state:
            raise CheckpointError(f"{path} is incomplete: it has no {key!r} entry")
        if not isinstance(state[key], kind) or (kind is int and isinstance(state[key], bool)):
            raise CheckpointError(
                f"{path} is malformed: its {key!r} entry is a {type(state[key]).__name__}, not a {kind.__name__}"
            )
    if state["epoch"] < 0 or not all(isinstance(r, dict) for r in state["history"]):
        raise CheckpointError(f"{path} is malformed: its epoch count or history is not one of a run")
    for name, module_state in state["modules"].items():
        if not isinstance(module_state, dict) or not all(isinstance(v, torch.Tensor) for v in module_state.values()):
            raise CheckpointError(f"{path} is malformed: the state of its {name!r} is not a dictionary of tensors")


@dataclass
class TrainState:
    """What a run has done so far: finished epochs and their metrics (stored in checkpoints)."""

    epoch: int = 0
    history: list = field(default_factory=list)
    reference: float = None  # the bound per datapoint at the run's first step (the collapse stop's reference)


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
                "reference": state.reference,
                "rng": rng_state(),
            },
        )

    def restore(self, checkpoint: dict = None, rng: bool = True) -> TrainState:
        """Load weights, optimiser and (with ``rng``) RNG states, from ``checkpoint`` or ``self.path``;
        return the run's state."""
        checkpoint = checkpoint if checkpoint is not None else load_checkpoint(self.path)
        device = next(iter(self.modules.values())).parameters().__next__().device
        for name, module_state in checkpoint["modules"].items():
            broken = [
                key
                for key, value in module_state.items()
                if value.is_floating_point() and not torch.isfinite(value).all()
            ]
            if broken:
                raise CheckpointError(
                    f"{self.path} holds non-finite values ({name}.{broken[0]}): the run it saved had diverged; "
                    "start it again (--overwrite) with a smaller --lr"
                )
        try:
            for name, module in self.modules.items():
                module.load_state_dict(checkpoint["modules"][name])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            if rng:
                set_rng_state(checkpoint["rng"])
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError, IndexError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"{self.path} does not match this model/guide/optimiser: {first}") from None
        for module in self.modules.values():
            module.to(device)
        return TrainState(
            epoch=int(checkpoint["epoch"]), history=list(checkpoint["history"]), reference=checkpoint.get("reference")
        )
