"""Importance log-weights and their log-mean: what IS, the ELBO, IWAE, RWS and the diagnostics
share, so a number called the same is computed by the same code (the error of a log-mean:
:mod:`aevb.inference.estimators.uncertainty`).

log wₛ = log p(x, zₛ) − log q(zₛ|x), zₛ ~ q(z|x), from Pyro traces of the guide and of the model
replayed on its draws, with *unscaled* log-densities (the data plate's N/M plays no part).
"""

import math

import pyro
import pyro.poutine as poutine
import torch
from pyro.poutine.util import site_is_subsample


def site_log_prob_sum(trace, names=None):
    """Σ over the trace's sample sites (all, or those in ``names``; never a plate's subsample index)
    of their *unscaled* log-densities, keeping batch dimensions: the plate's N/M scale plays no part."""
    total = 0.0
    for name, site in trace.nodes.items():
        if site["type"] == "sample" and not site_is_subsample(site) and (names is None or name in names):
            total = total + site["fn"].log_prob(site["value"])
    return total


def guide_and_model_traces(model, guide, x: torch.Tensor, **kwargs):
    """z ~ q(z|x) traced from the guide, and the model's trace replayed on those z."""
    guide_trace = poutine.trace(guide).get_trace(x, **kwargs)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x, **kwargs)
    return guide_trace, model_trace


def log_importance_weights(
    model, guide, x: torch.Tensor, num_samples: int, index: torch.Tensor = None, num_data: int = None
) -> torch.Tensor:
    """log p(x, z_s) − log q(z_s|x) for ``num_samples`` draws per point: shape (num_samples, len(x)).

    Works for any model/guide pair of the collection (guide sites the model does not have,
    e.g. auxiliary ones, are left out). ``index`` gives the rows' positions in their data set
    of ``num_data`` points, for guides with per-datapoint parameters; log-densities are
    unscaled, so the plate's size plays no other part.
    """
    particles = pyro.plate("eval_particles", num_samples, dim=-2)
    if num_data is None:
        num_data = len(x) if index is None else max(len(x), int(index.max()) + 1)
    guide_trace, model_trace = guide_and_model_traces(
        particles(model), particles(guide), x, num_data=num_data, index=index
    )
    log_w = site_log_prob_sum(model_trace) - site_log_prob_sum(guide_trace, names=model_trace.nodes)
    return log_w + x.new_zeros(num_samples, len(x))


def importance_sampled_log_likelihood(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/S) Σ_s w_s of every point from log-weights of shape (S, B) (Burda et al. 2015, eq. 14)."""
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])
