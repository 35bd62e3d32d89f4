"""Binarisation of grey-level images for Bernoulli decoders, and checks on pixel values."""

import torch

from .errors import DataError

MODES = ("dynamic", "static", "none")
#: The test set is binarised once with this seed, whatever the training seed, so that test
#: numbers of different runs are computed on the same binary images.
TEST_BINARIZATION_SEED = 0


def check_pixels(x: torch.Tensor, name: str = "data") -> None:
    """Pixels must be finite and lie in [0, 1]."""
    if not torch.isfinite(x).all():
        raise DataError(f"{name} contains NaN or infinite pixel values")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise DataError(
            f"{name} has pixels outside [0, 1] (min {x.min().item():g}, max {x.max().item():g}); scale it first"
        )


def check_binary(x: torch.Tensor, name: str = "data") -> None:
    """A Bernoulli likelihood needs every pixel to be exactly 0 or 1."""
    if not ((x == 0) | (x == 1)).all():
        raise DataError(
            f"{name} is not binary but the Bernoulli likelihood needs 0/1 pixels; "
            f"use --binarize dynamic or static instead of none"
        )


def bernoulli_draw(x: torch.Tensor, seed: int) -> torch.Tensor:
    """One binary draw of every pixel, ``P(pixel = 1) = grey level``, reproducible from ``seed``."""
    generator = torch.Generator(device=x.device).manual_seed(seed)
    return torch.bernoulli(x, generator=generator)


def prepare(x: torch.Tensor, mode: str, seed: int, name: str = "data", require_binary: bool = True) -> torch.Tensor:
    """Check grey levels in [0, 1] and apply a binarisation mode to a whole split.

    ``dynamic`` returns the grey levels unchanged (the training loop draws a fresh binary
    image for every minibatch, so every epoch sees new draws); ``static`` returns one fixed
    draw from ``seed``; ``none`` requires the data to be binary already, unless
    ``require_binary=False`` (grey-level data sets meant for a Gaussian decoder).
    """
    if mode not in MODES:
        raise DataError(f"binarize must be one of {MODES}, got {mode!r}")
    check_pixels(x, name)
    if mode == "static":
        return bernoulli_draw(x, seed)
    if mode == "none" and require_binary:
        check_binary(x, name)
    return x
