"""The amortised diagonal Gaussian followed by K conditional normalising-flow steps."""

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import transforms as T
from torch import nn

from aevb.models.networks import make_mlp

from .amortised import EncoderGuide, diagonal_scale

#: ``flow_type`` → factory(latent_dim, context_dim) of one conditional transform from
#: :mod:`pyro.distributions.transforms`.
FLOWS = {
    "iaf": lambda latent_dim, context_dim: T.conditional_affine_autoregressive(latent_dim, context_dim),
    "planar": T.conditional_planar,
    "radial": T.conditional_radial,
}


class FlowGuide(EncoderGuide):
    """q_φ(z|x): z₀ ~ N(μ, diag σ²) from the paper's encoder, then z = f_K ∘ … ∘ f₁(z₀) with
    each f_k a conditional flow (inverse autoregressive by default, Kingma et al. 2016;
    planar or radial, Rezende & Mohamed 2015) conditioned on the encoder's hidden state h.

    Local parameters λ = (μ, log σ², h). The density of a sample is exact (Pyro's transforms
    cache their inputs), but KL(q ‖ p) has no closed form: use estimator A, IWAE or any
    objective that needs only log q(z|x).
    """

    analytic_kl = False

    def __init__(self, data_dim: int = 784, latent_dim: int = 20, hidden_dim: int = 500, init: str = "default",
                 flow_steps: int = 2, flow_type: str = "iaf"):
        if flow_type not in FLOWS:
            raise ValueError(f"flow_type must be one of {sorted(FLOWS)}, got {flow_type!r}")
        if not isinstance(flow_steps, int) or flow_steps < 1:
            raise ValueError(f"flow_steps must be a positive integer, got {flow_steps!r}")
        super().__init__(data_dim, latent_dim, hidden_dim, 2 * latent_dim + hidden_dim, init, head_dim=2 * latent_dim)
        self.flow_steps, self.flow_type = flow_steps, flow_type
        self.flows = nn.ModuleList(FLOWS[flow_type](latent_dim, hidden_dim) for _ in range(flow_steps))

    def local_parameters(self, x, index=None):
        h = torch.tanh(self.encoder.hidden(x))
        return torch.cat([self.encoder.out(h), h], dim=-1)

    def family(self, params):
        d = self.latent_dim
        loc, logvar, h = params[..., :d], params[..., d : 2 * d], params[..., 2 * d :]
        base = dist.Normal(loc, diagonal_scale(logvar)).to_event(1)
        return dist.TransformedDistribution(base, [flow.condition(h) for flow in self.flows])

    def family_code(self, params):
        q = self.family(params)
        z = q.base_dist.mean
        for transform in q.transforms:
            z = transform(z)
        return z

    def register(self):
        super().register()
        pyro.module("flows", self.flows)
