"""The diagonal Gaussian family: the paper's recognition model q_φ(z|x) = N(μ, diag σ²) (§3, Appendix C.2)."""

import pyro.distributions as dist
import torch
from torch import nn

from .amortised import AmortisedGuide, diagonal_scale


class DiagonalFamily(nn.Module):
    """q(z | λ) = N(μ, diag σ²) with λ = (μ, log σ²): 2·size local parameters per site. Its KL to
    a N(0, I) prior is analytic (Appendix B), which estimator B uses."""

    def __init__(self, size: int, features: int = None):
        super().__init__()
        self.size = size

    @staticmethod
    def head_dim(size: int, features: int) -> int:
        return 2 * size

    def num_local(self) -> int:
        return 2 * self.size

    def local(self, head: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """λ from the encoder's head output (and features, which this family does not read)."""
        return head

    def prepare_head(self, head: nn.Linear) -> None:
        """Nothing to prepare: the head's default initialisation is this family's."""

    def distribution(self, params: torch.Tensor):
        loc, logvar = params.split(self.size, dim=-1)
        return dist.Normal(loc, diagonal_scale(logvar)).to_event(1)

    def code(self, params: torch.Tensor) -> torch.Tensor:
        """The point summary of q (its mean)."""
        return params[..., : self.size]

    def prior_parameters(self, num: int, like: torch.Tensor) -> torch.Tensor:
        """λ of q = N(0, I): where a fit for new points starts."""
        return like.new_zeros(num, self.num_local())


class DiagonalGaussianGuide(AmortisedGuide):
    """q_φ(z|x) = N(μ, diag σ²) with ``h = tanh(W₃ x + b₃)``, ``μ = W₄ h + b₄``,
    ``log σ² = W₅ h + b₅`` (Appendix C.2; W₄ and W₅ are one linear head), for every local site
    of a model (``AmortisedGuide.for_model``) or, with the arguments below, for one site ``"z"``
    of size ``latent_dim`` encoded by ``hidden_dim`` tanh units (the paper's VAE)."""

    family_class = DiagonalFamily
    analytic_kl = True  # KL to a N(0, I) prior in closed form (Appendix B)
    density_anywhere = True
