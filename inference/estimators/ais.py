"""Annealed importance sampling (Neal 2001; as Wu et al. 2017 evaluate decoders), forward and reverse.

Anneals π_t(z) ∝ p₀(z)^(1−β_t) p(x, z)^β_t from p₀ = the prior (or the guide's q(z|x)) to the
posterior over ``num_steps`` geometrically spaced β's, one HMC transition per intermediate
distribution, every continuous local latent of a datapoint packed into one vector
(:class:`~aevb.inference.latents.LatentLayout`); a discrete site (a class label) is summed out
of both densities inside each transition (p(x, z) = Σ_y p(x, y, z)), never moved by a chain.

* **Forward** chains start at draws from p₀; the log of the mean of their weights is a stochastic
  lower bound on log p(x) (its expectation is below log p(x), by Jensen).
* **Reverse** chains start at an exact posterior draw (available for data simulated from the
  model, :mod:`aevb.inference.estimators.bdmc`) and run the schedule backwards; minus the log of the mean
  of their weights is a stochastic *upper* bound (Grosse, Ghahramani & Adams 2015).

The transitions are tuned by independent **pilot chains** that run the same schedule first and
whose settings are then reused, frozen, by the forward and reverse chains. Adapting a chain
from its own path would make the transition at step t depend on that path and bias the weights;
tuned by chains that play no other part, the transitions are fixed kernels for the chains that
estimate, which keeps both bounds valid. Per temperature and per point the pilots record:

* a step size, adapted toward 90% acceptance (geometric mean over the pilot chains);
* an inverse mass matrix, dense or diagonal by latent size
  (:mod:`aevb.inference.estimators.mass`): dense, the tempered target's curvature averaged over
  the point's pilot chains, inverted, every ``CURVATURE_EVERY`` temperatures; diagonal, the
  pilots' variance of each latent dimension across chains, smoothed along the schedule
  (``mass_rate``). Without it one step size has to suit every direction, and is set by the
  narrowest one. The estimating chains' steps are then capped at a quarter period of the
  whitened target (:func:`aevb.inference.estimators.hmc.quarter_period_step`).

Where each choice holds, at Figure 3's cost (300 steps, 16 chains, 4 pilots), on linear-Gaussian
oracles with posterior standard deviations spanning a factor of 50 at Nz = 10, 20 points at each
of three seeds (``examples/linear_gaussian_oracle.py``, docs/baselines.md): the identity mass
fails even on axis-aligned posteriors (0.85 nats low, the BDMC gap 2.1); a diagonal holds on
axis-aligned ones (0.06 low, gap 0.19) and fails on rotated ones (0.28 low, gap 1.3); the dense
one holds on both (0.03 and 0.04 low, gaps 0.13 and 0.17).
"""

from dataclasses import dataclass

import torch

from ..capabilities import capabilities, describe
from ..latents import LatentLayout, guide_draws, guide_log_density, marginal_log_densities, prior_draws
from ..preflight import preflight
from ..rules import CombinationError
from .batching import seeded_point_batches
from .hmc import PerPointHMC, quarter_period_step
from .mass import CURVATURE_EVERY, covariance_from_precision, curvature, dense_for
from .uncertainty import PointEstimates, estimates

#: Each pilot step moves the running variance this far toward the chains' current spread.
MASS_RATE = 0.2


def geometric_betas(num_steps: int) -> list:
    """β₀ = 0, then ``num_steps`` values spaced geometrically from 1e-4 to 1."""
    return torch.cat(
        [torch.zeros(1, dtype=torch.float64), torch.logspace(-4, 0, num_steps, dtype=torch.float64)]
    ).tolist()


@dataclass
class Schedule:
    """What the pilot chains recorded, per temperature β₁ … β_T: ``step_sizes[t]`` (B,) and
    ``inv_masses[t]`` (B, K) for the transition that leaves π at ``betas[t + 1]`` invariant."""

    betas: list
    step_sizes: list
    inv_masses: list


