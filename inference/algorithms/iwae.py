"""The importance-weighted bound (Burda, Grosse & Salakhutdinov 2015) with a subsampled data plate."""

import math

import torch

from ..estimators.weights import log_importance_weights
from ..rules import check
from .base import Algorithm, parameters_of


class IWAE(Algorithm):
    """Maximise the k-sample importance-weighted bound of every datapoint,

        L_k(xᵢ) = E[log (1/k) Σ_s p(xᵢ, z_s) / q(z_s|xᵢ)],  z_1..z_k ~ q(z|xᵢ),

    estimated for the full data set from a minibatch as (N/M) Σᵢ L̂_k(xᵢ), with
    reparameterised gradients. L_1 is the ELBO (estimator A) and L_k ≤ L_{k+1} ≤ log p(x).

    Why not Pyro's :class:`~pyro.infer.RenyiELBO` with ``alpha=0``: it takes the logsumexp
    over particles of log-weights that already carry the data plate's N/M scale, i.e. of
    (N/M)·log wᵢ instead of log wᵢ, which is not the IWAE bound when the plate is subsampled
    (it is only when N = M). Here the per-point log-weights are unscaled (the evaluation
    module's :func:`~aevb.inference.estimators.weights.log_importance_weights`, so training and the IS
    log-likelihood share one computation) and the N/M scale is applied after the logsumexp.
    """

    name = "iwae"
    supports_compile = True
    #: a model's discrete sites are summed exactly inside each importance weight (the bound then does
    #: not involve q(y|x), which only an auxiliary loss trains: :mod:`aevb.inference.estimators.weights`)
    handles_discrete = True

    @classmethod
    def from_config(cls, model, guide, config, num_data):
        return cls(model, guide, num_particles=config["num_particles"])

    def __init__(self, model, guide, num_particles: int = 5):
        if not isinstance(num_particles, int) or num_particles < 1:
            raise ValueError(f"num_particles (k) must be a positive integer, got {num_particles!r}")
        check(self, model=model, guide=guide, num_particles=num_particles)
        self.model, self.guide, self.num_particles = model, guide, num_particles

    def parameters(self):
        return parameters_of(self.model, self.guide)

    def bound(self, x, *, num_data: int, index=None) -> torch.Tensor:
        """(N/M) Σᵢ L̂_k(xᵢ): differentiable, unbiased for Σ over all N points of L_k."""
        log_w = log_importance_weights(self.model, self.guide, x, self.num_particles, index=index, num_data=num_data)
        per_point = torch.logsumexp(log_w, 0) - math.log(self.num_particles)
        return per_point.sum() * (num_data / len(x))

    def step(self, x, *, num_data, index=None):
        bound = self.bound(x, num_data=num_data, index=index)
        return -bound, bound.detach()
