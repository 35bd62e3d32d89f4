"""The exact posterior of a linear-Gaussian model as a guide (an oracle for tests and diagnostics)."""

import pyro
import pyro.distributions as dist
from torch import nn

from aevb.models.contract import data_plate


class ExactPosteriorGuide(nn.Module):
    """q(z|x) = p(z|x) of a linear-Gaussian model (:mod:`aevb.models.linear_gaussian`), site by
    site in the order of the model's ``posterior_factors`` (one site, or z₁ | x then z₂ | z₁),
    optionally with every factor's scale multiplied by ``scale`` (to build deliberately bad
    guides). No parameters of its own; it can evaluate log q anywhere."""

    amortised, per_point_state, analytic_kl, density_anywhere, refinable = True, False, True, True, False

    def __init__(self, model, scale: float = 1.0):
        super().__init__()
        self.model, self.scale = model, scale
        self.data_dim = model.data_dim

    def _scaled(self, exact):
        return dist.MultivariateNormal(exact.loc, scale_tril=exact.scale_tril * self.scale)

    def posterior(self, x):
        """q(z|x) of a one-site model."""
        ((_, factor),) = self.model.posterior_factors(x)
        return self._scaled(factor({}))

    def forward(self, x, *, num_data=None, index=None):
        values = {}
        with data_plate(x, num_data, index):
            for name, factor in self.model.posterior_factors(x):
                values[name] = pyro.sample(name, self._scaled(factor(values)))
        return values
