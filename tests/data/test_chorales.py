"""The Bach chorales, built offline from music21's corpus (an optional extra that make test installs)."""

import json

import numpy as np
import pytest
import torch
from conftest import built_chorales

from aevb.data import DataError, chorales, load_dataset

music21 = pytest.importorskip("music21")


def test_a_piano_roll_samples_what_sounds_at_every_quarter_note():
    from music21 import chord, note, stream, tie

    part = stream.Part()
    held = note.Note("C4", quarterLength=1.5)  # sounds at steps 0 and 1
    between = note.Note("D4", quarterLength=0.5)  # from 1.5 to 2: sounds at no step
    fifth = chord.Chord(["E4", "G4"], quarterLength=2)  # steps 2 and 3
    first, second = note.Note("A0", quarterLength=1), note.Note("A0", quarterLength=1)  # tied: steps 4 and 5
    first.tie, second.tie = tie.Tie("start"), tie.Tie("stop")
    part.append([held, between, fifth, first, second, note.Note("C8", quarterLength=1)])
    score = stream.Score([part])
    roll = chorales.piano_roll(score)
    on = {(int(t), int(k) + chorales.LOWEST_PITCH) for t, k in zip(*np.nonzero(roll))}
    assert roll.shape == (7, 88)
    assert on == {(0, 60), (1, 60), (2, 64), (2, 67), (3, 64), (3, 67), (4, 21), (5, 21), (6, 108)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_chorales(tmp_path_factory, 5)


def test_the_build_records_a_seeded_split_and_the_arrays_sha256(built):
    record = json.loads((built / chorales.FOLDER / chorales.RECORD).read_text())
    assert record["counts"] == {"train": 3, "valid": 1, "test": 1}
    names = sum(record["names"].values(), [])
    assert sorted(names) == chorales.chorale_names()[:5]
    arrays = chorales.load_arrays(built, build_missing=False)
    rows = np.concatenate([arrays[f"{p}_rows"] for p in chorales.PARTS])
    assert sorted(rows.tolist()) == list(range(5))
    assert arrays["rolls"].shape[1:] == (int(arrays["lengths"].max()), 88)
    split = chorales.split_of(5)
    assert all(np.array_equal(split[p], arrays[f"{p}_rows"]) for p in chorales.PARTS)  # the seed decides it


def test_a_changed_array_is_refused(built, tmp_path):
    folder = tmp_path / chorales.FOLDER
    folder.mkdir()
    (folder / chorales.RECORD).write_text((built / chorales.FOLDER / chorales.RECORD).read_text())
    with np.load(built / chorales.FOLDER / chorales.ARRAYS) as stored:
        arrays = {k: stored[k] for k in stored.files}
    arrays["rolls"][0, 0, 40] ^= 1
    np.savez(folder / chorales.ARRAYS, **arrays)
    with pytest.raises(DataError, match="rolls does not match its SHA-256"):
        chorales.load_arrays(tmp_path, build_missing=False)


def test_the_data_set_loads_as_packed_rows(built):
    train, test = load_dataset("chorales", built, device="cpu")
    arrays = chorales.load_arrays(built, build_missing=False)
    steps = arrays["rolls"].shape[1]
    assert train.x.shape == (3, steps * 89) and test.x.shape == (1, steps * 89)
    assert train.image_shape == (steps, 89)
    flags = test.x.reshape(1, steps, 89)[0, :, 88]
    assert int(flags.sum()) == int(arrays["lengths"][arrays["test_rows"][0]])
    assert torch.equal(
        test.x.reshape(1, steps, 89)[0, :, :88].to(torch.uint8),
        torch.from_numpy(arrays["rolls"][arrays["test_rows"][0]]),
    )


def test_without_a_cache_and_without_building_the_message_names_the_command(tmp_path):
    with pytest.raises(DataError, match="python -m aevb.data chorales"):
        chorales.load_arrays(tmp_path, build_missing=False)
