"""The generative model p(z) p_θ(x|z) of the variational auto-encoder (§3, Appendix C).

A model is a Pyro program ``model(x, *, num_data, index=None)`` (see DESIGN.md): it
registers its decoder with :func:`pyro.module`, samples ``"z"`` inside
``pyro.plate("data", num_data, subsample=index)`` and observes ``"x"``. Because the plate
carries the full data-set size ``num_data`` while ``x`` holds a minibatch of ``M`` rows,
every log-density in the trace is scaled by ``N / M``: any Pyro ELBO of this program is the
minibatch estimator of the full-data bound, eq. (8) of the paper.
"""

import math

import pyro
import pyro.distributions as dist
from pyro.infer.util import is_validation_enabled
import torch
from torch import nn

from .likelihoods import FastBernoulli
from .networks import LOGVAR_MAX, LOGVAR_MIN, make_mlp, register_module


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


class VAEModel(nn.Module):
    """Base class: prior p(z) = N(0, I) and a decoder-defined likelihood p_θ(x|z).

    Subclasses build the decoder (registered with Pyro as ``"decoder"``) and implement
    :meth:`observation`, which maps the decoder's output for latent codes of shape
    ``(..., latent_dim)`` to a distribution over ``x`` with event shape ``(data_dim,)``
    (kept apart from the decoder so that a Bayesian decoder can reuse it, :mod:`aevb.models.bayesian`).
    """

    def __init__(self, data_dim: int, latent_dim: int, decoder: nn.Module, hidden_dim=None):
        super().__init__()
        self.data_dim, self.latent_dim, self.hidden_dim = data_dim, latent_dim, hidden_dim
        self.decoder = decoder

    def observation(self, output: torch.Tensor) -> dist.TorchDistribution:
        """p(x | decoder output)."""
        raise NotImplementedError

    def likelihood(self, z: torch.Tensor) -> dist.TorchDistribution:
        """p_θ(x|z)."""
        return self.observation(self.decoder(z))

    def check_data(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[-1] != self.data_dim:
            raise ValueError(
                f"{type(self).__name__} expects x of shape (batch, {self.data_dim}), got {tuple(x.shape)}"
            )

    def prior(self, like: torch.Tensor) -> dist.TorchDistribution:
        """p(z) = N(0, I), on the device and dtype of ``like``."""
        zero = like.new_zeros(())
        return dist.Normal(zero, zero + 1.0).expand([self.latent_dim]).to_event(1)

    def forward(self, x: torch.Tensor, *, num_data=None, index=None):
        self.check_data(x)
        register_module("decoder", self.decoder)
        with data_plate(x, num_data, index):
            z = pyro.sample("z", self.prior(x))
            pyro.sample("x", self.likelihood(z), obs=x)
        return z

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x | z], e.g. for sample and reconstruction images."""
        return self.likelihood(z).mean


class BernoulliVAE(VAEModel):
    """Bernoulli MLP decoder for binary data (Appendix C.1).

    ``log p(x|z) = Σ_d x_d log y_d + (1 − x_d) log(1 − y_d)`` with
    ``y = sigmoid(W₂ tanh(W₁ z + b₁) + b₂)``, evaluated from the logits for stability.
    """

    def __init__(self, data_dim: int = 784, latent_dim: int = 20, hidden_dim: int = 500, init: str = "default"):
        super().__init__(data_dim, latent_dim, make_mlp(latent_dim, hidden_dim, data_dim, init), hidden_dim)

    def observation(self, logits):
        # validate_args=False: the support check runs once in check_data instead.
        return FastBernoulli(logits=logits, validate_args=False).to_event(1)

    def check_data(self, x):
        """Shape, and 0/1 pixels while Pyro's validation is on (the default; the training loop
        turns it off in its hot loop because the data layer has checked the whole split)."""
        super().check_data(x)
        if is_validation_enabled() and not ((x == 0) | (x == 1)).all():
            raise ValueError(
                "BernoulliVAE needs binary x (0/1 pixels); binarise grey levels first "
                "(data.binarize, or --binarize dynamic/static)"
            )

class GaussianVAE(VAEModel):
    """Gaussian MLP decoder for real-valued data (Appendix C.2, encoder with x and z swapped).

    ``h = tanh(W₃ z + b₃)``, mean ``μ = W₄ h + b₄`` (through a sigmoid when
    ``sigmoid_mean=True``, for data in (0, 1)) and ``log σ² = W₅ h + b₅``.
    """

    def __init__(
        self,
        data_dim: int = 560,
        latent_dim: int = 20,
        hidden_dim: int = 200,
        init: str = "default",
        sigmoid_mean: bool = True,
    ):
        super().__init__(data_dim, latent_dim, make_mlp(latent_dim, hidden_dim, 2 * data_dim, init), hidden_dim)
        self.sigmoid_mean = sigmoid_mean

    def observation(self, output):
        loc, logvar = output.split(self.data_dim, dim=-1)
        if self.sigmoid_mean:
            loc = torch.sigmoid(loc)
        scale = torch.exp(0.5 * logvar.clamp(LOGVAR_MIN, LOGVAR_MAX))
        return dist.Normal(loc, scale).to_event(1)


MODELS = {"bernoulli": BernoulliVAE, "gaussian": GaussianVAE}


def log_standard_normal_prior(params) -> torch.Tensor:
    """log N(θ; 0, I) summed over the given parameters: the paper's weight decay (§5)."""
    total = 0.0
    count = 0
    for p in params:
        total = total + p.pow(2).sum()
        count += p.numel()
    return -0.5 * total - 0.5 * count * math.log(2 * math.pi)
