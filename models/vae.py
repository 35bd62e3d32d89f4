"""The contract every model of the collection follows, and the paper's MLP VAE (§3, Appendix C).

**A model** is a Pyro program ``model(x, *, num_data, index=None)`` (an ``nn.Module``) that
registers its networks with Pyro, samples any number of local latent sites inside the shared
``"data"`` plate (:func:`data_plate`), may sample global sites outside it (full VB), and
observes ``"x"``. Because the plate carries the full data-set size ``num_data`` while ``x``
holds a minibatch of ``M`` rows, every log-density in the trace is scaled by ``N / M``: any
Pyro ELBO of the program is the minibatch estimator of the full-data bound, eq. (8).

Every algorithm and estimator works from the program's Pyro traces over all its latent sites
(:mod:`aevb.inference.latents`); what a model declares beyond the program is what its guides
need to build an encoder for it:

* ``data_dim``: the size of a datapoint (x has shape ``(batch, data_dim)``);
* ``local_sites``: one :class:`LocalSite` per local latent site, in the order a guide samples
  them (the reverse of the generative order: from the data up), with what q conditions the site
  on and the network that encodes it;
* ``analytic_prior``: every local site's prior is a fixed distribution (no latent parents), so a
  guide with a closed-form KL to it can use estimator B.
"""

import math
from dataclasses import dataclass, field
from typing import Callable

import pyro
import pyro.distributions as dist
import torch
from pyro.infer.util import is_validation_enabled
from torch import nn

from .likelihoods import FastBernoulli
from .networks import LOGVAR_MAX, LOGVAR_MIN, MLPBody, make_mlp, register_module


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


# ----------------------------------------------------------------------------- likelihoods


class BernoulliLikelihood:
    """p(x|z) = Bernoulli(sigmoid(ℓ)) for binary data, from the logits ℓ (Appendix C.1):
    ``log p(x|z) = Σ_d x_d ℓ_d − softplus(ℓ_d)``, stable for any ℓ."""

    binary = True

    def outputs(self, data_dim: int) -> int:
        return data_dim

    def distribution(self, output: torch.Tensor, data_dim: int):
        # validate_args=False: the support check runs once in check_data instead.
        return FastBernoulli(logits=output, validate_args=False).to_event(1)


class GaussianLikelihood:
    """p(x|z) = N(μ, diag σ²) for real-valued data (Appendix C.2, the encoder with x and z
    swapped): the network outputs μ (through a sigmoid when ``sigmoid_mean``, for data in
    (0, 1)) and log σ², clamped before exponentiation."""

    binary = False

    def __init__(self, sigmoid_mean: bool = True):
        self.sigmoid_mean = sigmoid_mean

    def outputs(self, data_dim: int) -> int:
        return 2 * data_dim

    def distribution(self, output: torch.Tensor, data_dim: int):
        loc, logvar = output.split(data_dim, dim=-1)
        if self.sigmoid_mean:
            loc = torch.sigmoid(loc)
        return dist.Normal(loc, torch.exp(0.5 * logvar.clamp(LOGVAR_MIN, LOGVAR_MAX))).to_event(1)


#: ``--likelihood NAME`` → the observation model of a decoder's output.
LIKELIHOODS = {"bernoulli": BernoulliLikelihood, "gaussian": GaussianLikelihood}


# ----------------------------------------------------------------------------- models with one latent site


