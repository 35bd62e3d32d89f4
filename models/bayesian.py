"""A VAE whose decoder weights are latent too: the generative side of full VB (Appendix F)."""

import copy

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroSample
from pyro.nn.module import to_pyro_module_
from torch import nn

from .vae import VAEModel, data_plate


def _prior(module, shape, scale):
    """N(0, scale² I) over one weight tensor, on the module's device (read from its buffer)."""
    return dist.Normal(module._prior_anchor, scale).expand(shape).to_event(len(shape))


class BayesianDecoderVAE(nn.Module):
    """p(θ) Πᵢ p(zᵢ) p(xᵢ|zᵢ, θ) with p(θ) = N(0, prior_scale² I) on every decoder weight (Appendix F).

    Built from a :class:`~aevb.models.vae.VAEModel` (``base``): a copy of its decoder is turned into a
    :class:`pyro.nn.PyroModule` whose parameters are :class:`~pyro.nn.PyroSample` sites named
    ``"decoder.<layer>.<weight>"``; the observation model (``base.observation``) and the prior on
    z are the base model's. The base model itself is kept as it is: it is the decoder at a point
    value of θ (e.g. the posterior mean) for evaluation and figures.

    PyroModule samples a weight when it is first read inside its context; here every weight is
    read *before* the ``"data"`` plate opens, so θ is one global draw per step (no N/M scale, no
    plate dimension) and the decoder then uses that same draw for every datapoint.
    """

    def __init__(self, base: VAEModel, prior_scale: float = 1.0):
        super().__init__()
        if not prior_scale > 0:
            raise ValueError(f"prior_scale must be positive, got {prior_scale!r}")
        self.base = base
        self.data_dim, self.latent_dim, self.prior_scale = base.data_dim, base.latent_dim, prior_scale
        decoder = copy.deepcopy(base.decoder)
        to_pyro_module_(decoder)
        self.weight_sites = []
        for module_name, module in decoder.named_modules():
            for name, value in list(module.named_parameters(recurse=False)):
                if not hasattr(module, "_prior_anchor"):
                    module.register_buffer("_prior_anchor", value.new_zeros(()), persistent=False)
                shape = tuple(value.shape)
                setattr(module, name, PyroSample(lambda m, shape=shape: _prior(m, shape, prior_scale)))
                self.weight_sites.append((module, name, ".".join(filter(None, ("decoder", module_name, name)))))
        decoder._pyro_set_supermodule("decoder", decoder._pyro_context)
        self.decoder = decoder

    def site_names(self):
        """The weight sites' names, as a guide over θ must name them."""
        return [site for _, _, site in self.weight_sites]

    def forward(self, x: torch.Tensor, *, num_data=None, index=None):
        self.base.check_data(x)
        with self.decoder._pyro_context:  # one cache: θ is drawn once, here, and reused below
            for module, name, _ in self.weight_sites:
                getattr(module, name)
            with data_plate(x, num_data, index):
                z = pyro.sample("z", self.base.prior(x))
                pyro.sample("x", self.base.observation(self.decoder(z)), obs=x)
        return z

    @torch.no_grad()
    def set_base_weights(self, values: dict) -> VAEModel:
        """Copy point values of θ (``{site name: tensor}``) into the base model's decoder and return it."""
        params = dict(self.base.decoder.named_parameters())
        for site, value in values.items():
            params[site.removeprefix("decoder.")].copy_(value)
        return self.base
