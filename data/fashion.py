"""Fashion-MNIST (Xiao et al. 2017): the continuous-data stand-in for Frey Face when that file
cannot be had. Found locally (torchvision's layout, the data folder itself, or the Debian
package ``dataset-fashion-mnist``) or fetched by torchvision, verified by SHA-256. Its files have
MNIST's names, shapes and counts, so :func:`aevb.data.mnist.load_mnist_split` reads them."""

from pathlib import Path

from .errors import DataError
from .mnist import _sha256

#: SHA-256 of the four uncompressed IDX files (as shipped by zalandoresearch and by Debian).
SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
#: Where ``apt-get install dataset-fashion-mnist`` puts the files (gzip-compressed).
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


def search_dirs(data_dir, system_dir=None):
    data_dir = Path(data_dir)
    return [data_dir / "FashionMNIST" / "raw", data_dir / "fashion-mnist", data_dir, Path(system_dir or SYSTEM_DIR)]


def _find_all(folders):
    """The first folder holding all four files (raw or ``.gz``), as {name: path}, or None."""
    for folder in folders:
        found = {}
        for name in SHA256:
            path = next((p for p in (folder / name, folder / (name + ".gz")) if p.is_file()), None)
            if path is not None:
                found[name] = path
        if len(found) == len(SHA256):
            return found
    return None


def _fetch_torchvision(data_dir: Path) -> None:
    import torchvision

    torchvision.datasets.FashionMNIST(str(data_dir), train=True, download=True)


def ensure_fashion_mnist(data_dir, download: bool = True, system_dir=None, log=print) -> dict:
    """Paths of the four verified Fashion-MNIST files: looked for in ``DATA_DIR/FashionMNIST/raw``,
    ``DATA_DIR/fashion-mnist``, ``DATA_DIR`` and ``system_dir`` (default :data:`SYSTEM_DIR`), else downloaded by
    torchvision
    into ``DATA_DIR`` when ``download``. Raises :class:`DataError` saying how to get them."""
    folders = search_dirs(data_dir, system_dir)
    paths = _find_all(folders)
    error = "downloads were disabled"
    if paths is None and download:
        log(
            f"Fashion-MNIST: not in {', '.join(map(str, folders))}; trying "
            "torchvision.datasets.FashionMNIST(download=True) ..."
        )
        try:
            _fetch_torchvision(Path(data_dir))
            error = "torchvision's download left no files"
        except Exception as e:  # offline, or torchvision missing
            reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            error = f"torchvision download failed: {reason}"
        paths = _find_all(folders)
    if paths is None:
        raise DataError(
            f"Fashion-MNIST not found in {', '.join(map(str, folders))} ({error}). Fix: `apt-get install "
            f"dataset-fashion-mnist` (Debian), or copy the four IDX files into {folders[0]}."
        )
    for name, path in paths.items():
        actual = _sha256(path)
        if actual != SHA256[name]:
            raise DataError(
                f"{path} has SHA-256 {actual}, expected {SHA256[name]}: the file is corrupt or not Fashion-MNIST"
            )
    return paths
