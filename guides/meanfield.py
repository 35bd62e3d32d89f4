"""The classic non-amortised mean-field guide: free variational parameters for every datapoint."""

import torch
from torch import nn
from torch.fx.experimental.proxy_tensor import get_proxy_mode

from aevb.models.networks import register_module

from .amortised import LocalGuide, single_site
from .diagonal import DiagonalFamily


class MeanFieldGuide(LocalGuide):
    """q(zᵢ) = Π_sites N(μᵢ, diag σᵢ²) with (μᵢ, log σᵢ²) stored per site for each of the
    ``num_data`` training points (the SVI baseline AEVB is compared against; Hoffman et al.
    2013 call these local variational parameters). The rows of a minibatch are read through the
    ``"data"`` plate's subsample indices, so a step touches only its M rows and the guide
    scales to the full training set.

    Each site's table is an :class:`torch.nn.Embedding` with sparse gradients: the optimiser
    (:func:`aevb.inference.training.optim.make_optimizer`) updates only the rows of the minibatch, as
    SparseAdam's "lazy" Adam or sparse Adagrad, instead of moving every row by its stale
    momentum on every step. New points (the test set) get fresh parameters fitted by
    :func:`aevb.inference.diagnostics.refine.refine_local_parameters`, starting from the prior.

    ``MeanFieldGuide.for_model(model, num_data)`` builds it for any model of the collection;
    the constructor's ``data_dim, latent_dim`` build it for the paper's one site.
    """

    amortised = False
    per_point_state = True
    family_class = DiagonalFamily
    analytic_kl = True
    density_anywhere = True

    @classmethod
    def from_spec(cls, data_dim, sites, spec):
        return cls(spec.num_data, data_dim, sites=sites)

    def __init__(self, num_data: int, data_dim: int = 784, latent_dim: int = 20, *, sites=None):
        if not isinstance(num_data, int) or num_data < 1:
            raise ValueError(f"the mean-field guide needs the number of training points, got num_data={num_data!r}")
        super().__init__(data_dim, sites if sites is not None else single_site(latent_dim, 1))
        self.num_data = num_data
        self.tables = nn.ModuleDict()
        for site in self.sites:
            self.families[site.name] = DiagonalFamily(site.size)
            self.tables[site.name] = nn.Embedding(num_data, 2 * site.size, sparse=True)
            nn.init.zeros_(self.tables[site.name].weight)  # q(zᵢ) = N(0, I) before any step

    def site_parameters(self, name, inputs, index):
        if index is None:
            raise ValueError("the mean-field guide needs the rows' indices in the training set (the plate's subsample)")
        # (not while a compiled step is traced into a graph, which runs on new indices: a check on
        # values would be recorded for one input only; the embedding lookup still refuses an index
        # out of range)
        if get_proxy_mode() is None and index.numel() and int(index.max()) >= self.num_data:
            raise ValueError(
                f"index {int(index.max())} is outside the {self.num_data} training points this guide has parameters "
                "for; "
                "new points need fitted parameters (aevb.inference.diagnostics.refine.refine_local_parameters)"
            )
        return self.tables[name](index)

    def prior_parameters(self, num_points: int, like: torch.Tensor) -> dict:
        """λ of q = p(z) = N(0, I) for new points, per site: where their fit starts."""
        return {site.name: self.families[site.name].prior_parameters(num_points, like) for site in self.sites}

    def sparse_parameters(self):
        return [table.weight for table in self.tables.values()]

    def register(self):
        register_module("meanfield", self)
