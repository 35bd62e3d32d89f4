"""Marginal-likelihood estimators that need no encoder: Appendix D's, and the posterior HMC it runs on.

Per-datapoint estimates of log p(x) in nats, vectorised over points (and chains), chunked over
points to bound memory, and seeded like :mod:`aevb.inference.estimators` (whose importance-sampling
estimator uses the guide as proposal). They work on every local latent site of the model at
once: each datapoint's latents packed into one vector by
:class:`~aevb.inference.latents.LatentLayout`. Annealed importance sampling is
:mod:`aevb.inference.estimators.ais`.
"""

import math

import torch
from pyro.ops.stats import split_gelman_rubin

from ..latents import LatentLayout, prior_draws
from ..preflight import preflight
from .batching import seeded_point_batches
from .hmc import PerPointHMC, packed_log_joint, quarter_period_step, rescaled_step_size
from .mass import WindowEstimate, covariance_from_precision, curvature, dense_for
from .uncertainty import PointEstimates, estimates

#: Burn-in's mass-matrix windows, as fractions of it (Stan's scheme, shortened): step sizes alone
#: adapt first, each window's variances then become the inverse mass, and the last quarter
#: adapts the step size to the final mass.
MASS_WINDOWS = ((0.15, 0.35), (0.35, 0.75))
#: The largest packed latent size the estimator accepts (the paper: "valid for small Nz", Nz < 5).
MAX_LATENT_SIZE = 4
#: Contiguous blocks of the estimating chain its jackknife error uses.
BLOCKS = 10
#: A point whose two chains' split-R̂ exceeds this in any direction is refused.
MAX_RHAT = 1.1


def hmc_posterior_samples(
    model,
    x,
    num_samples: int,
    *,
    burn_in: int = 100,
    num_leapfrog: int = 4,
    initial_step_size: float = 0.1,
    z_init=None,
    step=None,
    layout: LatentLayout = None,
    adapt_mass: bool = True,
    dense: bool = None,
):
    """``num_samples`` draws per point from p(z|x) by HMC (one draw per transition after
    ``burn_in`` adapting transitions), every local latent packed by ``layout`` (default: the
    model's): shape (S, B, layout.size). The chains start at ``z_init`` (packed), else at a draw
    from the prior. ``step()``, when given, is called after every transition (progress).

    Burn-in adapts each point's step size toward 90% acceptance and, with ``adapt_mass``, a mass
    matrix, dense or diagonal by latent size unless ``dense`` says
    (:func:`~aevb.inference.estimators.mass.dense_for`): learnt in the windows
    :data:`MASS_WINDOWS` (:class:`~aevb.inference.estimators.mass.WindowEstimate`: the curvature
    averaged over the window's states, or the variances of its draws; Pyro's own adapter serves
    one chain of one potential, here each point has its own). A dense one starts at the curvature
    where the chain starts, with a quarter period's step. Everything is frozen while collecting,
    so the draws come from a fixed kernel.
    """
    step = step or (lambda: None)
    layout = layout or LatentLayout.of(model, x)
    z = layout.flatten(prior_draws(model, x)) if z_init is None else z_init
    step_size = torch.full((len(x),), initial_step_size, dtype=x.dtype, device=x.device)
    dense = adapt_mass and (dense_for(layout.size) if dense is None else dense)
    log_joint = packed_log_joint(model, x, layout)
    inv_mass = torch.ones_like(z)  # the identity, until a window's estimate replaces it
    if dense:  # whitened by the curvature where the chain starts, at a quarter period's step
        inv_mass = covariance_from_precision(curvature(log_joint, z))
        step_size = quarter_period_step(torch.full_like(step_size, math.pi), num_leapfrog)
    windows = [(round(a * burn_in), round(b * burn_in)) for a, b in MASS_WINDOWS] if adapt_mass else []
    window = WindowEstimate(log_joint, dense)
    kernel = PerPointHMC(log_joint, num_leapfrog)
    for i in range(burn_in):
        z, _, step_size = kernel(z, step_size, adapt=True, inv_mass=inv_mass)
        for begin, end in windows:
            if begin <= i < end:
                window.update(z)
            if i + 1 == end and window.ready:
                new = window.inverse_mass()
                step_size, inv_mass = rescaled_step_size(step_size, inv_mass, new, z), new
                window.reset()
        step()
    if adapt_mass:
        step_size = quarter_period_step(step_size, num_leapfrog)
    samples = []
    for _ in range(num_samples):
        z, _, _ = kernel(z, step_size, adapt=False, inv_mass=inv_mass)
        samples.append(z)
        step()
    return torch.stack(samples)


