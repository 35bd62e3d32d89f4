"""Pyro's AutoGuides over a model's global latent sites (e.g. full VB's decoder weights)."""

import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.infer.autoguide import AutoDiagonalNormal, AutoMultivariateNormal, AutoNormal, init_to_value
from torch.distributions import kl_divergence

#: ``--global-guide NAME`` → AutoGuide class. ``normal`` (one Normal per weight tensor) scales to
#: the MNIST decoder's 400k weights; ``mvn`` (one dense covariance over all of them) fits only
#: small models such as the linear-Gaussian one.
AUTOGUIDES = {"normal": AutoNormal, "diagonal": AutoDiagonalNormal, "mvn": AutoMultivariateNormal}


def global_autoguide(model, site_names, kind: str = "normal", init_values: dict = None, init_scale: float = 0.01):
    """An AutoGuide of class ``AUTOGUIDES[kind]`` over the sites ``site_names`` of ``model`` only
    (the model is blocked to expose them; local sites such as ``"z"`` are left to a local guide),
    its means initialised at ``init_values``."""
    if kind not in AUTOGUIDES:
        raise ValueError(f"global guide must be one of {sorted(AUTOGUIDES)}, got {kind!r}")
    exposed = poutine.block(model, expose=list(site_names))
    init_loc_fn = init_to_value(values=init_values or {})
    return AUTOGUIDES[kind](exposed, init_loc_fn=init_loc_fn, init_scale=float(init_scale))


@torch.no_grad()
def kl_to_normal_prior(guide, site_names, prior_scale: float) -> float:
    """KL(q(θ) ‖ N(0, prior_scale² I)) in nats, in closed form, for a guide made by
    :func:`global_autoguide` (every site real-valued, so no change of variables)."""
    if isinstance(guide, AutoNormal):
        total = 0.0
        for site in site_names:
            loc, scale = guide._get_loc_and_scale(site)
            total += (
                kl_divergence(dist.Normal(loc, scale), dist.Normal(torch.zeros_like(loc), prior_scale)).sum().item()
            )
        return total
    q = guide.get_posterior()  # a Gaussian over the flattened unconstrained vector
    loc = q.base_dist.loc if isinstance(q, dist.Independent) else q.loc  # AutoNormal-like, or AutoMultivariateNormal
    prior = dist.Normal(torch.zeros_like(loc), prior_scale).to_event(1)
    return kl_divergence(q, prior).item()


@torch.no_grad()
def posterior_means(guide, site_names) -> dict:
    """q(θ)'s mean of each site (its median: the same for these Gaussians on real sites)."""
    medians = guide.median()
    return {site: medians[site].detach() for site in site_names}
