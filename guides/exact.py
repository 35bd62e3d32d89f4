"""The exact posterior of the linear-Gaussian model as a guide (an oracle for tests and diagnostics)."""

import pyro
import pyro.distributions as dist
from torch import nn

from aevb.models.vae import data_plate


class ExactPosteriorGuide(nn.Module):
    """q(z|x) = p(z|x) of a :class:`~aevb.models.linear_gaussian.LinearGaussianModel`, optionally with
    its scale multiplied by ``scale`` (to build deliberately bad guides). No parameters of its own."""

    def __init__(self, model, scale: float = 1.0):
        super().__init__()
        self.model, self.scale = model, scale
        self.latent_dim, self.data_dim = model.latent_dim, model.data_dim

    def posterior(self, x):
        exact = self.model.posterior(x)
        return dist.MultivariateNormal(exact.loc, scale_tril=exact.scale_tril * self.scale)

    def forward(self, x, *, num_data=None, index=None):
        with data_plate(x, num_data, index):
            return pyro.sample("z", self.posterior(x))
