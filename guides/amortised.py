"""The contract every guide with local (per-datapoint) variational parameters follows.

A guide maps each datapoint to a vector λᵢ of local parameters and λᵢ to a distribution
q(z | λᵢ) of its family. An *amortised* guide computes λᵢ = f_φ(xᵢ) with an encoder; a
non-amortised one stores λᵢ per datapoint. Splitting the two halves lets every guide be
refined per datapoint (the amortisation gap of Cremer, Li & Duvenaud 2018, and the test-time
fit of the mean-field guide) by optimising λ directly with :mod:`aevb.inference.refine`.
"""

import pyro
import torch
from torch import nn

from aevb.models.networks import LOGVAR_MAX, LOGVAR_MIN, make_mlp, register_module
from aevb.models.vae import data_plate


def diagonal_scale(logvar: torch.Tensor) -> torch.Tensor:
    """σ = exp(½ log σ²) from a clamped log-variance (DESIGN.md: never an unconstrained output)."""
    return torch.exp(0.5 * logvar.clamp(LOGVAR_MIN, LOGVAR_MAX))


class LocalGuide(nn.Module):
    """Base class: ``forward(x, *, num_data, index)`` samples ``"z"`` from
    ``family(local_parameters(x, index))`` inside the shared ``"data"`` plate.

    Subclasses set ``data_dim``, ``latent_dim`` and ``num_local`` (the size of λᵢ), and implement
    :meth:`local_parameters` and :meth:`family`. Class attributes say what the guide supports:

    * ``analytic_kl``: KL(q ‖ N(0, I)) has a closed form, so estimator B applies;
    * ``amortised``: λ comes from an encoder, so the guide runs on any x (dreamed data for
      wake-sleep, new test points) and has an amortisation gap.
    """

    analytic_kl = True
    amortised = True

    def local_parameters(self, x: torch.Tensor, index=None) -> torch.Tensor:
        """λ for every row of ``x``: shape ``(batch, num_local)``; ``index`` holds the rows'
        positions in the training set (read by non-amortised guides only)."""
        raise NotImplementedError

    def family(self, params: torch.Tensor):
        """q(z | λ) for a batch of local parameters, event shape ``(latent_dim,)``."""
        raise NotImplementedError

    def check_data(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[-1] != self.data_dim:
            raise ValueError(f"{type(self).__name__} expects x of shape (batch, {self.data_dim}), got {tuple(x.shape)}")

    def posterior(self, x: torch.Tensor, index=None):
        """q(z|x) for a batch ``x`` of shape ``(batch, data_dim)``."""
        self.check_data(x)
        return self.family(self.local_parameters(x, index))

    def code(self, x: torch.Tensor, index=None) -> torch.Tensor:
        """A point summary of q(z|x) (its mean; for flows, the base mean pushed through the flow),
        e.g. for reconstructions."""
        return self.family_code(self.local_parameters(x, index))

    def family_code(self, params: torch.Tensor) -> torch.Tensor:
        return self.family(params).mean

    def register(self) -> None:
        """Register the guide's networks with Pyro (names owned by this module)."""

    def sparse_parameters(self) -> list:
        """Parameters with sparse gradients (per-datapoint tables), for a sparse optimiser."""
        return []

    def forward(self, x: torch.Tensor, *, num_data=None, index=None):
        self.register()
        with data_plate(x, num_data, index):
            return pyro.sample("z", self.posterior(x, index))


class EncoderGuide(LocalGuide):
    """An amortised guide whose λ = MLP(x) is the paper's encoder (Appendix C.2): one tanh
    hidden layer of ``hidden_dim`` units and a linear head of ``head_dim`` outputs (by default
    ``num_local``: the head's output is λ)."""

    def __init__(self, data_dim: int, latent_dim: int, hidden_dim: int, num_local: int, init: str = "default", head_dim=None):
        super().__init__()
        self.data_dim, self.latent_dim, self.hidden_dim, self.num_local = data_dim, latent_dim, hidden_dim, num_local
        self.encoder = make_mlp(data_dim, hidden_dim, head_dim or num_local, init)

    def local_parameters(self, x, index=None):
        return self.encoder(x)

    def register(self):
        register_module("encoder", self.encoder)


class FixedLocalGuide(nn.Module):
    """A guide with given local parameters ``params[index]`` for the rows of a data set, in
    the family of the guide ``family_of``: what :mod:`aevb.inference.refine` optimises and evaluates."""

    def __init__(self, family_of, params: torch.Tensor):
        super().__init__()
        self.family_of, self.params = family_of, params

    def forward(self, x, *, num_data=None, index=None):
        if index is None:
            raise ValueError("FixedLocalGuide needs the rows' indices into its parameters (index=...)")
        with data_plate(x, num_data, index):
            return pyro.sample("z", self.family_of.family(self.params[index]))

    def code(self, x, index=None) -> torch.Tensor:
        """The family's point summary for rows ``index`` (default: the first ``len(x)``)."""
        index = torch.arange(len(x), device=x.device) if index is None else index
        return self.family_of.family_code(self.params[index])
