"""Data sets as tensors: MNIST (offline-capable), Fashion-MNIST, Frey Face, the Bach chorales (sequences
packed as rows: :mod:`.sequences`), binarisation and checks."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from . import binarize, chorales, sequences
from .errors import DataError
from .fashion import ensure_fashion_mnist
from .frey import IMAGE_SHAPE as FREY_IMAGE_SHAPE
from .frey import load_frey_face
from .idx import read_idx, write_idx
from .mnist import ensure_mnist, load_mnist_split
from .sources import Source, check_rows, from_dataset, labels_of, read_source, rows_of

#: The repository this package was installed from in editable mode, if any (its setup.cfg is there).
_CHECKOUT = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    """Where data sets are looked for and downloaded to unless ``--data-dir`` says otherwise:
    ``$AEVB_DATA_DIR``; else ``.data/`` of the checkout for an editable install (git ignores it);
    else ``$XDG_CACHE_HOME/aevb-pyro`` (``~/.cache/aevb-pyro``) for a regular install."""
    if os.environ.get("AEVB_DATA_DIR"):
        return Path(os.environ["AEVB_DATA_DIR"])
    if (_CHECKOUT / "setup.cfg").is_file() and (_CHECKOUT / "data" / "__init__.py").is_file():
        return _CHECKOUT / ".data"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aevb-pyro"


@dataclass
class Split:
    """One split: ``x`` of shape (N, D), the images' shape ((height, width), or (channels, height,
    width)) and the labels ``y`` (N,) when the data have them.

    ``dynamic`` is true when ``x`` holds grey levels that must be binarised afresh for every
    minibatch (``binarize="dynamic"``); otherwise ``x`` is used as it is. ``device`` is where
    minibatches are used; ``x`` lives there too unless the split is *streamed*: too large for the
    device's memory, it stays in (pinned, on CUDA) host memory and :meth:`rows` copies each
    minibatch over.
    """

    x: torch.Tensor
    image_shape: tuple
    dynamic: bool = False
    y: Optional[torch.Tensor] = None
    device: Optional[torch.device] = None
    streamed: bool = False

    def __post_init__(self):
        self.device = torch.device(self.device) if self.device is not None else self.x.device

    def __len__(self):
        return self.x.shape[0]

    def head(self, count: Optional[int] = None) -> torch.Tensor:
        """The first ``count`` rows (all when None), on :attr:`device` (a copy when streamed)."""
        return self.x[:count].to(self.device)

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """The rows ``index`` of ``x``, on :attr:`device`."""
        return self.x[index.to(self.x.device)].to(self.device, non_blocking=True)


def fits_on(device, nbytes: int, memory_budget: Optional[int] = None) -> bool:
    """Whether ``nbytes`` may live on ``device``: under ``memory_budget`` bytes when one is given,
    else under half the CUDA device's free memory (a CPU holds what it was given)."""
    device = torch.device(device)
    if memory_budget is not None:
        return nbytes <= memory_budget
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= free // 2


def placed(x: torch.Tensor, device, memory_budget: Optional[int] = None) -> dict:
    """Where a :class:`Split` of rows ``x`` keeps them (its ``x``, ``device`` and ``streamed``):
    moved to ``device`` when they fit there (:func:`fits_on`), else kept in host memory, pinned
    when the device is a GPU, and streamed."""
    device = torch.device(device)
    if fits_on(device, x.numel() * x.element_size(), memory_budget):
        return {"x": x.to(device), "device": device, "streamed": False}
    x = x.cpu()
    return {"x": x.pin_memory() if device.type == "cuda" else x, "device": device, "streamed": True}


