"""A user's own data (aevb.data.sources, load_source, as_split): tensors, arrays, .npy/.npz files,
image folders, torchvision-style datasets and streamed splits, each trained on; bad data refused
with one line."""

import numpy as np
import pyro
import pytest
import torch
from PIL import Image

import aevb
from aevb.data import DataError, as_split, load_dataset, load_source
from aevb.guides import DiagonalGaussianGuide
from aevb.inference import AEVB, LL_ESTIMATORS, fit, make_optimizer
from aevb.models import BernoulliVAE

SIDE = 4  # 4x4 images: 16 values per row


def grey_images(n=50, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, SIDE, SIDE), dtype=np.uint8)


def trains(train, test=None, epochs=3):
    """A small Bernoulli VAE trained on ``train`` (anything ``fit`` takes) by AEVB; its history, and
    an IS estimate on ``test`` when given."""
    pyro.clear_param_store()
    torch.manual_seed(0)
    model, guide = BernoulliVAE(SIDE * SIDE, 2, 8), DiagonalGaussianGuide(SIDE * SIDE, 2, 8)
    algorithm = AEVB(model, guide)
    state = fit(
        algorithm,
        make_optimizer("adam", algorithm.parameters(), 0.02),
        train,
        epochs=epochs,
        batch_size=10,
        progress=False,
    )
    scores = LL_ESTIMATORS["is"].estimate(model, guide, test.x, num_samples=20) if test is not None else None
    return [h["train_elbo"] for h in state.history], scores


def test_a_tensor_and_an_array_of_binary_rows_train_as_they_are():
    rows = (grey_images() > 127).astype(np.float32)
    from_array, _ = trains(rows.reshape(50, -1))
    from_tensor, _ = trains(torch.from_numpy(rows.reshape(50, -1)))
    assert from_array == from_tensor and from_array[-1] > from_array[0]


def test_arrays_of_images_become_rows_in_0_1_with_their_shape():
    split = as_split(grey_images())  # uint8 (N, H, W): bytes / 255
    assert split.x.shape == (50, 16) and split.image_shape == (SIDE, SIDE) and 0 <= split.x.min() < split.x.max() <= 1
    colour = as_split(np.zeros((3, SIDE, SIDE, 3), dtype=np.uint8))  # channels last → first
    assert colour.x.shape == (3, 48) and colour.image_shape == (3, SIDE, SIDE)
    labelled = as_split(grey_images(), y=np.arange(50) % 3)
    assert labelled.y.dtype == torch.long and labelled.y[:4].tolist() == [0, 1, 2, 0]


@pytest.mark.parametrize(
    "data, message",
    [
        (np.zeros((0, 4)), "is empty"),
        (np.array([[0.5, np.nan]]), r"NaN or infinite values \(row 0 is the first\)"),
        (np.array([[0.5, 0.2], [0.1, 2.0]]), r"values outside \[0, 1\] .*row 1 is the first\): scale it"),
        (np.array([0.5, 0.2]), r"one row per datapoint \(shape \(N, ...\)\)"),
        (np.array([["a", "b"]]), "must hold numbers"),
        ([[0.1, 0.2]], "must be a tensor or a NumPy array, got list"),
    ],
)
def test_bad_data_are_refused_with_one_line(data, message):
    with pytest.raises(DataError, match=message) as refusal:
        as_split(data)
    assert "\n" not in str(refusal.value)


def test_labels_that_do_not_match_the_rows_are_refused():
    with pytest.raises(DataError, match=r"one label per row \(50\), got shape \(49,\)"):
        as_split(grey_images(), y=np.zeros(49))


def test_an_npz_with_its_own_test_split_and_labels(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, x=grey_images(40), y=np.arange(40) % 2, x_test=grey_images(10, seed=1), y_test=np.ones(10))
    train, test = load_source(path, binarize_mode="dynamic")
    assert (len(train), len(test)) == (40, 10) and train.dynamic and not test.dynamic
    assert train.y.tolist() == [i % 2 for i in range(40)] and test.y.tolist() == [1] * 10
    assert ((test.x == 0) | (test.x == 1)).all()  # the test set: one fixed binary draw
    history, scores = trains(train, test)
    assert history[-1] > history[0] and torch.isfinite(scores).all()


