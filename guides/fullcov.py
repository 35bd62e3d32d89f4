"""The amortised full-covariance Gaussian q_φ(z|x) = N(μ, L Lᵀ): the encoder outputs a Cholesky factor."""

import pyro.distributions as dist
import torch
from pyro.distributions import Independent, MultivariateNormal, Normal
from torch.distributions import register_kl

from .amortised import EncoderGuide, diagonal_scale


class FullCovarianceGuide(EncoderGuide):
    """q_φ(z|x) = N(μ, L Lᵀ) with the Cholesky factor L = (I + A) diag(σ): A strictly lower
    triangular, σ = exp(½ · clamped log σ²) (positive by construction), all outputs of the same
    encoder as the diagonal guide (Appendix C.2's MLP with a wider head). Every covariance has
    this form (it is the LDLᵀ decomposition with D = diag σ²), and column j of L scales with σⱼ,
    so the correlations do not have to shrink by hand when the posterior narrows during
    training. The head's A outputs start at zero: the guide starts as the diagonal one.

    Local parameters λ = (μ, log σ², strictly-lower entries of A). Its KL to a diagonal
    Gaussian prior is analytic (registered below), so estimator B applies.
    """

    def __init__(self, data_dim: int = 784, latent_dim: int = 20, hidden_dim: int = 500, init: str = "default"):
        super().__init__(data_dim, latent_dim, hidden_dim, 2 * latent_dim + latent_dim * (latent_dim - 1) // 2, init)
        rows, cols = torch.tril_indices(latent_dim, latent_dim, offset=-1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        with torch.no_grad():
            self.encoder.out.weight[2 * latent_dim :].zero_()
            self.encoder.out.bias[2 * latent_dim :].zero_()

    def family(self, params):
        d = self.latent_dim
        loc, logvar, lower = params[..., :d], params[..., d : 2 * d], params[..., 2 * d :]
        unit_lower = torch.eye(d, dtype=params.dtype, device=params.device).expand(lower.shape[:-1] + (d, d)).clone()
        unit_lower[..., self.rows, self.cols] = lower
        scale_tril = unit_lower * diagonal_scale(logvar).unsqueeze(-2)  # (I + A) diag(σ)
        return dist.MultivariateNormal(loc, scale_tril=scale_tril)


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