def as_split(data, *, y=None, image_shape=None, device=None, memory_budget: Optional[int] = None, name="data"):
    """A :class:`Split` of ``data``: a :class:`Split` (returned as it is), a tensor or a NumPy array
    of N rows (any shape per row; bytes are divided by 255), checked (:func:`aevb.data.sources.rows_of`),
    or a map-style dataset of ``(image, label)`` pairs or a DataLoader over one (labels kept);
    ``y`` its labels; on ``device`` (default: the data's), or streamed when over ``memory_budget``."""
    if isinstance(data, Split):
        return data
    if isinstance(data, torch.utils.data.DataLoader):  # its data set, read once (the loop draws the minibatches)
        data = data.dataset
    if isinstance(data, torch.utils.data.Dataset) and not torch.is_tensor(data):
        source = from_dataset(data, name)
        data, y, image_shape = source.x, source.y if y is None else y, image_shape or source.image_shape
    x, shape = rows_of(data, name)
    labels = labels_of(y, len(x), f"{name}: labels") if y is not None else None
    return Split(image_shape=tuple(image_shape or shape), y=labels, **placed(x, device or x.device, memory_budget))


def _subset(x: torch.Tensor, size, name: str) -> torch.Tensor:
    if size is None:
        return x
    if not 1 <= size <= len(x):
        raise DataError(f"{name} size must be between 1 and {len(x)}, got {size}")
    return x[:size]


def _splits(
    train_x,
    test_x,
    image_shape,
    binarize_mode,
    seed,
    name,
    train_size,
    test_size,
    binary_data=True,
    labels=(None, None),
    device=None,
    memory_budget=None,
):
    """Subset, check and binarise a pair of grey-level tensors in [0, 1] into train and test :class:`Split` s.

    The training set keeps grey levels for ``dynamic`` (binarised per minibatch) and holds one
    draw from ``seed`` for ``static``; the test set is binarised once with
    :data:`binarize.TEST_BINARIZATION_SEED` unless ``binarize_mode="none"``. With ``"none"``
    the data are used as they are: they must be binary when ``binary_data`` (MNIST's
    ``--binarize none`` is a mistake caught here), and are grey levels for the continuous data
    sets (``binary_data=False``), for a Gaussian decoder. ``labels`` (train, test) follow their rows;
    each split is placed on ``device`` (default: where its rows are) or streamed (:func:`placed`).
    """
    splits = []
    for part, x, y, size in (("train", train_x, labels[0], train_size), ("test", test_x, labels[1], test_size)):
        where = placed(_subset(x, size, part), device if device is not None else x.device, memory_budget)
        y = None if y is None else _subset(y, size, f"{part} labels")
        if part == "train":
            mode, draw_seed = binarize_mode, seed
        else:  # the test set: one fixed draw, whatever the training seed
            mode, draw_seed = ("none" if binarize_mode == "none" else "static"), binarize.TEST_BINARIZATION_SEED
        where["x"] = binarize.prepare(where["x"], mode, draw_seed, name=f"{name} {part}", require_binary=binary_data)
        splits.append(
            Split(image_shape=tuple(image_shape), dynamic=part == "train" and mode == "dynamic", y=y, **where)
        )
    return tuple(splits)


def _prepare_grey(images):
    return torch.from_numpy(images).to(dtype=torch.float32) / 255.0


def load_mnist(
    data_dir=None,
    *,
    binarize_mode="dynamic",
    seed=0,
    device="cpu",
    train_size=None,
    test_size=None,
    download=True,
    log=print,
    memory_budget=None,
    **unused,
):
    """MNIST train and test :class:`Split` s, with pixels in [0, 1], the chosen binarisation and
    the digits' labels (see :func:`_splits`)."""
    paths = ensure_mnist(data_dir or default_data_dir(), download=download, log=log)
    read = {split: load_mnist_split(paths, split) for split in ("train", "test")}
    x = {split: _prepare_grey(images) for split, (images, _) in read.items()}
    y = tuple(torch.from_numpy(read[split][1].astype("int64")) for split in ("train", "test"))
    return _splits(
        x["train"],
        x["test"],
        (28, 28),
        binarize_mode,
        seed,
        "MNIST",
        train_size,
        test_size,
        labels=y,
        device=device,
        memory_budget=memory_budget,
    )


#: Seed of the fixed uniform noise that dequantises Fashion-MNIST for continuous decoders.
DEQUANTIZE_SEED = 0


