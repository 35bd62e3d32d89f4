"""The amortised diagonal Gaussian recognition model q_φ(z|x) (§3, Appendix C.2)."""

import pyro.distributions as dist

from .amortised import EncoderGuide, diagonal_scale


class DiagonalGaussianGuide(EncoderGuide):
    """q_φ(z|x) = N(μ, diag σ²) with ``h = tanh(W₃ x + b₃)``, ``μ = W₄ h + b₄``,
    ``log σ² = W₅ h + b₅`` (Appendix C.2); W₄ and W₅ are stored as one linear layer.

    A Pyro guide with the model's signature ``guide(x, *, num_data, index=None)``,
    sampling the same ``"z"`` site inside the same ``"data"`` plate. Its KL to the prior
    N(0, I) is analytic (Appendix B), which :class:`pyro.infer.TraceMeanField_ELBO` uses.
    Local parameters λ = (μ, log σ²).
    """

    def __init__(self, data_dim: int = 784, latent_dim: int = 20, hidden_dim: int = 500, init: str = "default"):
        super().__init__(data_dim, latent_dim, hidden_dim, 2 * latent_dim, init)

    def family(self, params):
        loc, logvar = params.split(self.latent_dim, dim=-1)
        return dist.Normal(loc, diagonal_scale(logvar)).to_event(1)
