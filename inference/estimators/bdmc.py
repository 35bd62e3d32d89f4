"""Bidirectional Monte Carlo (Grosse, Ghahramani & Adams 2015; Wu et al. 2017): log p(x) sandwiched.

On data simulated from the model itself, (z, x) ~ p(z) p(x|z), the z that generated x is an
exact draw from p(z|x). Forward AIS from the prior then gives a stochastic lower bound on
log p(x), and reverse AIS started at that z a stochastic upper bound
(:mod:`aevb.inference.estimators.ais`, with one pilot-tuned schedule for both directions). The true value
lies between them in expectation, so their gap bounds the error of forward AIS with the same
settings: on these simulated points exactly, and, as Wu et al. argue, approximately on real data
the model fits well. Any model of the collection, with any number of local latent sites.
"""

from dataclasses import dataclass

import torch

from ..latents import OBSERVED, LatentLayout, prior_draws, traced
from ..preflight import preflight
from ..training.rng import seeded
from .ais import Annealing, check_settings, forward_log_weights, geometric_betas, pilot, reverse_log_weights
from .batching import seeded_point_batches
from .uncertainty import MIN_ESS, estimates


@dataclass
class Sandwich:
    """Per point: the forward (lower) and reverse (upper) estimates of log p(x), their jackknife
    standard errors across chains (nats) and their effective numbers of chains
    (:mod:`aevb.inference.estimators.uncertainty`)."""

    lower: torch.Tensor
    lower_error: torch.Tensor
    lower_ess: torch.Tensor
    upper: torch.Tensor
    upper_error: torch.Tensor
    upper_ess: torch.Tensor

    @property
    def gap(self) -> torch.Tensor:
        return self.upper - self.lower

    @property
    def reliable(self) -> torch.Tensor:
        """Points whose chains' weights are worth at least MIN_ESS equal ones in both directions."""
        return (self.lower_ess >= MIN_ESS) & (self.upper_ess >= MIN_ESS)


@torch.no_grad()
def simulate(model, x_like: torch.Tensor, seed: int = 0) -> tuple:
    """``len(x_like)`` points (z, x) ~ p(z) p(x|z) from ``model`` (``x_like`` gives their number,
    shape, device and dtype; its values are not used): (x, z packed by the model's
    :class:`~aevb.inference.latents.LatentLayout`). Seeded, leaving every global RNG as it was."""
    preflight(model, None, x_like)
    with seeded(seed, x_like.device):
        layout = LatentLayout.of(model, x_like)
        values = prior_draws(model, x_like)
        x = traced(model, x_like, values).nodes[OBSERVED]["fn"].sample()
    return x.to(x_like.dtype), layout.flatten(values)


def bdmc(
    model,
    x: torch.Tensor,
    z_exact: torch.Tensor,
    *,
    num_chains: int = 16,
    num_steps: int = 300,
    num_leapfrog: int = 5,
    pilot_chains: int = 4,
    adapt_mass: bool = True,
    dense: bool = None,
    batch_size: int = 100,
    seed: int = 0,
    progress=False,
) -> Sandwich:
    """Forward and reverse AIS on every row of ``x``, whose exact posterior draws are the rows of
    ``z_exact`` (packed; from :func:`simulate`). Per batch of points, ``pilot_chains`` pilot chains
    tune the ``num_steps`` transitions (as :func:`aevb.inference.estimators.ais.ais_log_likelihood`), then
    ``num_chains`` chains run forward from the prior and ``num_chains`` backward from z.
    ``progress`` (True, or a description) reports the annealing transitions done."""
    check_settings(num_steps, num_chains, pilot_chains, None)
    preflight(model, None, x)
    if z_exact.shape[0] != len(x):
        raise ValueError(f"z_exact has {z_exact.shape[0]} rows for {len(x)} points")
    betas = geometric_betas(num_steps)

    def sandwich(xb, rows, advance):
        settings = dict(num_leapfrog=num_leapfrog, adapt_mass=adapt_mass, dense=dense)
        schedule = pilot(Annealing(model, xb, pilot_chains, **settings), betas, advance)
        chains = Annealing(model, xb, num_chains, **settings)
        lower = estimates(forward_log_weights(chains, schedule, advance))
        upper = estimates(reverse_log_weights(chains, schedule, z_exact[rows], advance))
        return torch.stack([lower.value, lower.error, lower.ess, -upper.value, upper.error, upper.ess], -1)

    desc = progress if isinstance(progress, str) else f"BDMC ({num_steps} steps, {num_chains} chains each way)"
    result = seeded_point_batches(
        x, batch_size, seed, sandwich, progress=progress and desc, steps_per_batch=3 * num_steps, unit="annealing steps"
    )
    return Sandwich(*result.unbind(-1))