def dequantize(images, device=None, seed: int = DEQUANTIZE_SEED) -> torch.Tensor:
    """uint8 images → (byte + u) / 256 with one fixed draw u ~ U(0, 1) per pixel, in (0, 1).

    A density on dequantised data lower-bounds the probability of the discrete bytes
    (Theis et al. 2016); on the raw bytes a Gaussian decoder could shrink its variance onto
    the many exactly-black pixels and its density would grow without bound.
    """
    raw = torch.from_numpy(images).to(dtype=torch.float32)
    noise = torch.rand(raw.shape, generator=torch.Generator().manual_seed(seed))
    return ((raw + noise) / 256.0).clamp(1e-6, 1 - 1e-6).to(device or "cpu")


def load_fashion_mnist(
    data_dir=None,
    *,
    binarize_mode="none",
    seed=0,
    device="cpu",
    train_size=None,
    test_size=None,
    download=True,
    log=print,
    memory_budget=None,
    **unused,
):
    """Fashion-MNIST train and test :class:`Split` s: grey levels byte / 255 to be binarised for a
    Bernoulli decoder, or with ``binarize_mode="none"`` (the default, for the Gaussian decoder)
    :func:`dequantize` d bytes, each split with its own fixed noise."""
    paths = ensure_fashion_mnist(data_dir or default_data_dir(), download=download, log=log)
    read = {split: load_mnist_split(paths, split) for split in ("train", "test")}  # the same file layout
    images = {split: pair[0] for split, pair in read.items()}
    if binarize_mode == "none":
        x = {split: dequantize(images[split], None, DEQUANTIZE_SEED + i) for i, split in enumerate(("train", "test"))}
    else:
        x = {split: _prepare_grey(images[split]) for split in ("train", "test")}
    y = tuple(torch.from_numpy(read[split][1].astype("int64")) for split in ("train", "test"))
    return _splits(
        x["train"],
        x["test"],
        (28, 28),
        binarize_mode,
        seed,
        "Fashion-MNIST",
        train_size,
        test_size,
        binary_data=False,
        labels=y,
        device=device,
        memory_budget=memory_budget,
    )


def held_out(num_rows: int, fraction: float, seed: int) -> tuple:
    """(test rows, training rows): a fixed ``fraction`` of ``num_rows`` (at least one, and at least
    one left to train on) held out by a permutation seeded with ``seed``."""
    if num_rows < 2:
        raise DataError(f"a held-out split needs at least 2 rows, got {num_rows}")
    if not 0 < fraction < 1:
        raise DataError(f"the held-out fraction must lie strictly between 0 and 1, got {fraction}")
    order = torch.randperm(num_rows, generator=torch.Generator().manual_seed(seed))
    num_test = min(num_rows - 1, max(1, round(fraction * num_rows)))
    return order[:num_test], order[num_test:]


#: Frey Face has no test split of its own: a fixed 10% of the images (seeded permutation, the
#: same for every run) are held out as the test set.
FREY_TEST_FRACTION, FREY_SPLIT_SEED = 0.1, 0


def load_frey(
    data_dir=None,
    *,
    binarize_mode="none",
    seed=0,
    device="cpu",
    train_size=None,
    test_size=None,
    download=True,
    log=print,
    memory_budget=None,
    **unused,
):
    """Frey Face train and test :class:`Split` s (20x28 grey levels, raw bytes / 256)."""
    images = torch.from_numpy(load_frey_face(data_dir or default_data_dir(), download=download))
    test, train = held_out(len(images), FREY_TEST_FRACTION, FREY_SPLIT_SEED)
    test, train = images[test], images[train]
    return _splits(
        train,
        test,
        FREY_IMAGE_SHAPE,
        binarize_mode,
        seed,
        "Frey Face",
        train_size,
        test_size,
        binary_data=False,
        device=device,
        memory_budget=memory_budget,
    )


#: The ``dataset`` a run built from data given in Python records (``aevb.build(config, data=...)``).
IN_MEMORY = "in-memory"


def _in_memory(data_dir=None, **unused):
    raise DataError(
        f"dataset {IN_MEMORY!r}: this run's data were given in Python; give them again "
        "(aevb.build(config, data=...), aevb.load(path, data=...))"
    )


