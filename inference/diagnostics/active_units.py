"""Active units (Burda, Grosse & Salakhutdinov 2015, §5.2): which latent dimensions of every site a guide uses."""

import pyro
import pyro.poutine as poutine
import torch

from ..latents import local_latent_sites
from ..training.rng import seeded

#: Burda et al.'s threshold: a unit is active when Cov_x(E_q[u|x]) exceeds it.
ACTIVE_UNIT_THRESHOLD = 1e-2


@torch.no_grad()
def active_units(guide, x, *, num_samples=100, batch_size=1000, seed=0) -> dict:
    """Per local site, the variance over the points ``x`` of each dimension's posterior mean
    E_q[u|x] (Burda, Grosse & Salakhutdinov 2015, §5.2: the unit is *active* when it exceeds
    :data:`ACTIVE_UNIT_THRESHOLD`; an inactive one encodes nothing about x). Each site's mean is
    its guide distribution's mean given its parents' draws, averaged over ``num_samples`` joint
    draws (q(z₁|x)'s mean is then exact; q(z₂|z₁)'s is averaged over z₁); a site whose distribution
    has no closed-form mean (a flow) averages its draws instead, whose Monte Carlo noise adds about
    Var_q / ``num_samples`` to the variance. Returns ``{site: variances (flattened event, float64
    on the CPU)}``."""
    totals = {}
    with seeded(seed, x.device), pyro.validation_enabled(False):
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            means = {}
            for _ in range(num_samples):
                trace = poutine.trace(guide).get_trace(batch, num_data=len(batch))
                for name in local_latent_sites(trace):
                    site = trace.nodes[name]
                    try:
                        mean = site["fn"].mean
                    except NotImplementedError:
                        mean = site["value"]
                    means[name] = means.get(name, 0.0) + mean.reshape(len(batch), -1).double() / num_samples
            for name, mean in means.items():
                totals.setdefault(name, []).append(mean.cpu())
    return {name: torch.cat(parts).var(0, unbiased=False) for name, parts in totals.items()}
