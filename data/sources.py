"""A user's own data: arrays, ``.npy``/``.npz`` files, folders of images and torchvision datasets.

Everything becomes the same thing: rows ``x`` of shape (N, D) as float32 with values in [0, 1]
(bytes are divided by 255), the images' shape for figures, and labels ``y`` when the source has
them (an ``.npz``'s ``y``, the sub-folder of an image, a torchvision dataset's targets). Bad data
are refused with one line (:class:`~aevb.data.errors.DataError`): empty, non-finite, values
outside [0, 1], rows of different shapes, labels that do not match the rows.

* :func:`rows_of` turns a tensor or an array (any number of dimensions after the first) into rows;
* :func:`read_source` reads a path: ``.npy`` (the rows), ``.npz`` (``x``, and optionally ``y``,
  ``x_test``, ``y_test``), or a folder of PNG/JPEG images, flat or with one sub-folder per label as
  torchvision's ``ImageFolder`` has it (grey or colour; images of different sizes are resized to
  ``image_size`` or refused);
* :func:`from_dataset` reads a torchvision (or any map-style) dataset of ``(image, label)`` pairs.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class Source:
    """Rows and what came with them, before splitting: ``x`` (N, D) in [0, 1] on the CPU,
    ``image_shape`` ((H, W), or (C, H, W) for colour), labels ``y`` (N,) or None, and the
    source's own test rows (``x_test``, ``y_test``) when it has them."""

    x: torch.Tensor
    image_shape: tuple
    y: Optional[torch.Tensor] = None
    x_test: Optional[torch.Tensor] = None
    y_test: Optional[torch.Tensor] = None


def _image_shape(shape: tuple) -> tuple:
    """The figure shape of rows of ``shape`` (after the first dimension): images stay as they are
    (channels last are moved first); vectors of a square size are shown square, others as one row."""
    if len(shape) == 2:
        return tuple(shape)
    if len(shape) == 3:
        channels_first = shape if shape[0] in (1, 3) else (shape[2], shape[0], shape[1])
        return tuple(channels_first[1:]) if channels_first[0] == 1 else tuple(channels_first)
    side = int(round(shape[0] ** 0.5))
    return (side, side) if side * side == shape[0] else (1, shape[0])


def rows_of(data, name: str = "data") -> tuple:
    """``(x, image_shape)`` from a tensor or a NumPy array of N rows: float32 rows (N, D) in [0, 1]
    on the array's device (bytes / 255); images of shape (N, H, W, C) are stored channels first."""
    if isinstance(data, np.ndarray):
        if data.dtype == object or not (np.issubdtype(data.dtype, np.number) or data.dtype == bool):
            raise DataError(f"{name} must hold numbers, got an array of {data.dtype}")
        data = torch.from_numpy(np.ascontiguousarray(data))
    if not torch.is_tensor(data):
        raise DataError(f"{name} must be a tensor or a NumPy array, got {type(data).__name__}")
    if data.dim() < 2:
        raise DataError(f"{name} must have one row per datapoint (shape (N, ...)), got shape {tuple(data.shape)}")
    if data.shape[0] == 0 or data[0].numel() == 0:
        raise DataError(f"{name} is empty (shape {tuple(data.shape)})")
    if data.dim() == 4 and data.shape[-1] in (1, 3) and data.shape[1] not in (1, 3):
        data = data.permute(0, 3, 1, 2)  # channels last → first
    shape = _image_shape(tuple(data.shape[1:]))
    x = data.reshape(len(data), -1)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    check_rows(x, name)
    return x, shape


def check_rows(x: torch.Tensor, name: str = "data") -> None:
    """Finite values in [0, 1] (one line naming the first bad row otherwise)."""
    finite = torch.isfinite(x).all(1)
    if not finite.all():
        row = int((~finite).nonzero()[0])
        raise DataError(f"{name} has NaN or infinite values (row {row} is the first)")
    inside = ((x >= 0) & (x <= 1)).all(1)
    if not inside.all():
        row = int((~inside).nonzero()[0])
        raise DataError(
            f"{name} has values outside [0, 1] (min {x.min().item():g}, max {x.max().item():g}; "
            f"row {row} is the first): scale it to [0, 1] first (bytes are divided by 255 for you)"
        )


def labels_of(y, rows: int, name: str = "labels") -> torch.Tensor:
    """Integer labels, one per row."""
    y = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y)
    if y.dim() != 1 or len(y) != rows:
        raise DataError(f"{name} must be one label per row ({rows}), got shape {tuple(y.shape)}")
    if y.is_floating_point() and not torch.equal(y, y.round()):
        raise DataError(f"{name} must be integers (class indices)")
    return y.long()