def load_chorales(
    data_dir=None,
    *,
    binarize_mode="none",
    device="cpu",
    train_size=None,
    test_size=None,
    log=print,
    memory_budget=None,
    **unused,
):
    """The Bach chorales' train and test :class:`Split` s: each chorale one packed row of steps of 88 keys
    and a presence flag (:mod:`.sequences`; built from music21's corpus when missing: :mod:`.chorales`).
    They are binary already, so every binarisation leaves them as they are."""
    arrays = chorales.load_arrays(data_dir or default_data_dir(), log=log)
    train, test = chorales.packed(arrays, "train"), chorales.packed(arrays, "test")
    steps = arrays["rolls"].shape[1]
    return _splits(
        train,
        test,
        (steps, chorales.KEYS + 1),
        binarize_mode,
        0,
        "chorales",
        train_size,
        test_size,
        device=device,
        memory_budget=memory_budget,
    )


#: ``--dataset NAME`` → loader(data_dir, *, binarize_mode, seed, device, train_size, test_size, download, log,
#: memory_budget).
DATASETS = {
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "frey": load_frey,
    "chorales": load_chorales,
    IN_MEMORY: _in_memory,
}


#: What a data set without a test split of its own holds out, by default (recorded in the run's configuration).
TEST_FRACTION, SPLIT_SEED = 0.1, 0


def as_source(data, image_size=None) -> Source:
    """The :class:`~aevb.data.sources.Source` of a user's data: a path (:func:`read_source`), a pair
    ``(train, test)`` of tensors or arrays, a tensor or array of rows, a torchvision dataset, or a
    :class:`~aevb.data.sources.Source` (returned as it is)."""
    if isinstance(data, Source):
        return data
    if isinstance(data, (str, os.PathLike)):
        return read_source(data, image_size=image_size)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        (x, shape), (x_test, _) = rows_of(data[0], "train data"), rows_of(data[1], "test data")
        if x_test.shape[1] != x.shape[1]:
            raise DataError(f"test rows have {x_test.shape[1]} values, training rows {x.shape[1]}")
        return Source(x, shape, x_test=x_test)
    if torch.is_tensor(data) or hasattr(data, "__array_interface__"):
        return Source(*rows_of(data))
    return from_dataset(data)


def load_source(
    source,
    *,
    binarize_mode="none",
    seed=0,
    device="cpu",
    train_size=None,
    test_size=None,
    test_fraction=TEST_FRACTION,
    split_seed=SPLIT_SEED,
    binary_data=True,
    image_size=None,
    memory_budget=None,
    log=print,
    **unused,
):
    """Train and test :class:`Split` s of a user's data: a path (``.npy``, ``.npz``, a folder of
    images: :func:`aevb.data.sources.read_source`), a torchvision dataset, a tensor or array of
    rows, a pair ``(train, test)`` of them, or a :class:`~aevb.data.sources.Source`. Without a test
    split of its own, ``test_fraction`` of the rows is held out by a permutation seeded with
    ``split_seed`` (:func:`held_out`). Labels come along. ``binary_data``: the likelihood needs
    0/1 values (``binarize_mode`` then makes them, or checks them with ``"none"``)."""
    source = as_source(source, image_size)
    x, y, x_test, y_test = source.x, source.y, source.x_test, source.y_test
    if x_test is None:
        test, train = held_out(len(x), test_fraction, split_seed)
        x, x_test = x[train], x[test]
        y, y_test = (None, None) if y is None else (y[train], y[test])
        log(
            f"held out {len(x_test)} of {len(x) + len(x_test)} rows as the test set "
            f"(fraction {test_fraction}, seed {split_seed})"
        )
    return _splits(
        x,
        x_test,
        source.image_shape,
        binarize_mode,
        seed,
        "data",
        train_size,
        test_size,
        binary_data=binary_data,
        labels=(y, y_test),
        device=device,
        memory_budget=memory_budget,
    )


