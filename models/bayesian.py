"""A model whose generative weights are latent too: the generative side of full VB (Appendix F)."""

import copy

import pyro.distributions as dist
import torch
from pyro.nn import PyroSample
from pyro.nn.module import to_pyro_module_
from torch import nn


def _prior(module, shape, scale):
    """N(0, scale² I) over one weight tensor, on the module's device (read from its buffer)."""
    return dist.Normal(module._prior_anchor, scale).expand(shape).to_event(len(shape))


class BayesianModel(nn.Module):
    """p(θ) Πᵢ p(zᵢ, xᵢ | θ) with p(θ) = N(0, prior_scale² I) on every parameter θ of a model of the
    collection (``base``; Appendix F).

    A copy of ``base`` is turned into a :class:`pyro.nn.PyroModule` whose parameters are
    :class:`~pyro.nn.PyroSample` sites named like the parameters (``"decoder.out.weight"``); the
    copy's own program then samples its local latent sites and observes ``"x"`` as ``base`` does.
    PyroModule samples a weight when it is first read inside its context; here every weight is
    read *before* the program (and its ``"data"`` plate) runs, so θ is one global draw per step
    (no N/M scale, no plate dimension) that every datapoint's likelihood uses. ``base`` itself
    is kept as it is: the model at a point value of θ (e.g. the posterior mean) for evaluation
    and figures.
    """

    def __init__(self, base: nn.Module, prior_scale: float = 1.0):
        super().__init__()
        if not prior_scale > 0:
            raise ValueError(f"prior_scale must be positive, got {prior_scale!r}")
        self.base, self.prior_scale = base, prior_scale
        self.data_dim, self.local_sites = base.data_dim, base.local_sites
        program = copy.deepcopy(base)
        to_pyro_module_(program)
        self.weight_sites = []
        for module_name, module in program.named_modules():
            for name, value in list(module.named_parameters(recurse=False)):
                if not hasattr(module, "_prior_anchor"):
                    module.register_buffer("_prior_anchor", value.new_zeros(()), persistent=False)
                shape = tuple(value.shape)
                setattr(module, name, PyroSample(lambda m, shape=shape: _prior(m, shape, prior_scale)))
                self.weight_sites.append((module, name, ".".join(filter(None, (module_name, name)))))
        self.program = program

    def site_names(self):
        """The weight sites' names (the base model's parameter names), as a guide over θ must name them."""
        return [site for _, _, site in self.weight_sites]

    def forward(self, x: torch.Tensor, *, num_data=None, index=None):
        with self.program._pyro_context:  # one cache: θ is drawn once, here, and reused by the program
            for module, name, _ in self.weight_sites:
                getattr(module, name)
            return self.program(x, num_data=num_data, index=index)

    @torch.no_grad()
    def set_base_weights(self, values: dict) -> nn.Module:
        """Copy point values of θ (``{site name: tensor}``) into the base model and return it."""
        params = dict(self.base.named_parameters())
        for site, value in values.items():
            params[site].copy_(value)
        return self.base
