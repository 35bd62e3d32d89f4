"""The pieces of the model contract (docs/contracts.md, :class:`aevb.inference.contracts.Model`) that
the collection's models share: the ``"data"`` plate every model and guide samples its local sites in
(:func:`data_plate`), and :class:`LocalSite`, the description of a local latent site that guides build
their encoders from (a model of the collection lists them in ``local_sites``, in the order a guide
samples them: from the data up)."""

from dataclasses import dataclass, field
from typing import Callable

import pyro
import torch

from .networks import MLPBody


def data_plate(x: torch.Tensor, num_data, index):
    """The ``"data"`` plate shared by every model and guide of the collection.

    ``index`` holds the rows of ``x`` in the full data set (a guide with per-datapoint
    parameters reads it); by default the rows are ``0..M-1``. Passing the subsample
    explicitly, instead of ``subsample_size``, keeps Pyro from drawing a random
    permutation of ``num_data`` indices on every step that nobody would use.
    """
    if x.dim() != 2:
        raise ValueError(f"x must be a matrix of shape (batch, data_dim), got shape {tuple(x.shape)}")
    batch = x.shape[0]
    if num_data is None:
        num_data = batch
    if not isinstance(num_data, int) or num_data < batch:
        raise ValueError(f"num_data must be an integer >= the batch size {batch}, got {num_data!r}")
    if index is None:
        index = torch.arange(batch, device=x.device)
    elif index.shape != (batch,):
        raise ValueError(f"index must have shape ({batch},), got {tuple(index.shape)}")
    return pyro.plate("data", num_data, subsample=index)


@dataclass(frozen=True)
class LocalSite:
    """A local latent site as a guide sees it.

    :param name: the site's name in the model.
    :param size: its size per datapoint (a vector: event shape ``(size,)``).
    :param inputs: what q conditions it on: ``"x"`` and/or sites sampled before it by the guide.
    :param body: ``body(in_dim) -> nn.Module`` with an ``out_dim``: the encoder network from the
        concatenated inputs to the features a guide family's head reads (the guide initialises it).
    """

    name: str
    size: int
    inputs: tuple = ("x",)
    body: Callable = field(default=None, compare=False)


def mlp_body(hidden_dims) -> Callable:
    """A :class:`LocalSite` body: the tanh layers ``hidden_dims`` (Appendix C.2's encoder)."""
    return lambda in_dim: MLPBody(in_dim, hidden_dims)


def placeholder_rows(model, num: int, device=None) -> torch.Tensor:
    """``num`` rows of ``x`` for tracing ``model`` where no data are at hand (prior draws, a layout, a
    setup): the model's own ``placeholder(num)`` when it offers one (a sequence model's rows must
    hold their steps' flags), else zeros of ``model.data_dim``. Their values are not read."""
    device = device if device is not None else next(model.parameters()).device
    own = getattr(model, "placeholder", None)
    return own(num).to(device) if own is not None else torch.zeros(num, model.data_dim, device=device)
