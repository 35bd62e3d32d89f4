import hashlib

import numpy as np
import pytest

from aevb import data
from aevb.data import DataError, fashion, mnist, write_idx


def write_tiny_fashion(folder, gz=True):
    """Four tiny IDX files in Fashion-MNIST's names; returns their SHA-256 (uncompressed)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, size=6, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, size=4, dtype=np.uint8),
    }
    sums = {}
    for name, array in arrays.items():
        write_idx(folder / (name + (".gz" if gz else "")), array)
        write_idx(folder / "plain", array)
        sums[name] = hashlib.sha256((folder / "plain").read_bytes()).hexdigest()
    (folder / "plain").unlink()
    return arrays, sums


@pytest.fixture
def tiny_counts(monkeypatch):
    monkeypatch.setattr(
        mnist,
        "SPLITS",
        {
            "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 6),
            "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 4),
        },
    )


def test_found_in_the_debian_package_folder_and_loaded_as_grey_levels(tmp_path, monkeypatch, tiny_counts):
    arrays, sums = write_tiny_fashion(tmp_path / "usr-share")  # like /usr/share/datasets/fashion-mnist: gzip files
    monkeypatch.setattr(fashion, "SHA256", sums)
    monkeypatch.setattr(fashion, "SYSTEM_DIR", tmp_path / "usr-share")
    train, test = data.load_dataset("fashion-mnist", tmp_path / "empty", download=False)
    assert train.x.shape == (6, 784) and test.x.shape == (4, 784) and train.image_shape == (28, 28)
    # dequantised for the Gaussian decoder, by default: (byte + u) / 256, never exactly 0 or 1
    raw = arrays["train-images-idx3-ubyte"].reshape(6, -1)
    assert (np.floor(train.x.numpy() * 256) == raw).mean() > 0.999 and 0 < train.x.min() and train.x.max() < 1
    assert not train.dynamic
    again, _ = data.load_dataset("fashion-mnist", tmp_path / "empty", download=False, seed=3)
    assert (again.x == train.x).all()  # fixed noise, whatever the run's seed
    grey, _ = data.load_dataset("fashion-mnist", tmp_path / "empty", download=False, binarize_mode="dynamic")
    np.testing.assert_allclose(grey.x.numpy(), raw / 255.0, rtol=1e-6)  # grey levels for a Bernoulli decoder
    assert grey.dynamic


def test_torchvision_layout_comes_first_and_checksums_are_checked(tmp_path, monkeypatch, tiny_counts):
    _, sums = write_tiny_fashion(tmp_path / "FashionMNIST" / "raw", gz=False)
    monkeypatch.setattr(fashion, "SHA256", sums)
    paths = fashion.ensure_fashion_mnist(tmp_path, download=False, system_dir=tmp_path / "nowhere")
    assert all(p.parent == tmp_path / "FashionMNIST" / "raw" for p in paths.values())
    monkeypatch.setattr(fashion, "SHA256", {**sums, "t10k-images-idx3-ubyte": "0" * 64})
    with pytest.raises(DataError, match="corrupt or not Fashion-MNIST"):
        fashion.ensure_fashion_mnist(tmp_path, download=False, system_dir=tmp_path / "nowhere")


def test_missing_offline_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        fashion.ensure_fashion_mnist(tmp_path, download=False, system_dir=tmp_path / "nowhere")


def test_continuous_data_falls_back_to_fashion_mnist_without_frey_face(tmp_path):
    said = []
    assert data.continuous_dataset(tmp_path, download=False, log=said.append) == "fashion-mnist"
    assert "frey_rawface.mat not found" in said[0] and "Fashion-MNIST" in said[0]


def test_frey_split_is_fixed_and_disjoint(tmp_path):
    from scipy.io import savemat

    ff = np.arange(560 * 50, dtype=np.int64).reshape(560, 50) % 256
    ff[0] = np.arange(50)  # the first pixel tells the images apart
    savemat(tmp_path / "frey_rawface.mat", {"ff": ff.astype(np.uint8)})
    train, test = data.load_dataset("frey", tmp_path, download=False)
    assert len(train) == 45 and len(test) == 5 and train.image_shape == (28, 20)
    ids = lambda split: set((split.x[:, 0] * 256).round().int().tolist())  # noqa: E731
    assert ids(train).isdisjoint(ids(test)) and len(ids(train) | ids(test)) == 50
    again, _ = data.load_dataset(
        "frey", tmp_path, download=False, seed=7
    )  # the split does not depend on the run's seed
    assert (again.x == train.x).all()
