"""Checkpoints: atomic writes, and one clear line for a malformed checkpoint of any shape, never
suggesting the unsafe ``weights_only=False`` and never running code from the file."""

import copy
import os
import pickle

import pytest
import torch
from conftest import FullDiskFile, tiny_model_and_guide

from aevb.inference import (
    AEVB,
    Checkpointer,
    CheckpointError,
    TrainState,
    load_checkpoint,
    make_optimizer,
    save_checkpoint,
)
from aevb.inference.training import checkpoint as checkpoint_module


def a_checkpoint(path):
    """A real checkpoint of a tiny run (what every malformed case below starts from)."""
    model, guide = tiny_model_and_guide()
    algorithm = AEVB(model, guide)
    optimizer = make_optimizer("adam", algorithm.parameters(), 0.01)
    checkpointer = Checkpointer(path, {"model": model, "guide": guide}, optimizer, {"latent_dim": 2})
    checkpointer.save(TrainState(epoch=1, history=[{"epoch": 1, "train_elbo": -4.0}], reference=-4.5))
    return checkpointer


def test_round_trip_and_an_interrupted_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    checkpointer = a_checkpoint(path)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 1 and loaded["reference"] == -4.5 and set(loaded["modules"]) == {"model", "guide"}
    original = path.read_bytes()
    real_fdopen = os.fdopen
    monkeypatch.setattr(
        checkpoint_module.os, "fdopen", lambda fd, mode: FullDiskFile(real_fdopen(fd, mode), budget=1000)
    )
    # the disk fills in the middle of the write: one line naming the file and what is kept
    with pytest.raises(
        CheckpointError,
        match=f"cannot write {path}: No space left on device .the disk is full.; "
        "the checkpoint after epoch 1 in it is kept",
    ):
        checkpointer.save(TrainState(epoch=2, history=[]))
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary file left behind


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def mutated(path, change):
    state = load_checkpoint(path)
    change(state)
    torch.save(state, path)


CASES = {
    "empty": (lambda p: p.write_bytes(b""), "it is empty"),
    "garbage": (lambda p: p.write_bytes(b"\x00garbage" * 10), "corrupt or not a checkpoint"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-700]), "truncated or corrupt"),
    "pickle running code": (lambda p: p.write_bytes(pickle.dumps(Payload(), protocol=2)), "opening it could run code"),
    "torch file running code": (
        lambda p: torch.save(
            {"format": checkpoint_module.FORMAT, "x": Payload()}, p, _use_new_zipfile_serialization=True
        ),
        "opening it could run code",
    ),
    "a list": (lambda p: torch.save([1, 2], p), "not an AEVB checkpoint"),
    "another program's": (lambda p: torch.save({"state_dict": {}}, p), "not an AEVB checkpoint"),
    "no modules": (lambda p: mutated(p, lambda s: s.pop("modules")), "incomplete: it has no 'modules' entry"),
    "no config": (lambda p: mutated(p, lambda s: s.pop("config")), "incomplete: it has no 'config' entry"),
    "epoch not a number": (
        lambda p: mutated(p, lambda s: s.update(epoch="3")),
        "its 'epoch' entry is a str, not a int",
    ),
    "history not a list": (
        lambda p: mutated(p, lambda s: s.update(history={"epoch": 1})),
        "its 'history' entry is a dict",
    ),
    "history of numbers": (lambda p: mutated(p, lambda s: s.update(history=[1, 2])), "history is not one of a run"),
    "modules not tensors": (
        lambda p: mutated(p, lambda s: s["modules"].update(model={"w": [1.0]})),
        "state of its 'model' is not a dictionary of tensors",
    ),
    "a folder": (lambda p: (p.unlink(), p.mkdir()), "checkpoint not found: .* \\(it is a folder\\)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_checkpoint_gives_one_line_and_runs_nothing(tmp_path, case, capsys):
    path = tmp_path / "checkpoint.pt"
    a_checkpoint(path)
    make, message = CASES[case]
    make(path)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    text = str(info.value)
    assert "\n" not in text and "weights_only" not in text and "must never run" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "broken, message",
    [
        (lambda s: s["optimizer"].update(state="x"), "does not match this model/guide/optimiser"),
        (
            lambda s: s["modules"]["model"].pop(next(iter(s["modules"]["model"]))),
            "does not match this model/guide/optimiser",
        ),
        (
            lambda s: s["modules"]["guide"].update({k: v[:1] for k, v in s["modules"]["guide"].items()}),
            "does not match",
        ),
        (lambda s: s.update(rng={"torch": 3}), "does not match"),
        (
            lambda s: next(iter(s["modules"]["model"].values())).fill_(float("nan")),
            "holds non-finite values .*: the run it saved had diverged",
        ),
    ],
)
def test_restoring_a_checkpoint_that_does_not_fit_gives_one_line(tmp_path, broken, message):
    path = tmp_path / "checkpoint.pt"
    checkpointer = a_checkpoint(path)
    mutated(path, broken)
    with pytest.raises(CheckpointError, match=message) as info:
        checkpointer.restore()
    assert "\n" not in str(info.value)


def test_save_checkpoint_writes_any_plain_state_atomically(tmp_path):
    path = tmp_path / "c.pt"
    state = {"config": {}, "modules": {}, "optimizer": {}, "epoch": 0, "history": [], "rng": {}}
    save_checkpoint(path, copy.deepcopy(state))
    assert load_checkpoint(path)["epoch"] == 0


def crafted(path, **fields):
    state = load_checkpoint(path)
    state.update(fields)
    torch.save(state, path)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(epoch=10**12), "epoch must be an integer between 0 and 1000000, got 1000000000000"),
        (dict(epoch=True), "is malformed: its 'epoch' entry is a bool"),
        (dict(epoch=4, history=[]), r"history must hold the records of epochs 1..4, got epochs \[\]"),
        (dict(history=[{"epoch": 2}]), r"history must hold the records of epochs 1..1, got epochs \[2\]"),
        (dict(history={"epoch": 1}), "is malformed: its 'history' entry is a dict"),
        (dict(history=[{"epoch": 1}, 7]), "is malformed: its epoch count or history is not one of a run"),
        (dict(reference="-4.5"), "reference must be a finite number or null"),
        (dict(reference=float("nan")), "reference must be a finite number or null"),
    ],
)
def test_every_field_of_the_state_is_validated_before_use(tmp_path, fields, message):
    """A damaged or crafted checkpoint is refused naming the file and the field, never reported as
    "after epoch 10^12" nor allowed to replace the recorded history."""
    path = tmp_path / "checkpoint.pt"
    checkpointer = a_checkpoint(path)
    assert checkpointer.restore().epoch == 1  # the valid file
    crafted(path, **fields)
    with pytest.raises(CheckpointError, match=f"{path}:? {message}"):
        checkpointer.restore()