def _read_npz(path: Path) -> Source:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            found = {key: arrays[key] for key in arrays.files}
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {path} as an .npz file ({e})") from None
    if "x" not in found:
        raise DataError(f"{path} holds no array named 'x' (it holds {', '.join(sorted(found)) or 'nothing'})")
    x, shape = rows_of(found["x"], f"{path.name}: x")
    y = labels_of(found["y"], len(x), f"{path.name}: y") if "y" in found else None
    x_test = y_test = None
    if "x_test" in found:
        x_test, test_shape = rows_of(found["x_test"], f"{path.name}: x_test")
        if x_test.shape[1] != x.shape[1]:
            raise DataError(f"{path.name}: x_test rows have {x_test.shape[1]} values, x rows {x.shape[1]}")
        if "y_test" in found:
            y_test = labels_of(found["y_test"], len(x_test), f"{path.name}: y_test")
    elif "y_test" in found:
        raise DataError(f"{path.name} holds y_test but no x_test")
    return Source(x, shape, y, x_test, y_test)


def _read_images(folder: Path, image_size: Optional[int]) -> Source:
    """A folder of images: flat, or one sub-folder per label (sorted names → 0, 1, ...)."""
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes:
        files = [
            (p, label)
            for label, c in enumerate(classes)
            for p in sorted((folder / c).iterdir())
            if p.suffix.lower() in IMAGE_SUFFIXES
        ]
    else:
        files = [(p, None) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"{folder} holds no PNG or JPEG images (flat, or one sub-folder per label)")
    images = []
    for path, _ in files:
        try:
            with Image.open(path) as image:
                image.load()
                images.append(image.copy())
        except (OSError, UnidentifiedImageError) as e:
            raise DataError(f"cannot read the image {path} ({e})") from None
    colour = any(image.mode not in ("L", "1", "I;16", "I", "F") for image in images)
    sizes = {image.size for image in images}
    if image_size is None and len(sizes) > 1:
        (a, b), first = sorted(sizes)[:2], files[0][0]
        raise DataError(
            f"the images in {folder} differ in size ({a[0]}x{a[1]} and {b[0]}x{b[1]}, e.g. {first.name}): "
            "give an image size to resize them to (--image-size N, or image_size=N)"
        )
    arrays = []
    for image in images:
        image = image.convert("RGB" if colour else "L")
        if image_size is not None and image.size != (image_size, image_size):
            image = image.resize((image_size, image_size), Image.BILINEAR)
        arrays.append(np.asarray(image, dtype=np.uint8))
    x, shape = rows_of(np.stack(arrays), f"the images in {folder}")
    y = torch.tensor([label for _, label in files]) if classes else None
    return Source(x, shape, y)


def read_source(path, image_size: Optional[int] = None) -> Source:
    """The rows (and labels, and a given test split) a ``.npy``, ``.npz`` or image folder holds."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist (a data set is a registered name, a .npy or .npz file, or a folder)")
    if path.is_dir():
        return _read_images(path, image_size)
    if path.suffix == ".npz":
        return _read_npz(path)
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read {path} as an .npy file ({e})") from None
        x, shape = rows_of(array, path.name)
        return Source(x, shape)
    raise DataError(f"{path} is not a .npy or .npz file or a folder of images")


def from_dataset(dataset, name: str = "dataset") -> Source:
    """Rows and labels of a map-style dataset of ``(image, label)`` pairs (a torchvision dataset:
    PIL images or tensors), or of images alone."""
    try:
        size = len(dataset)
    except TypeError:
        raise DataError(f"{name} must be a map-style dataset with a length, got {type(dataset).__name__}") from None
    if size == 0:
        raise DataError(f"{name} is empty")
    images, labels = [], []
    for i in range(size):
        item = dataset[i]
        image, label = item if isinstance(item, (tuple, list)) and len(item) == 2 else (item, None)
        if not torch.is_tensor(image):
            image = torch.from_numpy(np.array(image))
            if image.dim() == 3:  # PIL colour: H, W, C
                image = image.permute(2, 0, 1)
        images.append(image)
        labels.append(label)
    shapes = {tuple(image.shape) for image in images}
    if len(shapes) > 1:
        raise DataError(f"{name} holds images of different shapes ({', '.join(map(str, sorted(shapes)[:2]))})")
    x, shape = rows_of(torch.stack(images), name)
    y = None if any(label is None for label in labels) else labels_of([int(label) for label in labels], len(x))
    return Source(x, shape, y)
