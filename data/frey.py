"""Frey Face: 1965 grey-scale images of 28x20 (§5), from ``frey_rawface.mat`` (Roweis's page)."""

import os
import urllib.request
from pathlib import Path

import numpy as np

from .errors import DataError

FILENAME = "frey_rawface.mat"
URL = "https://cs.nyu.edu/~roweis/data/frey_rawface.mat"
IMAGE_SHAPE = (28, 20)


def _download(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with urllib.request.urlopen(URL, timeout=30) as response, open(partial, "wb") as f:
        f.write(response.read())
    os.replace(partial, path)


def load_frey_face(data_dir, download: bool = True) -> np.ndarray:
    """The Frey Face images as float32 (N, 560) in [0, 1), raw bytes divided by 256 as in Kingma's code.

    Reads ``DATA_DIR/frey_rawface.mat`` (variable ``ff`` of shape (560, N), uint8); downloads
    it from Roweis's page when missing and ``download`` is true.
    """
    from scipy.io import loadmat

    path = Path(data_dir) / FILENAME
    if not path.is_file() and download:
        try:
            _download(path)
        except Exception as e:
            raise DataError(
                f"{FILENAME} not found in {Path(data_dir)} and the download from {URL} failed ({e}). "
                f"Copy the file there or pass --data-dir to a folder that has it."
            ) from None
    if not path.is_file():
        raise DataError(f"{FILENAME} not found in {Path(data_dir)}; download it from {URL} into that folder")
    try:
        mat = loadmat(str(path))
    except Exception as e:
        raise DataError(f"cannot read {path} as a MATLAB file: {e}") from None
    if "ff" not in mat:
        raise DataError(f"{path} has no variable 'ff' (found: {sorted(k for k in mat if not k.startswith('__'))})")
    ff = np.asarray(mat["ff"])
    pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
    if ff.ndim != 2 or ff.shape[0] != pixels:
        raise DataError(
            f"{path}: 'ff' must have shape ({pixels}, N) for {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} images, got {ff.shape}"
        )
    if ff.dtype != np.uint8:
        raise DataError(f"{path}: 'ff' must hold raw uint8 pixels, got {ff.dtype}")
    return (ff.T.astype(np.float32) / 256.0).copy()