def test_an_npy_without_a_test_split_holds_out_a_seeded_fraction(tmp_path):
    path = tmp_path / "rows.npy"
    np.save(path, grey_images(100))
    said = []
    train, test = load_source(path, binarize_mode="dynamic", test_fraction=0.2, split_seed=3, log=said.append)
    assert (len(train), len(test)) == (80, 20) and "held out 20 of 100 rows" in said[0]
    again, _ = load_source(path, binarize_mode="dynamic", test_fraction=0.2, split_seed=3, log=said.append)
    other, _ = load_source(path, binarize_mode="dynamic", test_fraction=0.2, split_seed=4, log=said.append)
    assert torch.equal(train.x, again.x) and not torch.equal(train.x, other.x)


def test_npz_files_that_do_not_hold_the_data_are_refused(tmp_path):
    np.savez(tmp_path / "a.npz", images=grey_images())
    with pytest.raises(DataError, match=r"holds no array named 'x' \(it holds images\)"):
        load_source(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", x=grey_images(), x_test=np.zeros((5, 3, 3), dtype=np.uint8))
    with pytest.raises(DataError, match="x_test rows have 9 values, x rows 16"):
        load_source(tmp_path / "b.npz")
    with pytest.raises(DataError, match="does not exist"):
        load_source(tmp_path / "missing.npz")


def write_images(folder, images, labels=None, size=None):
    for i, image in enumerate(images):
        target = folder / str(labels[i]) if labels is not None else folder
        target.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(image)
        picture.resize(size).save(target / f"{i}.png") if size else picture.save(target / f"{i}.png")


def test_an_image_folder_with_one_sub_folder_per_label_trains(tmp_path):
    images, labels = grey_images(40), ["cat", "dog"] * 20
    write_images(tmp_path / "pets", images, labels)
    train, test = load_source(tmp_path / "pets", binarize_mode="dynamic", test_fraction=0.25)
    assert (len(train), len(test)) == (30, 10) and train.image_shape == (SIDE, SIDE)
    assert set(train.y.tolist()) | set(test.y.tolist()) == {0, 1}  # cat, dog: sorted names
    history, _ = trains(train)
    assert history[-1] > history[0]


def test_a_flat_folder_of_images_of_different_sizes_is_refused_or_resized(tmp_path):
    write_images(tmp_path / "flat", grey_images(6))
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "flat" / "big.png")
    with pytest.raises(DataError, match=r"differ in size \(4x4 and 8x8.*--image-size N"):
        load_source(tmp_path / "flat")
    train, test = load_source(tmp_path / "flat", binarize_mode="static", image_size=6, test_fraction=0.3)
    assert train.x.shape[1] == 36 and train.y is None and len(train) + len(test) == 7
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no PNG or JPEG images"):
        load_source(tmp_path / "empty")


def test_a_torchvision_style_dataset_keeps_its_labels():
    class Digits(torch.utils.data.Dataset):  # (PIL image, label) pairs, as torchvision's datasets give
        def __len__(self):
            return 20

        def __getitem__(self, i):
            return Image.fromarray(grey_images(20)[i]), i % 4

    train, test = load_source(Digits(), binarize_mode="dynamic", test_fraction=0.25)
    assert (len(train), len(test)) == (15, 5) and set(train.y.tolist()) <= {0, 1, 2, 3}
    loaded = as_split(torch.utils.data.DataLoader(Digits(), batch_size=4))  # fit takes one too: its data set
    assert loaded.x.shape == (20, 16) and loaded.y.tolist() == [i % 4 for i in range(20)]


def test_a_split_over_the_memory_budget_is_streamed_and_trains_to_the_same_numbers():
    rows = torch.from_numpy((grey_images() > 127).astype(np.float32).reshape(50, -1))
    kept = as_split(rows, memory_budget=rows.numel() * 4)
    streamed = as_split(rows, memory_budget=rows.numel() * 4 - 1)
    assert not kept.streamed and streamed.streamed and streamed.device == rows.device
    assert trains(streamed)[0] == trains(kept)[0]
    train, test = load_dataset(rows.numpy(), binarize_mode="none", memory_budget=100, log=lambda *a: None)
    assert train.streamed and test.streamed


def test_a_dataset_name_that_is_neither_registered_nor_a_path_is_refused_naming_both():
    with pytest.raises(
        DataError,
        match=r"dataset must be one of \['chorales', 'fashion-mnist', 'frey', 'in-memory', 'mnist'\] or a path",
    ):
        load_dataset("mnsit")
    with pytest.raises(aevb.ConfigError, match=r"dataset must be one of .* or a path to a .npy or .npz file"):
        aevb.resolve_run_config({"dataset": "mnsit"})