class Annealing:
    """The tempered targets of one batch of points ``x`` run as ``chains`` chains each (chain c
    of point i sits at row c · B + i), and the HMC transition of each temperature. ``dense``: the
    form of the adapted mass matrix (None: by latent size, :func:`~aevb.inference.estimators.mass.dense_for`)."""

    def __init__(
        self,
        model,
        x: torch.Tensor,
        chains: int,
        guide=None,
        num_leapfrog: int = 5,
        adapt_mass: bool = True,
        dense: bool = None,
    ):
        self.model, self.guide, self.chains, self.num_leapfrog = model, guide, chains, num_leapfrog
        self.adapt_mass = adapt_mass
        self.points = len(x)
        self.x = x.repeat(chains, 1)
        self.layout = LatentLayout.of(model, self.x)
        self.dense = adapt_mass and (dense_for(self.layout.size) if dense is None else dense)

    def densities(self, z: torch.Tensor) -> tuple:
        """(log p₀(z), log p(x, z)) per chain, from one trace of the model (discrete sites summed out:
        :func:`~aevb.inference.latents.marginal_log_densities`)."""
        values = self.layout.unflatten(z)
        prior, joint = marginal_log_densities(self.model, self.x, values)
        start = prior if self.guide is None else guide_log_density(self.guide, self.x, values)
        return start, joint

    def log_ratio(self, z: torch.Tensor) -> torch.Tensor:
        """log p(x, z) − log p₀(z): the weight increment per unit of β."""
        with torch.no_grad():
            start, joint = self.densities(z)
        return joint - start

    def start(self) -> torch.Tensor:
        with torch.no_grad():
            values = prior_draws(self.model, self.x) if self.guide is None else guide_draws(self.guide, self.x)
        return self.layout.flatten(values)

    def kernel(self, beta: float) -> PerPointHMC:
        def tempered(z):
            start, joint = self.densities(z)
            return (1 - beta) * start + beta * joint

        return PerPointHMC(tempered, self.num_leapfrog)

    def transition(self, schedule: "Schedule", t: int, z: torch.Tensor) -> torch.Tensor:
        """One move of the chains ``z`` by the kernel that leaves π at ``schedule.betas[t]`` invariant,
        with the pilots' settings for it, frozen (and the trajectory capped at a quarter period when
        the mass is adapted)."""
        step = schedule.step_sizes[t - 1]
        if self.adapt_mass:
            step = quarter_period_step(step, self.num_leapfrog)
        z, _, _ = self.kernel(schedule.betas[t])(
            z, self.per_chain(step), adapt=False, inv_mass=self.per_chain(schedule.inv_masses[t - 1])
        )
        return z

    def per_point(self, values: torch.Tensor) -> torch.Tensor:
        """(chains · B, ...) → (chains, B, ...)."""
        return values.reshape(self.chains, self.points, *values.shape[1:])

    def per_chain(self, values: torch.Tensor) -> torch.Tensor:
        """A per-point setting (B, ...) repeated for every chain: (chains · B, ...)."""
        return values.repeat(self.chains, *([1] * (values.dim() - 1)))

    def spread(self, z: torch.Tensor) -> torch.Tensor:
        """Each point's variance of every dimension across its chains (B, K)."""
        return self.per_point(z).var(0).clamp(min=1e-12)

    def curvature_mass(self, beta: float, z: torch.Tensor) -> torch.Tensor:
        """Each point's dense inverse mass for the target at ``beta``: its curvature averaged over the
        point's chains at ``z``, inverted (B, K, K)."""
        precision = self.per_point(curvature(self.kernel(beta).log_density, z)).mean(0)
        return covariance_from_precision(precision)


def pilot(
    annealing: Annealing, betas: list, advance, *, mass_rate: float = MASS_RATE, initial_step_size: float = 0.1
) -> Schedule:
    """Run the pilot chains along ``betas`` and record each temperature's transition settings (the
    mass matrix too when ``annealing.adapt_mass`` and there are two pilot chains or more)."""
    z = annealing.start()
    n, size = z.shape
    step = torch.full((n,), initial_step_size, dtype=z.dtype, device=z.device)
    use_mass = annealing.adapt_mass and (annealing.dense or annealing.chains >= 2)  # a spread needs two chains
    inv_mass = annealing.spread(z) if use_mass and not annealing.dense else z.new_ones(annealing.points, size)
    schedule = Schedule(betas, [], [])
    for t, beta in enumerate(betas[1:]):
        if annealing.dense and t % CURVATURE_EVERY == 0:
            inv_mass = annealing.curvature_mass(beta, z)
        schedule.step_sizes.append(annealing.per_point(step).log().mean(0).exp())
        schedule.inv_masses.append(inv_mass)
        z, _, step = annealing.kernel(beta)(z, step, adapt=True, inv_mass=annealing.per_chain(inv_mass))
        if use_mass and not annealing.dense:
            inv_mass = (1 - mass_rate) * inv_mass + mass_rate * annealing.spread(z)
        advance()
    return schedule


