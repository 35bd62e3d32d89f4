"""Checkpoints: plain dictionaries of tensors and simple values, written atomically, loaded without running code."""

import errno
import math
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


def temporary_file(path) -> tuple:
    """``(descriptor, path)`` of a new temporary file beside ``path`` (``.NAME.RANDOM.aevb-tmp``),
    with the mode a file created under the process's umask gets (``mkstemp`` would give 0600)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    umask = os.umask(0o022)  # read the umask (the only way), and put it back at once
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


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
    fd, tmp = temporary_file(path)
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
        failure = cause if isinstance(error, RuntimeError) and cause is not None else error
        if isinstance(failure, OSError) and not failure.filename:  # say which file the write failed on
            raise OSError(failure.errno, failure.strerror or str(failure), str(path)) from None
        if failure is not error:
            raise failure from None
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
        """Write the checkpoint after ``state.epoch``; a failed write (a full disk) says which file it was
        and which checkpoint is kept, in one line."""
        try:
            self._save(state)
        except OSError as e:
            kept = (
                f"the checkpoint after epoch {state.epoch - 1} in it is kept"
                if self.path.is_file()
                else "no checkpoint had been written yet"
            )
            full = " (the disk is full)" if e.errno == errno.ENOSPC else ""
            raise CheckpointError(f"cannot write {e.filename or self.path}: {e.strerror or e}{full}; {kept}") from None

    def _save(self, state: TrainState) -> None:
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
        return validated_state(checkpoint, self.path)


#: The most epochs a checkpoint may claim (a guard against a damaged or crafted file).
MAX_EPOCHS = 10**6


def validated_state(checkpoint: dict, path) -> TrainState:
    """The run's state in ``checkpoint``, each field checked as strictly as a flag: ``epoch`` an integer
    in [0, MAX_EPOCHS], ``history`` one record (a mapping) per finished epoch numbered 1..epoch, and
    ``reference`` None or a finite number. Raises :class:`CheckpointError` naming the file and field."""

    def bad(field: str, why: str):
        return CheckpointError(
            f"{path}: {field} {why}; the file is damaged or not one of ours: start again (--overwrite)"
        )

    epoch, history, reference = checkpoint.get("epoch"), checkpoint.get("history"), checkpoint.get("reference")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= MAX_EPOCHS:
        raise bad("epoch", f"must be an integer between 0 and {MAX_EPOCHS}, got {epoch!r}")
    if not isinstance(history, list) or not all(isinstance(record, dict) for record in history):
        raise bad("history", f"must be a list of per-epoch records, got {type(history).__name__}")
    numbers = [record.get("epoch") for record in history]
    if numbers != list(range(1, epoch + 1)):
        shown = numbers if len(numbers) <= 6 else [*numbers[:3], "...", *numbers[-2:]]
        raise bad("history", f"must hold the records of epochs 1..{epoch}, got epochs {shown}")
    if reference is not None and (
        isinstance(reference, bool) or not isinstance(reference, (int, float)) or not math.isfinite(reference)
    ):
        raise bad("reference", f"must be a finite number or null, got {reference!r}")
    return TrainState(epoch=epoch, history=list(history), reference=reference)
