"""Bach chorales as 88-key piano rolls at quarter-note steps, built offline from music21's corpus.

The JSB Chorales benchmark (Boulanger-Lewandowski, Bengio & Vincent 2012) was made from the Bach
chorales of music21's corpus: every chorale as a binary piano roll of the 88 piano keys (MIDI
pitches 21-108), one step per quarter note. music21 ships that corpus (``pip install
'.[music]'``), so :func:`build` makes the same kind of data here, offline:

* the chorales are those ``music21.corpus.chorales.Iterator`` lists (350 distinct names in music21
  10.5.1; the published set has 382), in the order of their corpus names;
* ties are merged (a held note is one note), and a key is on at step t (t = 0, 1, ... quarter notes
  from the start) when a note of that pitch sounds at that instant: it starts at or before t and
  ends after it. A note shorter than a quarter that starts between two steps is not seen, as in
  sampling a performance at every beat (the published preprocessing samples the same way);
* a fixed split, seeded (:data:`SPLIT_SEED`): 60 % train, 20 % validation, 20 % test of the
  chorales, recorded, with the SHA-256 of every array, in ``chorales.json`` beside the arrays.

The split is not the published one (that list of files is not in the corpus), so numbers on it
are comparable to the literature's in kind, not digit for digit. Runs train on the training
chorales and report the test chorales; the validation chorales are kept for model selection
(:func:`load_arrays`).
"""

import hashlib
import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .errors import DataError
from .sequences import pack

#: MIDI pitch of the lowest piano key (A0) and the number of keys (to C8).
LOWEST_PITCH, KEYS = 21, 88
#: Quarter notes per step.
STEP = 1.0
#: The split's seed and fractions (train, validation; the rest is the test set).
SPLIT_SEED, FRACTIONS = 0, (0.6, 0.2)
#: The cached arrays and their record, under the data folder.
FOLDER, ARRAYS, RECORD = "chorales", "chorales.npz", "chorales.json"
#: What the cache holds; a cache of another version is rebuilt.
VERSION = 1
PARTS = ("train", "valid", "test")


def _music21():
    try:
        import music21
    except ImportError:
        raise DataError(
            "building the chorales needs music21, which ships the corpus: pip install 'aevb-pyro[music]' "
            "(in a checkout: pip install -e '.[music]')"
        ) from None
    return music21


def chorale_names() -> list:
    """The corpus names of the chorales music21 ships (e.g. ``bach/bwv1.6``), sorted."""
    music21 = _music21()
    names = {str(name) for name in music21.corpus.chorales.Iterator(returnType="filename")}
    return sorted(names)


def piano_roll(score) -> np.ndarray:
    """A parsed score → a (steps, 88) uint8 piano roll at quarter-note steps (the module's rules)."""
    flat = score.stripTies(inPlace=False).flatten()
    steps = max(1, math.ceil(float(flat.highestTime) / STEP - 1e-9))
    roll = np.zeros((steps, KEYS), dtype=np.uint8)
    for element in flat.notes:
        start, end = float(element.offset) / STEP, float(element.offset + element.quarterLength) / STEP
        first, last = math.ceil(start - 1e-9), math.ceil(end - 1e-9)  # steps t with start <= t < end
        for pitch in element.pitches:
            key = int(pitch.midi) - LOWEST_PITCH
            if not 0 <= key < KEYS:
                raise DataError(f"pitch {pitch} lies outside the 88 piano keys")
            roll[first:last, key] = 1
    return roll