def forward_log_weights(annealing: Annealing, schedule: Schedule, advance) -> torch.Tensor:
    """AIS log-weights of chains started at draws from p₀, annealed toward the posterior: (chains, B)."""
    z = annealing.start()
    log_w = torch.zeros(len(z), dtype=z.dtype, device=z.device)
    betas = schedule.betas
    for t in range(1, len(betas)):
        log_w += (betas[t] - betas[t - 1]) * annealing.log_ratio(z)
        if t < len(betas) - 1:  # the last transition would not change the weights
            z = annealing.transition(schedule, t, z)
        advance()
    return annealing.per_point(log_w)


def reverse_log_weights(annealing: Annealing, schedule: Schedule, z_exact: torch.Tensor, advance) -> torch.Tensor:
    """Reverse-AIS log-weights of chains started at ``z_exact`` (B, K), exact posterior draws (every
    chain of a point starts at its one draw), annealed back toward p₀: (chains, B). Minus their
    log-mean is a stochastic upper bound on log p(x) (each weight is an unbiased estimate of 1/p(x))."""
    z = annealing.per_chain(z_exact)
    log_w = torch.zeros(len(z), dtype=z.dtype, device=z.device)
    betas = schedule.betas
    for t in range(len(betas) - 1, 0, -1):
        log_w += (betas[t - 1] - betas[t]) * annealing.log_ratio(z)
        if t > 1:  # move with the transition that leaves π at β_{t−1} invariant, as the forward chain's reverse
            z = annealing.transition(schedule, t - 1, z)
        advance()
    return annealing.per_point(log_w)


def check_settings(num_steps, num_chains, pilot_chains, guide):
    if num_steps < 1 or num_chains < 1 or pilot_chains < 1:
        raise ValueError("ais needs num_steps, num_chains and pilot_chains >= 1")
    if guide is not None and not capabilities(guide, "guide").density_anywhere:
        raise CombinationError(
            f"AIS from the guide evaluates log q at points the guide did not draw, and {describe(guide)} does not "
            "declare density_anywhere; use AIS from the prior (guide=None) or another estimator"
        )


def ais_log_likelihood(
    model,
    x,
    *,
    guide=None,
    num_chains: int = 16,
    num_steps: int = 500,
    num_leapfrog: int = 5,
    pilot_chains: int = 4,
    adapt_mass: bool = True,
    dense: bool = None,
    batch_size: int = 100,
    seed: int = 0,
    progress=False,
    with_error: bool = False,
):
    """AIS estimate of log p(x) of every row of ``x`` (nats): the log-mean of ``num_chains``
    forward chains' weights after ``pilot_chains`` pilot chains tuned the ``num_steps`` transitions
    (``num_leapfrog`` leapfrog steps each; with ``adapt_mass`` a mass matrix, dense or diagonal by
    latent size unless ``dense`` says). From the prior, or from the guide's q(z|x) when ``guide``
    is given (it must evaluate log q anywhere). With ``with_error``,
    :class:`~aevb.inference.estimators.uncertainty.PointEstimates` instead: the jackknife error
    over chains, Kish's effective number of chains, the flag (fewer than five chains can never
    pass it). ``progress`` (True, or a description) reports the annealing transitions done (pilot
    and forward chains). ``adapt_mass=False`` runs with the identity mass and uncapped steps, as
    the estimator did before 2026-11-24, for comparison."""
    check_settings(num_steps, num_chains, pilot_chains, guide)
    preflight(model, guide, x)
    betas = geometric_betas(num_steps)

    def estimate(xb, rows, advance):
        schedule = pilot(Annealing(model, xb, pilot_chains, guide, num_leapfrog, adapt_mass, dense), betas, advance)
        log_w = forward_log_weights(
            Annealing(model, xb, num_chains, guide, num_leapfrog, adapt_mass, dense), schedule, advance
        )
        return estimates(log_w).columns()

    desc = progress if isinstance(progress, str) else f"AIS log-likelihood ({num_steps} steps, {num_chains} chains)"
    result = seeded_point_batches(
        x, batch_size, seed, estimate, progress=progress and desc, steps_per_batch=2 * num_steps, unit="annealing steps"
    )
    points = PointEstimates.stacked(result)
    return points if with_error else points.value
