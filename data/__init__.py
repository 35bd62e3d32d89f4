"""Data sets as tensors: MNIST (offline-capable), Fashion-MNIST, Frey Face, binarisation and checks."""

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from . import binarize
from .errors import DataError
from .fashion import ensure_fashion_mnist
from .frey import IMAGE_SHAPE as FREY_IMAGE_SHAPE
from .frey import load_frey_face
from .idx import read_idx, write_idx
from .mnist import ensure_mnist, load_mnist_split

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
    """One split on its device: ``x`` of shape (N, D) and the images' (height, width).

    ``dynamic`` is true when ``x`` holds grey levels that must be binarised afresh for every
    minibatch (``binarize="dynamic"``); otherwise ``x`` is used as it is.
    """

    x: torch.Tensor
    image_shape: tuple
    dynamic: bool = False

    def __len__(self):
        return self.x.shape[0]


def _subset(x: torch.Tensor, size, name: str) -> torch.Tensor:
    if size is None:
        return x
    if not 1 <= size <= len(x):
        raise DataError(f"{name} size must be between 1 and {len(x)}, got {size}")
    return x[:size]


def _splits(train_x, test_x, image_shape, binarize_mode, seed, name, train_size, test_size, binary_data=True):
    """Subset, check and binarise a pair of grey-level tensors in [0, 1] into train and test :class:`Split` s.

    The training set keeps grey levels for ``dynamic`` (binarised per minibatch) and holds one
    draw from ``seed`` for ``static``; the test set is binarised once with
    :data:`binarize.TEST_BINARIZATION_SEED` unless ``binarize_mode="none"``. With ``"none"``
    the data are used as they are: they must be binary when ``binary_data`` (MNIST's
    ``--binarize none`` is a mistake caught here), and are grey levels for the continuous data
    sets (``binary_data=False``), for a Gaussian decoder.
    """
    train_x = binarize.prepare(
        _subset(train_x, train_size, "train"), binarize_mode, seed, name=f"{name} train", require_binary=binary_data
    )
    test_mode = "none" if binarize_mode == "none" else "static"
    test_x = binarize.prepare(
        _subset(test_x, test_size, "test"),
        test_mode,
        binarize.TEST_BINARIZATION_SEED,
        name=f"{name} test",
        require_binary=binary_data,
    )
    return Split(train_x, image_shape, dynamic=binarize_mode == "dynamic"), Split(test_x, image_shape)


def _prepare_grey(images, device):
    return torch.from_numpy(images).to(device=device, dtype=torch.float32) / 255.0


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
):
    """MNIST train and test :class:`Split` s, with pixels in [0, 1] and the chosen binarisation
    (see :func:`_splits`)."""
    paths = ensure_mnist(data_dir or default_data_dir(), download=download, log=log)
    x = {split: _prepare_grey(load_mnist_split(paths, split)[0], device) for split in ("train", "test")}
    return _splits(x["train"], x["test"], (28, 28), binarize_mode, seed, "MNIST", train_size, test_size)


#: Seed of the fixed uniform noise that dequantises Fashion-MNIST for continuous decoders.
DEQUANTIZE_SEED = 0


def dequantize(images, device, seed: int = DEQUANTIZE_SEED) -> torch.Tensor:
    """uint8 images → (byte + u) / 256 with one fixed draw u ~ U(0, 1) per pixel, in (0, 1).

    A density on dequantised data lower-bounds the probability of the discrete bytes
    (Theis et al. 2016); on the raw bytes a Gaussian decoder could shrink its variance onto
    the many exactly-black pixels and its density would grow without bound.
    """
    raw = torch.from_numpy(images).to(dtype=torch.float32)
    noise = torch.rand(raw.shape, generator=torch.Generator().manual_seed(seed))
    return ((raw + noise) / 256.0).clamp(1e-6, 1 - 1e-6).to(device)


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
):
    """Fashion-MNIST train and test :class:`Split` s: grey levels byte / 255 to be binarised for a
    Bernoulli decoder, or with ``binarize_mode="none"`` (the default, for the Gaussian decoder)
    :func:`dequantize` d bytes, each split with its own fixed noise."""
    paths = ensure_fashion_mnist(data_dir or default_data_dir(), download=download, log=log)
    images = {split: load_mnist_split(paths, split)[0] for split in ("train", "test")}  # the same file layout
    if binarize_mode == "none":
        x = {split: dequantize(images[split], device, DEQUANTIZE_SEED + i) for i, split in enumerate(("train", "test"))}
    else:
        x = {split: _prepare_grey(images[split], device) for split in ("train", "test")}
    return _splits(
        x["train"], x["test"], (28, 28), binarize_mode, seed, "Fashion-MNIST", train_size, test_size, binary_data=False
    )


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
):
    """Frey Face train and test :class:`Split` s (20x28 grey levels, raw bytes / 256)."""
    images = torch.from_numpy(load_frey_face(data_dir or default_data_dir(), download=download)).to(device)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(FREY_SPLIT_SEED)).to(device)
    num_test = max(1, round(FREY_TEST_FRACTION * len(images)))
    test, train = images[order[:num_test]], images[order[num_test:]]
    return _splits(
        train, test, FREY_IMAGE_SHAPE, binarize_mode, seed, "Frey Face", train_size, test_size, binary_data=False
    )


#: ``--dataset NAME`` → loader(data_dir, *, binarize_mode, seed, device, train_size, test_size, download, log).
DATASETS = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist, "frey": load_frey}


def load_dataset(name: str, data_dir=None, **kwargs):
    """Train and test :class:`Split` s of the data set ``name`` (one of :data:`DATASETS`)."""
    if name not in DATASETS:
        raise DataError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name](data_dir, **kwargs)


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
    "DataError",
    "Split",
    "binarize",
    "continuous_dataset",
    "default_data_dir",
    "ensure_fashion_mnist",
    "ensure_mnist",
    "load_dataset",
    "load_fashion_mnist",
    "load_frey",
    "load_frey_face",
    "load_mnist",
    "load_mnist_split",
    "read_idx",
    "write_idx",
]
