"""Importance log-weights and their log-mean: what IS, the ELBO, IWAE, RWS and the diagnostics
share, so a number called the same is computed by the same code (the error of a log-mean:
:mod:`aevb.inference.estimators.uncertainty`).

log wₛ = log p(x, zₛ) − log q(zₛ|x), zₛ ~ q(z|x), from Pyro traces of the guide and of the model
replayed on its draws, with *unscaled* log-densities (the data plate's N/M plays no part).

**Discrete sites** marked for parallel enumeration (``infer={"enumerate": "parallel"}``; Pyro's
:func:`~pyro.infer.config_enumerate`) take all their values at once, as in
:class:`~pyro.infer.TraceEnum_ELBO`: the guide's along dimensions from −3 leftwards (right of them
the draws' and the ``"data"`` plate's), the model's, for those it sums itself, further left. A draw
z_s of the continuous sites is then drawn for every value y of the guide's discrete sites, and

* the **importance weight** sums y exactly inside each draw:
  wₛ = Σ_y p(x, y, z_{s,y}) / q(z_{s,y}|x, y), an unbiased estimate of p(x) whatever q(y|x) is
  (each term estimates p(x, y)); q(y|x) plays no part (:func:`log_importance_weights`);
* the **ELBO** takes the expectation over q(y|x) exactly:
  Σ_y q(y|x) [log p(x, y, z_{s,y}) − log q(z_{s,y}|x, y) − log q(y|x)], values of probability 0
  left out (:func:`elbo_terms`), which is TraceEnum_ELBO's objective per datapoint.

Discrete sites the model enumerates itself (the guide does not sample them) are summed in both:
log p(x, z) = log Σ_y p(x, y, z).
"""

import math

import pyro
import pyro.poutine as poutine
import torch
from pyro.poutine.enum_messenger import EnumMessenger
from pyro.poutine.util import site_is_subsample

from ..latents import FIRST_ENUM_DIM


def site_log_prob_sum(trace, names=None):
    """Σ over the trace's sample sites (all, or those in ``names``; never a plate's subsample index)
    of their *unscaled* log-densities, keeping batch dimensions: the plate's N/M scale plays no part."""
    total = 0.0
    for name, site in trace.nodes.items():
        if site["type"] == "sample" and not site_is_subsample(site) and (names is None or name in names):
            total = total + site["fn"].log_prob(site["value"])
    return total


def guide_and_model_traces(model, guide, x: torch.Tensor, **kwargs):
    """z ~ q(z|x) traced from the guide, and the model's trace replayed on those z; sites marked for
    parallel enumeration take all their values (the module docstring), the model's left of the
    guide's, as Pyro's TraceEnum_ELBO allocates them."""
    guide_trace = poutine.trace(EnumMessenger(first_available_dim=FIRST_ENUM_DIM)(guide)).get_trace(x, **kwargs)
    model = EnumMessenger()(poutine.replay(model, trace=guide_trace))  # keeps the guide's dimensions taken
    return guide_trace, poutine.trace(model).get_trace(x, **kwargs)


def _enumerated_in_guide(trace) -> list:
    return [n for n, s in trace.nodes.items() if s["type"] == "sample" and "_enumerate_dim" in s["infer"]]


def _logsumexp_left(log_w: torch.Tensor, keep: int) -> torch.Tensor:
    """log Σ over every dimension left of the last ``keep`` (the brute-force sum over enumerated values)."""
    if log_w.dim() <= keep:
        return log_w
    return torch.logsumexp(log_w.reshape(-1, *log_w.shape[-keep:]), 0)


def enumerated_log_weights(
    model, guide, x: torch.Tensor, num_samples: int, index: torch.Tensor = None, num_data: int = None
) -> tuple:
    """(log w, log q(y)) for ``num_samples`` draws per point: log w = log p(x, y, z) − log q(z|x, y) of
    shape (*E, num_samples, len(x)), with the model's own discrete sites summed out and *E the
    guide's enumerated values (none without them), and log q(y|x) of the guide's enumerated sites,
    broadcastable to it (0 without them). The arguments are :func:`log_importance_weights`'."""
    particles = pyro.plate("eval_particles", num_samples, dim=-2)
    if num_data is None:
        num_data = len(x) if index is None else max(len(x), int(index.max()) + 1)
    guide_trace, model_trace = guide_and_model_traces(
        particles(model), particles(guide), x, num_data=num_data, index=index
    )
    enumerated = _enumerated_in_guide(guide_trace)
    continuous = [n for n in model_trace.nodes if n not in enumerated]
    log_w = site_log_prob_sum(model_trace) - site_log_prob_sum(guide_trace, names=continuous)
    keep = 2 + len(enumerated)  # the guide's enumerated dimensions, the draws', the points'
    log_w = _logsumexp_left(log_w + x.new_zeros((1,) * len(enumerated) + (num_samples, len(x))), keep)
    log_q = site_log_prob_sum(guide_trace, names=enumerated) if enumerated else 0.0
    return log_w, log_q


def log_importance_weights(
    model, guide, x: torch.Tensor, num_samples: int, index: torch.Tensor = None, num_data: int = None
) -> torch.Tensor:
    """log p(x, z_s) − log q(z_s|x) for ``num_samples`` draws per point: shape (num_samples, len(x)).

    Works for any model/guide pair of the collection (guide sites the model does not have,
    e.g. auxiliary ones, are left out); discrete sites marked for enumeration are summed exactly
    inside each draw (the module docstring). ``index`` gives the rows' positions in their data set
    of ``num_data`` points, for guides with per-datapoint parameters; log-densities are
    unscaled, so the plate's size plays no other part.
    """
    log_w, _ = enumerated_log_weights(model, guide, x, num_samples, index=index, num_data=num_data)
    return _logsumexp_left(log_w, 2)


def elbo_terms(
    model, guide, x: torch.Tensor, num_samples: int, index: torch.Tensor = None, num_data: int = None
) -> torch.Tensor:
    """log p(x, z) − log q(z|x) for ``num_samples`` draws per point, with the guide's enumerated
    discrete sites' expectation taken exactly (the module docstring): shape (num_samples, len(x));
    their mean over draws is the ELBO. Without discrete sites, :func:`log_importance_weights`."""
    log_w, log_q = enumerated_log_weights(model, guide, x, num_samples, index=index, num_data=num_data)
    if not torch.is_tensor(log_q):
        return log_w
    log_q = log_q + torch.zeros_like(log_w)
    possible = log_q > -math.inf
    log_q = torch.where(possible, log_q, torch.zeros_like(log_q))  # no inf·0 in a gradient
    terms = torch.where(possible, log_q.exp() * (log_w - log_q), torch.zeros_like(log_w))
    return terms.reshape(-1, *log_w.shape[-2:]).sum(0)


def importance_sampled_log_likelihood(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/S) Σ_s w_s of every point from log-weights of shape (S, B) (Burda et al. 2015, eq. 14)."""
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])
