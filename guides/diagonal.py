"""The amortised diagonal Gaussian recognition model q_φ(z|x) (§3, Appendix C.2)."""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from models.networks import LOGVAR_MAX, LOGVAR_MIN, make_mlp, register_module
from models.vae import data_plate


class DiagonalGaussianGuide(nn.Module):
    """q_φ(z|x) = N(μ, diag σ²) with ``h = tanh(W₃ x + b₃)``, ``μ = W₄ h + b₄``,
    ``log σ² = W₅ h + b₅`` (Appendix C.2); W₄ and W₅ are stored as one linear layer.

    A Pyro guide with the model's signature ``guide(x, *, num_data, index=None)``,
    sampling the same ``"z"`` site inside the same ``"data"`` plate. Its KL to the prior
    N(0, I) is analytic (Appendix B), which :class:`pyro.infer.TraceMeanField_ELBO` uses.
    """

    def __init__(self, data_dim: int = 784, latent_dim: int = 20, hidden_dim: int = 500, init: str = "default"):
        super().__init__()
        self.data_dim, self.latent_dim, self.hidden_dim = data_dim, latent_dim, hidden_dim
        self.encoder = make_mlp(data_dim, hidden_dim, 2 * latent_dim, init)

    def posterior(self, x: torch.Tensor) -> dist.TorchDistribution:
        """q_φ(z|x) for a batch ``x`` of shape ``(batch, data_dim)``."""
        if x.dim() != 2 or x.shape[-1] != self.data_dim:
            raise ValueError(f"guide expects x of shape (batch, {self.data_dim}), got {tuple(x.shape)}")
        loc, logvar = self.encoder(x).split(self.latent_dim, dim=-1)
        scale = torch.exp(0.5 * logvar.clamp(LOGVAR_MIN, LOGVAR_MAX))
        return dist.Normal(loc, scale).to_event(1)

    def forward(self, x: torch.Tensor, *, num_data=None, index=None):
        register_module("encoder", self.encoder)
        with data_plate(x, num_data, index):
            return pyro.sample("z", self.posterior(x))
