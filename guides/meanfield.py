"""The classic non-amortised mean-field guide: free variational parameters for every datapoint."""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from .amortised import LocalGuide, diagonal_scale


class MeanFieldGuide(LocalGuide):
    """q(zᵢ) = N(μᵢ, diag σᵢ²) with (μᵢ, log σᵢ²) stored for each of the ``num_data`` training
    points (the SVI baseline AEVB is compared against; Hoffman et al. 2013 call these local
    variational parameters). The rows of a minibatch are read through the ``"data"`` plate's
    subsample indices, so a step touches only its M rows and the guide scales to the full
    training set.

    The table is an :class:`torch.nn.Embedding` with sparse gradients: the optimiser
    (:func:`aevb.inference.optim.make_optimizer`) updates only the rows of the minibatch, as
    SparseAdam's "lazy" Adam or sparse Adagrad, instead of moving every row by its stale
    momentum on every step. New points (the test set) get fresh parameters fitted by
    :func:`aevb.inference.refine.refine_local_parameters`, starting from the prior.
    """

    amortised = False

    def __init__(self, num_data: int, data_dim: int = 784, latent_dim: int = 20):
        super().__init__()
        if not isinstance(num_data, int) or num_data < 1:
            raise ValueError(f"the mean-field guide needs the number of training points, got num_data={num_data!r}")
        self.num_data, self.data_dim, self.latent_dim, self.num_local = num_data, data_dim, latent_dim, 2 * latent_dim
        self.table = nn.Embedding(num_data, 2 * latent_dim, sparse=True)
        nn.init.zeros_(self.table.weight)  # q(zᵢ) = p(z) = N(0, I) before any step

    def local_parameters(self, x, index=None):
        if index is None:
            raise ValueError("the mean-field guide needs the rows' indices in the training set (the plate's subsample)")
        if index.numel() and int(index.max()) >= self.num_data:
            raise ValueError(
                f"index {int(index.max())} is outside the {self.num_data} training points this guide has parameters for; "
                "new points need fitted parameters (aevb.inference.refine.refine_local_parameters)"
            )
        return self.table(index)

    def family(self, params):
        loc, logvar = params.split(self.latent_dim, dim=-1)
        return dist.Normal(loc, diagonal_scale(logvar)).to_event(1)

    def initial_parameters(self, num_points: int, like: torch.Tensor) -> torch.Tensor:
        """λ of q = p(z) for new points: where their fit starts."""
        return like.new_zeros(num_points, self.num_local)

    def sparse_parameters(self):
        return [self.table.weight]

    def register(self):
        pyro.module("meanfield", self)
