"""Data sets as tensors: MNIST (offline-capable), Frey Face, binarisation and checks."""

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from . import binarize
from .errors import DataError
from .frey import load_frey_face
from .idx import read_idx, write_idx
from .mnist import ensure_mnist, load_mnist_split

#: Downloaded files go here unless --data-dir or AEVB_DATA_DIR say otherwise (git ignores it).
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / ".data"


def default_data_dir() -> Path:
    return Path(os.environ.get("AEVB_DATA_DIR", DEFAULT_DATA_DIR))


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


def load_mnist(data_dir=None, *, binarize_mode="dynamic", seed=0, device="cpu", train_size=None, test_size=None, download=True, log=print):
    """MNIST train and test :class:`Split` s, with pixels in [0, 1] and the chosen binarisation.

    The training set keeps grey levels for ``dynamic`` (binarised per minibatch) and holds one
    draw from ``seed`` for ``static``; the test set is binarised once with
    :data:`binarize.TEST_BINARIZATION_SEED` unless ``binarize_mode="none"``.
    """
    paths = ensure_mnist(data_dir or default_data_dir(), download=download, log=log)
    splits = {}
    for split, size in (("train", train_size), ("test", test_size)):
        images, _ = load_mnist_split(paths, split)
        x = _subset(torch.from_numpy(images).to(device=device, dtype=torch.float32) / 255.0, size, split)
        if split == "train":
            x = binarize.prepare(x, binarize_mode, seed, name="MNIST train")
        else:
            x = binarize.prepare(x, "none" if binarize_mode == "none" else "static", binarize.TEST_BINARIZATION_SEED, name="MNIST test")
        splits[split] = Split(x, (28, 28), dynamic=(split == "train" and binarize_mode == "dynamic"))
    return splits["train"], splits["test"]


__all__ = ["DataError", "Split", "binarize", "default_data_dir", "ensure_mnist", "load_frey_face", "load_mnist", "load_mnist_split", "read_idx", "write_idx"]
