"""Two stochastic layers (Burda, Grosse & Salakhutdinov 2015, §5 and Table 1): ``--model hierarchical``."""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from .contract import LocalSite, data_plate, mlp_body
from .likelihoods import BernoulliLikelihood, check_binary
from .networks import LOGVAR_MAX, LOGVAR_MIN, make_mlp, register_module


class HierarchicalVAE(nn.Module):
    """p(z₂) p(z₁|z₂) p(x|z₁) with two Gaussian stochastic layers and a Bernoulli likelihood.

    Burda et al.'s architecture for ``latent_dim = 50``: z₂ ~ N(0, I₅₀); z₁ | z₂ ~ N(μ, diag σ²)
    from two tanh layers of 50 units (z₁ has 100 dimensions); x | z₁ ~ Bernoulli from two tanh
    layers of 100 units. In general z₂ has ``latent_dim`` dimensions and z₁ twice as many, and
    every deterministic layer has the size of the stochastic layer it leads to or comes from.
    Its guides follow the same path up: q(z₁|x) through two layers of 2·latent_dim units and
    q(z₂|z₁) through two of latent_dim (``local_sites``).

    z₁'s prior depends on z₂, so no guide has a closed-form KL to it (``analytic_prior`` is
    false): estimator A, IWAE and the other objectives that need only log-densities apply.
    """

    analytic_prior = False

    def __init__(self, data_dim: int = 784, latent_dim: int = 50, init: str = "default"):
        super().__init__()
        top, bottom = latent_dim, 2 * latent_dim
        self.data_dim, self.latent_dim = data_dim, latent_dim
        self.sizes = {"z1": bottom, "z2": top}
        self.likelihood_model = BernoulliLikelihood()
        self.top_decoder = make_mlp(top, (top, top), 2 * bottom, init)  # z₂ → (μ, log σ²) of z₁
        self.decoder = make_mlp(bottom, (bottom, bottom), data_dim, init)  # z₁ → logits of x
        self.local_sites = (
            LocalSite("z1", bottom, ("x",), mlp_body((bottom, bottom))),
            LocalSite("z2", top, ("z1",), mlp_body((top, top))),
        )

    def check_data(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[-1] != self.data_dim:
            raise ValueError(f"{type(self).__name__} expects x of shape (batch, {self.data_dim}), got {tuple(x.shape)}")
        check_binary(x, type(self).__name__)

    def conditional(self, z2: torch.Tensor) -> dist.TorchDistribution:
        """p(z₁|z₂)."""
        loc, logvar = self.top_decoder(z2).split(self.sizes["z1"], dim=-1)
        return dist.Normal(loc, torch.exp(0.5 * logvar.clamp(LOGVAR_MIN, LOGVAR_MAX))).to_event(1)

    def forward(self, x: torch.Tensor, *, num_data=None, index=None):
        self.check_data(x)
        register_module("top_decoder", self.top_decoder)
        register_module("decoder", self.decoder)
        zero = x.new_zeros(())
        with data_plate(x, num_data, index):
            z2 = pyro.sample("z2", dist.Normal(zero, zero + 1.0).expand([self.sizes["z2"]]).to_event(1))
            z1 = pyro.sample("z1", self.conditional(z2))
            pyro.sample("x", self.likelihood_model.distribution(self.decoder(z1), self.data_dim), obs=x)
        return z1
