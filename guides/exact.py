"""Exact posteriors as guides (oracles for tests and diagnostics): of a linear-Gaussian model, of a mixture of
them (a discrete site), and of a model without latent sites."""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from aevb.models.contract import data_plate
from aevb.models.mixture import LinearGaussianMixture, select


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


class NoLatentsGuide(nn.Module):
    """The guide of a model without latent sites (e.g. :class:`aevb.models.conditional.QuadrantBaseline`):
    it samples nothing, so the ELBO is the model's exact log-likelihood (AEVB with it is maximum
    likelihood) and every importance weight is p(x)."""

    amortised, per_point_state, analytic_kl, density_anywhere = True, False, True, True

    def forward(self, x, *, num_data=None, index=None):
        return {}


class ExactMixtureGuide(nn.Module):
    """The exact posterior of a :class:`LinearGaussianMixture` as a guide, made as bad as asked.

    ``enumerate_y=True``: q(y | x) = p(y | x), marked for parallel enumeration, then
    q(z | x, y) = p(z | x, y) with its scale multiplied by ``widen``. ``enumerate_y=False``: the
    guide leaves y to the model and samples z alone from p(z | x, ŷ) of the most probable ŷ, widened
    (a one-Gaussian guide for a mixture posterior). No parameters; amortised."""

    amortised = True

    def __init__(self, model: LinearGaussianMixture, *, widen: float = 1.0, enumerate_y: bool = True):
        super().__init__()
        self.model, self.widen, self.enumerate_y = model, widen, enumerate_y

    def forward(self, x: torch.Tensor, *, num_data=None, index=None):
        mean, tril = self.model.posterior_z(x)
        log_py = self.model.posterior_y(x)
        with data_plate(x, num_data, index):
            if self.enumerate_y:
                y = pyro.sample("y", dist.Categorical(logits=log_py), infer={"enumerate": "parallel"})
            else:
                y = log_py.argmax(-1)
            loc, scale_tril = select(mean, y, 1), select(tril, y, 2)
            pyro.sample("z", dist.MultivariateNormal(loc, scale_tril=self.widen * scale_tril))