class VAEModel(nn.Module):
    """A model with one local latent site ``"z"`` ~ N(0, I) and a decoder-defined likelihood
    p_θ(x|z) (the paper's VAE). Subclasses build ``decoder`` (registered with Pyro as
    ``"decoder"``) and implement :meth:`observation`, which maps the decoder's output for latent
    codes of shape ``(..., latent_dim)`` to a distribution over ``x`` with event shape
    ``(data_dim,)`` (kept apart from the decoder so that a Bayesian decoder can reuse it).
    ``encoder_body`` is what a guide's encoder for ``"z"`` is built from.
    """

    analytic_prior = True  # z ~ N(0, I): no latent parents

    def __init__(self, data_dim: int, latent_dim: int, decoder: nn.Module, encoder_body: Callable, hidden_dims=None):
        super().__init__()
        self.data_dim, self.latent_dim, self.hidden_dims = data_dim, latent_dim, hidden_dims
        self.decoder = decoder
        self.local_sites = (LocalSite("z", latent_dim, ("x",), encoder_body),)

    def observation(self, output: torch.Tensor) -> dist.TorchDistribution:
        """p(x | decoder output)."""
        raise NotImplementedError

    def likelihood(self, z: torch.Tensor) -> dist.TorchDistribution:
        """p_θ(x|z)."""
        return self.observation(self.decoder(z))

    def check_data(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[-1] != self.data_dim:
            raise ValueError(f"{type(self).__name__} expects x of shape (batch, {self.data_dim}), got {tuple(x.shape)}")

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


class MLPVAE(VAEModel):
    """``--model mlp``: p(z) = N(0, I) and an MLP decoder of tanh layers ``hidden_dims`` with a
    Bernoulli or Gaussian likelihood (Appendix C). The paper's is one layer of 500 units
    (``hidden_dims=(500,)``, ``latent_dim`` 20); Burda et al.'s one-stochastic-layer model is
    two layers of 200 with 50 latents. Its guides encode z from x with the same hidden sizes.
    """

    def __init__(self, data_dim: int = 784, latent_dim: int = 20, hidden_dims=(500,), likelihood: str = "bernoulli",
                 init: str = "default", sigmoid_mean: bool = True):
        hidden_dims = (hidden_dims,) if isinstance(hidden_dims, int) else tuple(hidden_dims)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {sorted(LIKELIHOODS)}, got {likelihood!r}")
        observation = LIKELIHOODS[likelihood](sigmoid_mean) if likelihood == "gaussian" else LIKELIHOODS[likelihood]()
        decoder = make_mlp(latent_dim, hidden_dims, observation.outputs(data_dim), init)
        super().__init__(data_dim, latent_dim, decoder, mlp_body(hidden_dims), hidden_dims)
        self.likelihood_model = observation

    def observation(self, output):
        return self.likelihood_model.distribution(output, self.data_dim)

    def check_data(self, x):
        """Shape, and for the Bernoulli likelihood 0/1 pixels while Pyro's validation is on (the
        default; the training loop turns it off in its hot loop because the data layer has
        checked the whole split)."""
        super().check_data(x)
        if self.likelihood_model.binary:
            check_binary(x, type(self).__name__)


def check_binary(x: torch.Tensor, who: str) -> None:
    """A Bernoulli likelihood needs 0/1 data (checked while Pyro's validation is on)."""
    if is_validation_enabled() and not ((x == 0) | (x == 1)).all():
        raise ValueError(f"{who} needs binary x (0/1 pixels); binarise grey levels first (aevb.data.binarize, or --binarize dynamic/static)")


class BernoulliVAE(MLPVAE):
    """The paper's Bernoulli MLP VAE (Appendix C.1): ``MLPVAE`` with the Bernoulli likelihood."""

    def __init__(self, data_dim: int = 784, latent_dim: int = 20, hidden_dim=500, init: str = "default"):
        super().__init__(data_dim, latent_dim, hidden_dim, "bernoulli", init)


class GaussianVAE(MLPVAE):
    """The paper's Gaussian MLP VAE (Appendix C.2): ``MLPVAE`` with the Gaussian likelihood."""

    def __init__(self, data_dim: int = 560, latent_dim: int = 20, hidden_dim=200, init: str = "default", sigmoid_mean: bool = True):
        super().__init__(data_dim, latent_dim, hidden_dim, "gaussian", init, sigmoid_mean)


def log_standard_normal_prior(params) -> torch.Tensor:
    """log N(θ; 0, I) summed over the given parameters: the paper's weight decay (§5)."""
    total = 0.0
    count = 0
    for p in params:
        total = total + p.pow(2).sum()
        count += p.numel()
    return -0.5 * total - 0.5 * count * math.log(2 * math.pi)
