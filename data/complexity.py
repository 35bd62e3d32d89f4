"""How complex an input is: the length in bits of its losslessly compressed bytes.

Serrà et al. (2020, "Input complexity and out-of-distribution detection with likelihood-based
generative models") estimate an input's complexity L(x) by a general-purpose lossless compressor
and correct a model's log-likelihood by it: an input that any compressor finds simple (a mostly
black MNIST digit) gets a high likelihood from every model, so log₂ p(x) + L(x) (minus their
score S(x)) compares the model with a universal one instead. Rows are quantised to bytes
(round(255 x)) and compressed as the image they are (PNG, deflate at level 9 after PNG's filters)
or as raw bytes (zlib, level 9); the lengths include the format's fixed overhead, the same for
every row of a shape, so it shifts every score alike.
"""

import io
import zlib

import numpy as np
import torch

from .errors import DataError


def _as_bytes(x: torch.Tensor, image_shape: tuple) -> np.ndarray:
    """Rows (N, D) in [0, 1] → uint8 images (N, H, W) or (N, H, W, C)."""
    images = (x.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    shape = tuple(image_shape)
    if int(np.prod(shape)) != x.shape[1]:
        raise DataError(f"rows of {x.shape[1]} values are not images of shape {shape}")
    images = images.reshape(len(images), *shape)
    return np.ascontiguousarray(np.moveaxis(images, 1, -1)) if len(shape) == 3 else images


def _png(image: np.ndarray) -> int:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=9)
    return buffer.tell()


def _zlib(image: np.ndarray) -> int:
    return len(zlib.compress(image.tobytes(), 9))


#: ``--complexity NAME`` → the compressed length in bytes of one uint8 image.
COMPRESSORS = {"png": _png, "zlib": _zlib}


def compressed_bits(x: torch.Tensor, image_shape: tuple, method: str = "png") -> torch.Tensor:
    """L(x) of every row of ``x`` (N, D) in [0, 1]: its compressed length in bits (float64, on the CPU)."""
    if method not in COMPRESSORS:
        raise DataError(f"complexity must be one of {sorted(COMPRESSORS)}, got {method!r}")
    compress = COMPRESSORS[method]
    images = _as_bytes(x, image_shape)
    return torch.tensor([8.0 * compress(image) for image in images], dtype=torch.float64)