@torch.no_grad()
def best_prior_draws(model, x, num_draws: int, layout: LatentLayout = None) -> torch.Tensor:
    """For each point, the one of ``num_draws`` draws z ~ p(z) (all local latents, packed by
    ``layout``) with the largest log p(x, z): a start for a posterior chain that needs no encoder
    (so every algorithm is scored alike)."""
    layout = layout or LatentLayout.of(model, x)
    log_joint_of = packed_log_joint(model, x, layout)
    best_z, best = None, None
    chunk = max(1, (1 << 24) // (len(x) * x.shape[-1]))
    for start in range(0, num_draws, chunk):
        z = layout.flatten(prior_draws(model, x, min(chunk, num_draws - start)))
        log_joint = log_joint_of(z)
        value, which = log_joint.max(0)
        pick = z[which, torch.arange(len(x), device=x.device)]
        if best is None:
            best_z, best = pick, value
        else:
            better = value > best
            best_z, best = torch.where(better[:, None], pick, best_z), torch.where(better, value, best)
    return best_z


def appendix_d_log_likelihood(
    model,
    x,
    *,
    num_samples: int = 50,
    burn_in: int = 100,
    num_leapfrog: int = 4,
    init_draws: int = 300,
    adapt_mass: bool = True,
    dense: bool = None,
    batch_size: int = 1000,
    seed: int = 0,
    progress=False,
    with_error: bool = False,
):
    """Appendix D's estimator of log p(x) for models without an encoder (valid for small Nz), as
    the paper states it:

    1. draw L = ``num_samples`` posterior samples per point with HMC (``num_leapfrog`` = 4) on
       one chain, the *fitting* chain;
    2. fit a density q(z) to them: a full-covariance Gaussian per point;
    3. draw L fresh posterior samples on a second, independent chain (the *estimating* chain),
       and estimate p(x) ≈ [ (1/L) Σ_l q(z_l) / (p(z_l) p(x|z_l)) ]⁻¹ on them.

    Both chains of a point start at the same place, the best of ``init_draws`` prior draws (0:
    one prior draw), and each runs ``burn_in`` adapting transitions of its own first (step size
    and, with ``adapt_mass``, a mass matrix, dense at these latent sizes:
    :func:`hmc_posterior_samples`). Because q is fitted on one chain and evaluated on the other,
    q is independent of the points it is evaluated at (given the start), which makes 1/p̂
    unbiased for 1/p(x) whatever q is, when the chains sample the posterior. (Kingma's code
    fitted on the first half of one chain and evaluated on the second half: the halves are
    correlated, lag-1 autocorrelation 0.81 on an oracle model, so q was fitted to the very region
    it was then evaluated in.) The cost is two chains per point: 2 × (burn_in + L) transitions.

    **Refused points.** A point is not estimated (value NaN, ``reliable`` False) when its two
    chains disagree (Pyro's split-R̂ over the two chains above :data:`MAX_RHAT` in any latent
    dimension) or its L ratios are worth fewer than
    :data:`~aevb.inference.estimators.uncertainty.MIN_ESS` equal ones. The latent size is
    limited to :data:`MAX_LATENT_SIZE` here, for every caller: at Nz = 10 the estimate came out
    +151 nats per point.

    **Which way each failure errs**, so that a number it returns cannot flatter a model:

    * chains that do not mix (a correlated posterior crossed with a diagonal mass: the chain
      covered a quarter of the broad direction's spread) or sit apart, so the estimating chain
      is where q has little mass: too *high*, by up to +138 nats on a rotated oracle. Refused by
      the R̂ and ESS checks (on the rotated Nz = 4 oracle every such point was refused);
    * q wider than the posterior in some direction: the ratios are heavy-tailed, their mean is
      usually too small, the estimate too *high*. Flagged by the ESS check;
    * a mode both chains never leave (they start together, so they share it): too *low* by the
      log of that mode's share of the posterior mass, the direction AIS errs in; no check sees it;
    * finite L alone: 1/p̂ is unbiased, so log p̂ is a stochastic *upper* bound, high by about
      half its variance.

    Why one start: chains from different starts sat in different modes of Figure 3's MCEM model
    and the estimate came out +28.8 nats per test point where AIS gave −141.5. Why the best of
    many prior draws: started at one prior draw, chains of a trained MNIST decoder (Nz = 3)
    stayed in regions of low posterior mass, 15 nats *below* AIS on the same 100 points
    (``benchmarks/appendix_d_start.py``, docs/results.md, Figure 3).

    With ``with_error``, :class:`~aevb.inference.estimators.uncertainty.PointEstimates`: the
    jackknife error over :data:`BLOCKS` contiguous blocks of the estimating chain, the ratios'
    effective sample size (Kish's, times the chain's autocorrelation ESS over L), the flag.
    ``progress`` (True, or a description) reports the HMC transitions done.
    """
    if num_samples < 4:
        raise ValueError("appendix-d needs at least 4 posterior samples per point")
    preflight(model, None, x)
    size = LatentLayout.of(model, x[:1]).size
    if size > MAX_LATENT_SIZE:
        raise ValueError(
            f"appendix-d is valid for at most {MAX_LATENT_SIZE} latent numbers per point (the paper's Nz < 5); "
            f"this model has {size}: use --ll-estimator ais or is"
        )

    def estimate(xb, step):
        b = len(xb)
        both = xb.repeat(2, 1)  # rows [0, b): the fitting chains; [b, 2b): the estimating chains
        layout = LatentLayout.of(model, both)
        # one start per point, shared by its two chains (see the docstring)
        start = (
            best_prior_draws(model, xb, init_draws, layout)
            if init_draws > 0
            else layout.flatten(prior_draws(model, xb))
        )
        z_init = start.repeat(2, 1)
        samples = hmc_posterior_samples(
            model,
            both,
            num_samples,
            burn_in=burn_in,
            num_leapfrog=num_leapfrog,
            z_init=z_init,
            step=step,
            layout=layout,
            adapt_mass=adapt_mass,
            dense=dense,
        )
        fit, held_out = samples[:, :b], samples[:, b:]
        mean = fit.mean(0)
        centred = fit - mean
        cov = torch.einsum("sbi,sbj->bij", centred, centred) / (len(fit) - 1)
        cov = cov + 1e-6 * torch.eye(layout.size, dtype=cov.dtype, device=xb.device)
        q = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov)
        with torch.no_grad():
            log_ratio = q.log_prob(held_out) - packed_log_joint(model, xb, layout)(held_out)  # (L, b)
        ratio = estimates(log_ratio, groups=BLOCKS, chain=True)
        rhat = split_gelman_rubin(samples.reshape(len(samples), 2, b, -1), chain_dim=1, sample_dim=0)
        mixed = rhat.amax(-1) <= MAX_RHAT
        kept = ratio.reliable & mixed
        value = torch.where(kept, -ratio.value, torch.full_like(ratio.value, math.nan))
        return PointEstimates(value, ratio.error, ratio.ess, kept).columns()

    desc = (
        progress
        if isinstance(progress, str)
        else f"Appendix D log-likelihood ({num_samples} + {num_samples} HMC samples per point)"
    )
    result = seeded_point_batches(
        x,
        batch_size,
        seed,
        lambda xb, rows, step: estimate(xb, step),
        progress=progress and desc,
        steps_per_batch=burn_in + num_samples,
        unit="HMC transitions",
    )
    points = PointEstimates.stacked(result)
    return points if with_error else points.value