def load_dataset(name, data_dir=None, **kwargs):
    """Train and test :class:`Split` s of the data set ``name``: one of :data:`DATASETS`, or anything
    :func:`load_source` reads (a path to a ``.npy``/``.npz`` file or an image folder, arrays...)."""
    if isinstance(name, str) and name in DATASETS:
        return DATASETS[name](data_dir, **kwargs)
    if isinstance(name, str) and not is_path(name):
        raise DataError(
            f"dataset must be one of {sorted(DATASETS)} or a path to a .npy or .npz file or a folder, got {name!r}"
        )
    return load_source(name, **kwargs)


#: What a scoring call reads of a data set: its test split, its training split, or every row.
SPLITS = ("test", "train", "all")


def scored_rows(name, data_dir=None, *, split="test", binarize_mode="none", binary_data=True, device="cpu", **kwargs):
    """The rows of ``split`` of a data set (anything :func:`load_dataset` reads), as one :class:`Split`
    prepared the way a run's test set is: grey levels binarised once with
    :data:`binarize.TEST_BINARIZATION_SEED` (unless ``binarize_mode="none"``), so a run's own test
    split comes back exactly as its final evaluation scored it. ``"test"`` and ``"train"`` are the
    splits :func:`load_dataset` makes (a file without a test split of its own: the rows a run on it
    holds out, and the rest); ``"all"`` is every row: a registered data set's training rows then
    its test rows, a file's rows in the file's order (then its ``x_test``)."""
    if split not in SPLITS:
        raise DataError(f"split must be one of {SPLITS}, got {split!r}")
    registered = isinstance(name, str) and name in DATASETS
    if split == "all" and not registered:
        source = as_source(name, kwargs.get("image_size"))
        x = source.x if source.x_test is None else torch.cat([source.x, source.x_test])
        labelled = source.y is not None and (source.x_test is None or source.y_test is not None)
        y = None if not labelled else source.y if source.x_test is None else torch.cat([source.y, source.y_test])
        image_shape = source.image_shape
    else:
        train, test = load_dataset(
            name, data_dir, binarize_mode=binarize_mode, binary_data=binary_data, device="cpu", **kwargs
        )
        if split == "test":
            return Split(image_shape=test.image_shape, y=test.y, **placed(test.x, device))
        parts = (train,) if split == "train" else (train, test)
        x = torch.cat([part.x for part in parts])
        y = None if any(part.y is None for part in parts) else torch.cat([part.y for part in parts])
        image_shape = train.image_shape
    # a test split is binarised already: a Bernoulli draw of 0/1 values gives them back unchanged
    mode = "none" if binarize_mode == "none" else "static"
    x = binarize.prepare(x, mode, binarize.TEST_BINARIZATION_SEED, name=f"data ({split})", require_binary=binary_data)
    return Split(image_shape=tuple(image_shape), y=y, **placed(x, device))


def is_path(name: str) -> bool:
    """Whether a ``--dataset`` value names a file or folder rather than a registered data set."""
    return os.sep in name or name.endswith((".npy", ".npz")) or Path(name).expanduser().exists()


def continuous_dataset(data_dir=None, download: bool = True, log=print) -> str:
    """``"frey"`` when Frey Face can be read (or downloaded), else ``"fashion-mnist"``, saying why:
    the paper's continuous-data experiments fall back to Fashion-MNIST offline."""
    try:
        load_frey_face(data_dir or default_data_dir(), download=download)
        return "frey"
    except DataError as e:
        log(f"Frey Face is not available ({e}); falling back to Fashion-MNIST with the Gaussian decoder.")
        return "fashion-mnist"


__all__ = [
    "DATASETS",
    "IN_MEMORY",
    "SPLIT_SEED",
    "SPLITS",
    "TEST_FRACTION",
    "DataError",
    "Source",
    "Split",
    "as_source",
    "as_split",
    "check_rows",
    "from_dataset",
    "held_out",
    "is_path",
    "load_source",
    "read_source",
    "scored_rows",
    "rows_of",
    "binarize",
    "continuous_dataset",
    "default_data_dir",
    "ensure_fashion_mnist",
    "ensure_mnist",
    "load_dataset",
    "load_fashion_mnist",
    "load_frey",
    "load_chorales",
    "chorales",
    "sequences",
    "load_frey_face",
    "load_mnist",
    "load_mnist_split",
    "read_idx",
    "write_idx",
]
