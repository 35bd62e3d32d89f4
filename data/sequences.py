"""Variable-length sequences as rows: how a sequence data set enters every part of the collection.

The collection's data are rows (N, D) (the model contract: docs/contracts.md), which the training
loop orders, batches and checkpoints, and the estimators score, without knowing what a row holds.
A sequence of up to ``steps`` time steps of ``width`` numbers each becomes one row of
``steps × (width + 1)`` numbers: each step's values followed by a flag that is 1 where the step is
part of the sequence and 0 where the row is padding. The flags of a row are a run of ones then
zeros (a sequence starts at step 1); a sequence model reads its length from them
(:func:`unpack`) and scores only its own steps. The flag is data, not modelled: a model's log p(x)
is that of the sequence given its length, as the literature's per-time-step numbers are.
"""

import torch

from .errors import DataError


def pack(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Rows (N, steps·(width+1)) from ``values`` (N, steps, width) and ``lengths`` (N,): each step's
    values (zero past the sequence's end) and its presence flag."""
    if values.dim() != 3:
        raise DataError(f"sequences must have shape (N, steps, width), got {tuple(values.shape)}")
    lengths = torch.as_tensor(lengths, device=values.device)
    if lengths.shape != values.shape[:1]:
        raise DataError(f"lengths must have shape ({len(values)},), got {tuple(lengths.shape)}")
    if len(lengths) and not (1 <= int(lengths.min()) and int(lengths.max()) <= values.shape[1]):
        raise DataError(f"every length must be between 1 and {values.shape[1]} steps")
    present = torch.arange(values.shape[1], device=values.device) < lengths[:, None]
    return join(values.float(), present)


def join(values: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Rows (..., steps·(width+1)) from ``values`` (..., steps, width) and the steps' presence flags
    ``present`` (..., steps): the one place the row layout is written (:func:`unpack` reads it)."""
    values = values * present[..., None]
    return torch.cat([values, present[..., None].to(values.dtype)], dim=-1).flatten(-2)


def unpack(x: torch.Tensor, width: int) -> tuple:
    """``(values, present)`` of packed rows ``x`` (..., steps·(width+1)): values (..., steps, width)
    and the presence flags (..., steps) as booleans."""
    if x.shape[-1] % (width + 1):
        raise DataError(f"a packed row of {x.shape[-1]} numbers is not a whole number of steps of {width} + 1")
    steps = x.reshape(*x.shape[:-1], x.shape[-1] // (width + 1), width + 1)
    return steps[..., :width], steps[..., width] > 0.5


def lengths_of(x: torch.Tensor, width: int) -> torch.Tensor:
    """The number of steps of each packed row."""
    return unpack(x, width)[1].sum(-1)


def check_packed(x: torch.Tensor, width: int, name: str = "sequences") -> None:
    """Refuse rows that are not packed sequences of ``width``: flags not 0/1, not a run of ones
    then zeros, or no step at all."""
    _, flags = unpack(x, width)
    raw = x.reshape(*x.shape[:-1], -1, width + 1)[..., width]
    if not torch.all((raw == 0) | (raw == 1)):
        raise DataError(f"{name}: every step's last number must be its presence flag, 0 or 1")
    if flags.shape[-1] > 1 and torch.any(flags[..., 1:] & ~flags[..., :-1]):
        raise DataError(f"{name}: a sequence's steps must come first, its padding after them")
    if torch.any(~flags[..., 0]):
        raise DataError(f"{name}: every sequence needs at least one step")
