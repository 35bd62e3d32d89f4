"""The normalising-flow family: a diagonal Gaussian followed by K conditional flows."""

import pyro.distributions as dist
import torch
from pyro.distributions import transforms as T
from torch import nn

from .amortised import AmortisedGuide, diagonal_scale

#: ``flow_type`` → factory(size, context_dim) of one conditional transform from
#: :mod:`pyro.distributions.transforms`, and whether it has an inverse (so that log q can be
#: evaluated at a point the flow did not produce).
FLOWS = {
    "iaf": lambda size, context_dim: T.conditional_affine_autoregressive(size, context_dim),
    "planar": T.conditional_planar,
    "radial": T.conditional_radial,
}
INVERTIBLE = {"iaf": True, "planar": False, "radial": False}


class FlowFamily(nn.Module):
    """q(z | λ): z₀ ~ N(μ, diag σ²), then z = f_K ∘ … ∘ f₁(z₀) with each f_k a conditional flow
    (inverse autoregressive by default, Kingma et al. 2016; planar or radial, Rezende &
    Mohamed 2015) conditioned on the site encoder's features h.

    λ = (μ, log σ², h). The density of a sample the flow drew is exact (Pyro's transforms cache
    their inputs), but KL(q ‖ p) has no closed form: estimator A, IWAE or any objective that
    needs only log q(z|x). Planar and radial flows have no inverse, so log q at a point the flow
    did not draw (AIS from the guide, reweighted wake-sleep) is not available with them.
    """

    def __init__(self, size: int, features: int, flow_steps: int = 2, flow_type: str = "iaf"):
        super().__init__()
        if flow_type not in FLOWS:
            raise ValueError(f"flow_type must be one of {sorted(FLOWS)}, got {flow_type!r}")
        if not isinstance(flow_steps, int) or flow_steps < 1:
            raise ValueError(f"flow_steps must be a positive integer, got {flow_steps!r}")
        self.size, self.features, self.flow_steps, self.flow_type = size, features, flow_steps, flow_type
        self.flows = nn.ModuleList(FLOWS[flow_type](size, features) for _ in range(flow_steps))

    def prepare_head(self, head: nn.Linear) -> None:
        """Nothing to prepare: the head's default initialisation is this family's."""

    @staticmethod
    def head_dim(size: int, features: int) -> int:
        return 2 * size

    def num_local(self) -> int:
        return 2 * self.size + self.features

    def local(self, head, features):
        return torch.cat([head, features], dim=-1)

    def distribution(self, params):
        d = self.size
        loc, logvar, h = params[..., :d], params[..., d : 2 * d], params[..., 2 * d :]
        base = dist.Normal(loc, diagonal_scale(logvar)).to_event(1)
        return dist.TransformedDistribution(base, [flow.condition(h) for flow in self.flows])

    def code(self, params):
        """The base distribution's mean pushed through the flows."""
        q = self.distribution(params)
        z = q.base_dist.mean
        for transform in q.transforms:
            z = transform(z)
        return z

    def prior_parameters(self, num: int, like: torch.Tensor) -> torch.Tensor:
        return like.new_zeros(num, self.num_local())


class FlowGuide(AmortisedGuide):
    """The amortised flow guide for every local site (or, with ``data_dim, latent_dim,
    hidden_dim``, the paper's one site): each site's diagonal Gaussian from its encoder, then
    ``flow_steps`` conditional flows of type ``flow_type`` conditioned on the encoder's features."""

    family_class = FlowFamily
    analytic_kl = False  # no closed-form KL through the flows: estimator A
    density_anywhere = INVERTIBLE["iaf"]  # the default flow type's; a built guide declares its own type's

    @classmethod
    def for_spec(cls, spec) -> type:
        """log q anywhere only for an invertible flow type: the subclass declaring ``spec.flow_type``'s."""
        return FLOW_GUIDES[spec.flow_type]

    @classmethod
    def from_spec(cls, data_dim, sites, spec):
        return cls(data_dim, init=spec.init, sites=sites, flow_steps=spec.flow_steps, flow_type=spec.flow_type)

    def __init__(
        self,
        data_dim: int = 784,
        latent_dim: int = 20,
        hidden_dim=500,
        init: str = "default",
        *,
        sites=None,
        flow_steps: int = 2,
        flow_type: str = "iaf",
    ):
        super().__init__(
            data_dim, latent_dim, hidden_dim, init, sites=sites, flow_steps=flow_steps, flow_type=flow_type
        )
        self.flow_steps, self.flow_type = flow_steps, flow_type
        self.density_anywhere = INVERTIBLE[flow_type]  # this guide's declaration (see for_spec)


#: ``flow_type`` → the flow guide's class declaring that type's capabilities (:meth:`FlowGuide.for_spec`).
FLOW_GUIDES = {
    kind: type(f"FlowGuide[{kind}]", (FlowGuide,), {"density_anywhere": invertible, "__module__": __name__})
    for kind, invertible in INVERTIBLE.items()
}
