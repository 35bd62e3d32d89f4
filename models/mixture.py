"""A mixture of linear-Gaussian models: an exact oracle with a discrete latent site.

y ~ Cat(π), z ~ N(0, I), x | y, z ~ N(W_y z + b_y, s² I). Given y the model is probabilistic PCA, so
log p(x) = log Σ_y π_y N(x; b_y, W_y W_yᵀ + s² I), p(y | x) and p(z | x, y) are known in closed form.
The site ``y`` is marked for parallel enumeration, so a guide may leave it to the model (which
sums it out: Pyro's convention) or sample it itself (:class:`aevb.guides.exact.ExactMixtureGuide`).
The estimators that declare ``handles_discrete`` are tested against
:meth:`LinearGaussianMixture.log_marginal` (``tests/inference/estimators/test_discrete.py``).
"""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from .contract import LocalSite, data_plate


def select(values: torch.Tensor, y: torch.Tensor, event_dims: int) -> torch.Tensor:
    """``values[..., y, *event]`` for a component index ``y`` of any batch shape (an enumerated
    site's values included), broadcast against ``values``' batch: ``values`` is (..., C, *event)."""
    one_hot = nn.functional.one_hot(y, values.shape[-1 - event_dims]).to(values.dtype)
    return (one_hot.reshape(*one_hot.shape, *([1] * event_dims)) * values).sum(-1 - event_dims)


class LinearGaussianMixture(nn.Module):
    """y ~ Cat(softmax(logits)), z ~ N(0, I_K), x | y, z ~ N(W_y z + b_y, noise² I_D), with seeded
    random W (C, D, K), b (C, D) spread ``spread`` apart and logits (C,). Declares ``discrete_latents``."""

    discrete_latents = True

    def __init__(
        self,
        data_dim: int = 5,
        latent_dim: int = 2,
        components: int = 3,
        *,
        noise: float = 0.5,
        spread: float = 3.0,
        seed: int = 0,
    ):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.data_dim, self.latent_dim, self.components, self.noise = data_dim, latent_dim, components, noise
        self.register_buffer("W", torch.randn(components, data_dim, latent_dim, generator=g))
        self.register_buffer("b", spread * torch.randn(components, data_dim, generator=g))
        self.register_buffer("logits", 0.5 * torch.randn(components, generator=g))
        self.local_sites = (LocalSite("z", latent_dim),)

    def forward(self, x: torch.Tensor, *, num_data=None, index=None):
        with data_plate(x, num_data, index):
            y = pyro.sample("y", dist.Categorical(logits=self.logits), infer={"enumerate": "parallel"})
            zero = x.new_zeros(self.latent_dim)
            z = pyro.sample("z", dist.Normal(zero, 1.0).to_event(1))
            loc = (select(self.W, y, 2) @ z.unsqueeze(-1)).squeeze(-1) + select(self.b, y, 1)
            pyro.sample("x", dist.Normal(loc, self.noise).to_event(1), obs=x)

    @torch.no_grad()
    def simulate(self, num: int, generator: torch.Generator = None) -> tuple:
        """``num`` draws (x, y, z) from the model."""
        y = torch.multinomial(self.logits.softmax(-1), num, replacement=True, generator=generator)
        z = torch.randn(num, self.latent_dim, generator=generator, dtype=self.W.dtype)
        noise = self.noise * torch.randn(num, self.data_dim, generator=generator, dtype=self.W.dtype)
        return (self.W[y] @ z.unsqueeze(-1)).squeeze(-1) + self.b[y] + noise, y, z

    def components_marginal(self) -> dist.MultivariateNormal:
        """p(x | y) for every y: batch shape (C,)."""
        cov = self.W @ self.W.transpose(-1, -2) + self.noise**2 * torch.eye(self.data_dim, dtype=self.W.dtype)
        return dist.MultivariateNormal(self.b, covariance_matrix=cov)

    def log_joint_y(self, x: torch.Tensor) -> torch.Tensor:
        """log π_y + log p(x | y) of every row and component: (B, C)."""
        return self.logits.log_softmax(-1) + self.components_marginal().log_prob(x.unsqueeze(-2))

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """The exact log p(x) of every row (nats)."""
        return self.log_joint_y(x).logsumexp(-1)

    def posterior_y(self, x: torch.Tensor) -> torch.Tensor:
        """log p(y | x) of every row and component: (B, C)."""
        return self.log_joint_y(x).log_softmax(-1)

    def posterior_z(self, x: torch.Tensor) -> tuple:
        """p(z | x, y) for every y: its means (B, C, K) and scale_tril (C, K, K)."""
        eye = torch.eye(self.latent_dim, dtype=self.W.dtype)
        precision = eye + self.W.transpose(-1, -2) @ self.W / self.noise**2
        cov = torch.linalg.inv(precision)
        residual = x.unsqueeze(-2) - self.b  # (B, C, D)
        mean = (cov @ self.W.transpose(-1, -2) @ residual.unsqueeze(-1)).squeeze(-1) / self.noise**2
        return mean, torch.linalg.cholesky(cov)
