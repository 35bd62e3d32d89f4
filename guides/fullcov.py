"""The full-covariance Gaussian family q(z | λ) = N(μ, L Lᵀ), its Cholesky factor from the encoder."""

import pyro.distributions as dist
import torch
from pyro.distributions import Independent, MultivariateNormal, Normal
from torch import nn
from torch.distributions import register_kl

from .amortised import AmortisedGuide, diagonal_scale


class FullCovarianceFamily(nn.Module):
    """q(z | λ) = N(μ, L Lᵀ) with the Cholesky factor L = (I + A) diag(σ): A strictly lower
    triangular, σ = exp(½ · clamped log σ²) (positive by construction). Every covariance has this
    form (it is the LDLᵀ decomposition with D = diag σ²), and column j of L scales with σⱼ, so the
    correlations do not have to shrink by hand when the posterior narrows during training.

    λ = (μ, log σ², strictly-lower entries of A). The head's A outputs start at zero
    (:meth:`prepare_head`): the guide starts as the diagonal one. Its KL to a diagonal Gaussian
    prior is analytic (registered below), so estimator B applies.
    """

    def __init__(self, size: int, features: int = None):
        super().__init__()
        self.size = size
        rows, cols = torch.tril_indices(size, size, offset=-1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    @staticmethod
    def head_dim(size: int, features: int) -> int:
        return 2 * size + size * (size - 1) // 2

    def num_local(self) -> int:
        return self.head_dim(self.size, None)

    @torch.no_grad()
    def prepare_head(self, head: nn.Linear) -> None:
        head.weight[2 * self.size :].zero_()
        head.bias[2 * self.size :].zero_()

    def local(self, head, features):
        return head

    def distribution(self, params):
        d = self.size
        loc, logvar, lower = params[..., :d], params[..., d : 2 * d], params[..., 2 * d :]
        unit_lower = torch.eye(d, dtype=params.dtype, device=params.device).expand(lower.shape[:-1] + (d, d)).clone()
        unit_lower[..., self.rows, self.cols] = lower
        scale_tril = unit_lower * diagonal_scale(logvar).unsqueeze(-2)  # (I + A) diag(σ)
        return dist.MultivariateNormal(loc, scale_tril=scale_tril)

    def code(self, params):
        return params[..., : self.size]

    def prior_parameters(self, num: int, like: torch.Tensor) -> torch.Tensor:
        return like.new_zeros(num, self.num_local())


class FullCovarianceGuide(AmortisedGuide):
    """The amortised full-covariance Gaussian q_φ(z|x) = N(μ, L Lᵀ) for every local site (or, with
    ``data_dim, latent_dim, hidden_dim``, the paper's one site); the same encoders as the
    diagonal guide with wider heads."""

    family_class = FullCovarianceFamily
    analytic_kl = True  # KL between Gaussians in closed form
    density_anywhere = True


# Pyro 1.9.2 registers KL(Independent(Normal) ‖ MultivariateNormal) but not this direction,
# which estimator B needs for a full-covariance guide against the diagonal N(0, I) prior.
@register_kl(MultivariateNormal, Independent)
def _kl_mvn_diagonal_normal(q, p):
    """KL(N(μ, L Lᵀ) ‖ N(m, diag s²)) = ½ [Σᵢ (LLᵀ)ᵢᵢ/sᵢ² + Σᵢ (mᵢ−μᵢ)²/sᵢ² − d + 2 Σᵢ log sᵢ − 2 Σᵢ log Lᵢᵢ]."""
    if not (isinstance(p.base_dist, Normal) and p.reinterpreted_batch_ndims == 1):
        raise NotImplementedError
    var_p = p.base_dist.scale**2
    q_var = q.scale_tril.pow(2).sum(-1)  # diagonal of L Lᵀ
    trace = (q_var / var_p).sum(-1)
    mahalanobis = ((p.base_dist.loc - q.loc) ** 2 / var_p).sum(-1)
    log_det = 2 * p.base_dist.scale.log().sum(-1) - 2 * q.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    return 0.5 * (trace + mahalanobis - q.event_shape[0] + log_det)
