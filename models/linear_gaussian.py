"""The linear-Gaussian model (probabilistic PCA): an exact oracle for every estimator.

p(z) = N(0, I), p(x|z) = N(W z + b, σ² I) (Tipping & Bishop 1999). It has closed forms for
the marginal likelihood, the posterior and the maximum-likelihood parameters, and is a
regular model of this collection (``"z"`` and ``"x"`` sites, the ``"data"`` plate), so every
guide, algorithm and estimator can be checked against exact answers on it.
"""

import math

import pyro.distributions as dist
import torch
from torch import nn

from .vae import VAEModel


class LinearDecoder(nn.Module):
    """x's mean W z + b and a shared log standard deviation log σ."""

    def __init__(self, latent_dim: int, data_dim: int):
        super().__init__()
        self.linear = nn.Linear(latent_dim, data_dim)
        self.log_scale = nn.Parameter(torch.zeros(()))

    def forward(self, z):
        return self.linear(z)


class LinearGaussianModel(VAEModel):
    """p(z) = N(0, I), p(x|z) = N(W z + b, σ² I), with closed-form log p(x), p(z|x) and ML fit."""

    def __init__(self, data_dim: int = 5, latent_dim: int = 2):
        for name, value in (("data_dim", data_dim), ("latent_dim", latent_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        super().__init__(data_dim, latent_dim, LinearDecoder(latent_dim, data_dim))

    # ----------------------------------------------------------------- parameters
    @property
    def W(self) -> torch.Tensor:
        return self.decoder.linear.weight

    @property
    def b(self) -> torch.Tensor:
        return self.decoder.linear.bias

    @property
    def sigma(self) -> torch.Tensor:
        return self.decoder.log_scale.exp()

    @torch.no_grad()
    def set_parameters(self, W, b, sigma) -> "LinearGaussianModel":
        self.decoder.linear.weight.copy_(torch.as_tensor(W))
        self.decoder.linear.bias.copy_(torch.as_tensor(b))
        self.decoder.log_scale.copy_(torch.as_tensor(float(sigma)).log())
        return self

    # ----------------------------------------------------------------- the model
    def observation(self, mean):
        return dist.Normal(mean, self.sigma).to_event(1)

    # ----------------------------------------------------------------- closed forms
    def marginal(self) -> dist.MultivariateNormal:
        """p(x) = N(b, W Wᵀ + σ² I)."""
        cov = self.W @ self.W.T + self.sigma**2 * torch.eye(self.data_dim, dtype=self.W.dtype, device=self.W.device)
        return dist.MultivariateNormal(self.b, covariance_matrix=cov)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) of every row of ``x`` (nats)."""
        return self.marginal().log_prob(x)

    def posterior(self, x: torch.Tensor) -> dist.MultivariateNormal:
        """Exact p(z|x) = N(M⁻¹ Wᵀ (x − b), σ² M⁻¹) with M = WᵀW + σ² I, batched over rows of ``x``."""
        eye = torch.eye(self.latent_dim, dtype=self.W.dtype, device=self.W.device)
        m = self.W.T @ self.W + self.sigma**2 * eye
        m_inv = torch.linalg.inv(m)
        loc = (x - self.b) @ self.W @ m_inv.T
        cov = self.sigma**2 * m_inv
        return dist.MultivariateNormal(loc, covariance_matrix=cov.expand(x.shape[:-1] + cov.shape))

    @classmethod
    def maximum_likelihood(cls, x: torch.Tensor, latent_dim: int) -> "LinearGaussianModel":
        """Tipping & Bishop's closed-form ML estimate: b = mean, σ² = mean of the discarded
        eigenvalues of the sample covariance, W = U_K (Λ_K − σ² I)^½."""
        n, d = x.shape
        if not latent_dim < d:
            raise ValueError(f"latent_dim must be smaller than the data dimension {d}")
        b = x.mean(0)
        cov = (x - b).T @ (x - b) / n
        eigvals, eigvecs = torch.linalg.eigh(cov)
        eigvals, eigvecs = eigvals.flip(0), eigvecs.flip(1)
        sigma2 = eigvals[latent_dim:].mean()
        W = eigvecs[:, :latent_dim] * (eigvals[:latent_dim] - sigma2).clamp(min=0).sqrt()
        return cls(d, latent_dim).to(x.dtype).set_parameters(W, b, math.sqrt(sigma2.item()))
