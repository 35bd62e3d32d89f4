"""The Python API guards run folders as the programs guard --out (aevb.train's resume= and
overwrite=), and builds runs from data given in Python or by path (aevb.build(data=...),
dataset: PATH), recording the held-out split in the configuration."""

import numpy as np
import pytest

import aevb
from aevb.folder import FolderError

TINY = {"epochs": 1, "latent_dim": 2, "hidden_dims": [8], "batch_size": 20, "elbo_samples": 2}


def rows(n=60, d=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, d), dtype=np.uint8)


def build(**config):
    return aevb.build({**TINY, **config}, data=rows(), device="cpu", log=lambda *a: None, progress=False)


def test_a_folder_holding_a_run_is_refused_unless_resumed_or_overwritten(tmp_path):
    folder = tmp_path / "run"
    first = aevb.train(build(), folder, progress=False)
    assert len(first.history) == 1
    with pytest.raises(
        FolderError, match=r"holds a partial run \(1 of 1 epochs, not evaluated\): resume=True continues"
    ):
        aevb.train(build(), folder, progress=False)
    with pytest.raises(FolderError, match="resume=True continues the run in out_dir and overwrite=True replaces it"):
        aevb.train(build(), folder, resume=True, overwrite=True)
    longer = build(epochs=2)
    resumed = aevb.train(longer, folder, resume=True, progress=False)
    assert [h["epoch"] for h in resumed.history] == [1, 2]  # continued, not restarted at epoch 1
    assert resumed.history[0] == first.history[0]
    again = aevb.train(build(), folder, overwrite=True, progress=False)
    assert [h["epoch"] for h in again.history] == [1]


def test_a_folder_with_someone_elses_files_is_refused_whatever_the_arguments(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for flags in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(FolderError, match=r"holds files this collection did not write \(notes.txt\)"):
            aevb.train(build(), tmp_path, progress=False, **flags)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_data_given_in_python_are_recorded_as_such_and_needed_again_to_load(tmp_path):
    run = build()
    assert run.config["dataset"] == "in-memory" and len(run.train) == 54 and len(run.test) == 6
    aevb.train(run, tmp_path / "run", progress=False)
    with pytest.raises(aevb.data.DataError, match=r"data were given in Python; give them again"):
        aevb.load(tmp_path / "run", device="cpu", log=lambda *a: None)
    loaded = aevb.load(tmp_path / "run", data=rows(), device="cpu", log=lambda *a: None)
    assert loaded.history[-1]["epoch"] == 1


def test_a_path_dataset_records_its_path_and_held_out_split(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, x=rows(80), y=np.arange(80) % 4)
    run = aevb.build(
        {**TINY, "dataset": str(path), "test_fraction": 0.25, "split_seed": 2},
        device="cpu",
        log=lambda *a: None,
        progress=False,
    )
    assert (len(run.train), len(run.test)) == (60, 20) and run.train.y is not None
    assert (run.config["dataset"], run.config["test_fraction"], run.config["split_seed"]) == (str(path), 0.25, 2)
    assert run.config["hidden_dims"] == [8]
