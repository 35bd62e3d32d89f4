"""The paper's MLP VAE (§3, Appendix C): p(z) = N(0, I) and a decoder-defined likelihood p_θ(x|z),
``--model mlp``; :class:`VAEModel` is the one-latent-site base the convolutional model shares."""

from typing import Callable

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from .contract import LocalSite, data_plate, mlp_body
from .likelihoods import LIKELIHOODS, check_binary
from .networks import make_mlp, register_module


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

    def __init__(
        self,
        data_dim: int = 784,
        latent_dim: int = 20,
        hidden_dims=(500,),
        likelihood: str = "bernoulli",
        init: str = "default",
        sigmoid_mean: bool = True,
    ):
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


class BernoulliVAE(MLPVAE):
    """The paper's Bernoulli MLP VAE (Appendix C.1): ``MLPVAE`` with the Bernoulli likelihood."""

    def __init__(self, data_dim: int = 784, latent_dim: int = 20, hidden_dim=500, init: str = "default"):
        super().__init__(data_dim, latent_dim, hidden_dim, "bernoulli", init)


class GaussianVAE(MLPVAE):
    """The paper's Gaussian MLP VAE (Appendix C.2): ``MLPVAE`` with the Gaussian likelihood."""

    def __init__(
        self,
        data_dim: int = 560,
        latent_dim: int = 20,
        hidden_dim=200,
        init: str = "default",
        sigmoid_mean: bool = True,
    ):
        super().__init__(data_dim, latent_dim, hidden_dim, "gaussian", init, sigmoid_mean)