def _parse(name: str) -> np.ndarray:
    return piano_roll(_music21().corpus.parse(name))


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def split_of(count: int, seed: int = SPLIT_SEED) -> dict:
    """The rows of each part: a seeded permutation of ``count`` chorales cut at :data:`FRACTIONS`."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).numpy()
    train, valid = round(FRACTIONS[0] * count), round(FRACTIONS[1] * count)
    cuts = {"train": order[:train], "valid": order[train : train + valid], "test": order[train + valid :]}
    return {part: np.sort(rows) for part, rows in cuts.items()}


def build(data_dir, *, limit: int = None, workers: int = None, log=print) -> Path:
    """Parse the corpus's chorales (the first ``limit`` names, for tests) into piano rolls, split
    them and write ``chorales.npz`` and ``chorales.json`` (atomically) under ``DATA_DIR/chorales``;
    returns the folder."""
    names = chorale_names()[:limit]
    if len(names) < 3:
        raise DataError(f"need at least 3 chorales for a train/validation/test split, got {len(names)}")
    workers = workers or min(len(names), os.cpu_count() or 1)
    log(f"parsing {len(names)} chorales from music21's corpus ({workers} processes; about a second each)")
    rolls = []
    with ProcessPoolExecutor(workers) as pool:
        for number, roll in enumerate(pool.map(_parse, names, chunksize=4), 1):
            rolls.append(roll)
            if number % 50 == 0 or number == len(names):
                log(f"  {number}/{len(names)} chorales")
    lengths = np.array([len(r) for r in rolls], dtype=np.int64)
    padded = np.zeros((len(rolls), int(lengths.max()), KEYS), dtype=np.uint8)
    for row, roll in enumerate(rolls):
        padded[row, : len(roll)] = roll
    split = split_of(len(names))
    arrays = {"rolls": padded, "lengths": lengths, **{f"{part}_rows": split[part] for part in PARTS}}
    record = {
        "version": VERSION,
        "source": "music21 corpus, music21.corpus.chorales.Iterator",
        "music21": _music21().__version__,
        "step": "one quarter note",
        "keys": f"MIDI {LOWEST_PITCH}-{LOWEST_PITCH + KEYS - 1}",
        "split_seed": SPLIT_SEED,
        "fractions": {"train": FRACTIONS[0], "valid": FRACTIONS[1], "test": round(1 - sum(FRACTIONS), 6)},
        "counts": {part: len(split[part]) for part in PARTS},
        "names": {part: [names[i] for i in split[part]] for part in PARTS},
        "sha256": {key: _sha256(value) for key, value in arrays.items()},
    }
    folder = Path(data_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (ARRAYS + ".part")
    with open(partial, "wb") as f:
        np.savez(f, **arrays)
    os.replace(partial, folder / ARRAYS)
    (folder / (RECORD + ".part")).write_text(json.dumps(record, indent=1) + "\n")
    os.replace(folder / (RECORD + ".part"), folder / RECORD)
    counts = ", ".join(f"{record['counts'][p]} {p}" for p in PARTS)
    log(
        f"chorales: {counts}; {int(lengths.min())}-{int(lengths.max())} steps; "
        f"SHA-256 of the rolls {record['sha256']['rolls'][:16]}..."
    )
    return folder


def load_arrays(data_dir, *, build_missing: bool = True, log=print) -> dict:
    """The cached arrays (``rolls``, ``lengths`` and each part's rows) and their record, each array
    verified against the SHA-256 the record holds; built first when missing and ``build_missing``."""
    folder = Path(data_dir) / FOLDER
    if not (folder / ARRAYS).is_file() or not (folder / RECORD).is_file():
        if not build_missing:
            raise DataError(f"no chorales in {folder}: run python -m aevb.data chorales --data-dir {data_dir}")
        build(data_dir, log=log)
    record = json.loads((folder / RECORD).read_text())
    if record.get("version") != VERSION:
        log(f"the chorales in {folder} were built by another version; building them again")
        build(data_dir, log=log)
        record = json.loads((folder / RECORD).read_text())
    with np.load(folder / ARRAYS) as stored:
        arrays = {key: stored[key] for key in stored.files}
    for key, digest in record["sha256"].items():
        if key not in arrays or _sha256(arrays[key]) != digest:
            raise DataError(
                f"{folder / ARRAYS}: {key} does not match its SHA-256 in {RECORD}; delete the folder to rebuild"
            )
    return {**arrays, "record": record}


def packed(arrays: dict, part: str) -> torch.Tensor:
    """The chorales of ``part`` (train, valid or test) as packed rows (:mod:`aevb.data.sequences`)."""
    rows = arrays[f"{part}_rows"]
    return pack(torch.from_numpy(arrays["rolls"][rows]), torch.from_numpy(arrays["lengths"][rows]))
