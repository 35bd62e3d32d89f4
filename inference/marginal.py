"""Marginal-likelihood estimators that need no encoder: Appendix D's and annealed importance sampling.

Both return per-datapoint estimates of log p(x) in nats, vectorised over points (and
chains), chunked over points to bound memory, and seeded in a forked RNG like
:mod:`aevb.inference.evaluate` (whose importance-sampling estimator uses the guide as proposal).
They work on every local latent site of the model at once: each datapoint's latents packed
into one vector by :class:`~aevb.inference.latents.LatentLayout`.
"""

import math

import torch

from .evaluate import seeded_point_batches
from .hmc import PerPointHMC, packed_log_joint
from .latents import LatentLayout, guide_draws, guide_log_density, log_densities_per_point, prior_draws, traced


def hmc_posterior_samples(model, x, num_samples: int, *, burn_in: int = 100, num_leapfrog: int = 4,
                          initial_step_size: float = 0.1, z_init=None, step=None, layout: LatentLayout = None):
    """``num_samples`` draws per point from p(z|x) by HMC (one draw per transition after
    ``burn_in`` adapting transitions; step sizes are frozen while collecting), every local latent
    packed by ``layout`` (default: the model's): shape (S, B, layout.size). The chains start at
    ``z_init`` (packed), else at a draw from the prior. ``step()``, when given, is called after
    every transition (progress)."""
    step = step or (lambda: None)
    layout = layout or LatentLayout.of(model, x)
    kernel = PerPointHMC(packed_log_joint(model, x, layout), num_leapfrog)
    z = layout.flatten(prior_draws(model, x)) if z_init is None else z_init
    step_size = torch.full((len(x),), initial_step_size, dtype=x.dtype, device=x.device)
    for _ in range(burn_in):
        z, _, step_size = kernel(z, step_size, adapt=True)
        step()
    samples = []
    for _ in range(num_samples):
        z, _, _ = kernel(z, step_size, adapt=False)
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


def appendix_d_log_likelihood(model, x, *, num_samples: int = 50, burn_in: int = 100, num_leapfrog: int = 4,
                              init_draws: int = 300, batch_size: int = 1000, seed: int = 0, progress=False) -> torch.Tensor:
    """Appendix D's estimator of log p(x) for models without an encoder (valid for small Nz):

    1. draw ``num_samples`` posterior samples per point with HMC (``num_leapfrog`` = 4), each
       point's chain started at the best of ``init_draws`` prior draws (0: one prior draw);
    2. fit a density q(z) to the first half: a full-covariance Gaussian per point;
    3. on the second half, p(x) ≈ [ (1/L) Σ_l q(z_l) / (p(z_l) p(x|z_l)) ]⁻¹.

    The estimate is consistent because q is fitted on samples independent of those it is
    evaluated on; like any harmonic-mean-type estimator it is noisy when q has heavier tails
    than the posterior, hence the paper's restriction to Nz < 5. ``progress`` (True, or a
    description) reports the HMC transitions done.

    Why the start matters: it is valid only if the chain samples the posterior. Started at one
    prior draw, chains of a trained MNIST decoder (Nz = 3) stayed in regions of low posterior
    mass, and the estimate came out 15 nats *below* AIS on the same 100 points (−139.15
    against −123.69; with 1000 burn-in transitions −138.63); from the best of 30, 100, 300 or
    1000 prior draws it gave −124.58, −123.78, −123.70 and −123.66
    (``benchmarks/appendix_d_start.py``, docs/results.md, Figure 3).
    """
    if num_samples < 4:
        raise ValueError("appendix-d needs at least 4 posterior samples per point")

    def estimate(xb, step):
        layout = LatentLayout.of(model, xb)
        z_init = best_prior_draws(model, xb, init_draws, layout) if init_draws > 0 else None
        samples = hmc_posterior_samples(model, xb, num_samples, burn_in=burn_in, num_leapfrog=num_leapfrog, z_init=z_init, step=step,
                                        layout=layout)
        fit, held_out = samples[: num_samples // 2], samples[num_samples // 2 :]
        mean = fit.mean(0)
        centred = fit - mean
        cov = torch.einsum("sbi,sbj->bij", centred, centred) / (len(fit) - 1)
        cov = cov + 1e-6 * torch.eye(layout.size, device=xb.device)
        q = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov)
        with torch.no_grad():
            log_ratio = q.log_prob(held_out) - packed_log_joint(model, xb, layout)(held_out)
        return -(torch.logsumexp(log_ratio, 0) - math.log(len(held_out)))

    desc = progress if isinstance(progress, str) else f"Appendix D log-likelihood ({num_samples} HMC samples per point)"
    return seeded_point_batches(x, batch_size, seed, lambda xb, rows, step: estimate(xb, step), progress=progress and desc,
                                steps_per_batch=burn_in + num_samples, unit="HMC transitions")


def ais_log_likelihood(model, x, *, guide=None, num_chains: int = 16, num_steps: int = 500, num_leapfrog: int = 5,
                       pilot_chains: int = 4, batch_size: int = 100, seed: int = 0, progress=False) -> torch.Tensor:
    """Annealed importance sampling (Neal 2001; as Wu et al. 2017 evaluate decoders) with HMC transitions.

    Anneals π_t(z) ∝ p₀(z)^(1−β_t) p(x, z)^β_t from p₀ = the prior (or the guide's q(z|x)
    when ``guide`` is given) to the posterior over ``num_steps`` geometrically spaced β's,
    with one HMC transition per intermediate distribution. The estimate is logsumexp over
    ``num_chains`` chains of the AIS log-weights minus log(num_chains): a stochastic lower
    bound on log p(x) whose gap shrinks as ``num_steps`` grows.

    Step sizes: adapting each chain's step size from its own acceptances biases the weights
    (the kernel at step t would depend on that chain's path; measured here: the error grew
    from 0.05 to 0.96 nats as num_steps went from 100 to 1000). So ``pilot_chains``
    independent chains per point run the same schedule first, adapting toward 90% acceptance,
    and the AIS chains reuse their recorded step sizes, frozen. ``progress`` (True, or a
    description) reports the annealing transitions done (pilot and AIS chains).
    """
    if num_steps < 1 or num_chains < 1 or pilot_chains < 1:
        raise ValueError("ais needs num_steps, num_chains and pilot_chains >= 1")
    betas = torch.cat([torch.zeros(1), torch.logspace(-4, 0, num_steps)]).tolist()

    if guide is not None and not getattr(guide, "density_anywhere", False):
        raise ValueError(f"AIS from the guide evaluates log q at points the guide did not draw, which {type(guide).__name__} cannot "
                         "(planar and radial flows have no inverse); use AIS from the prior or another estimator")

    def anneal(xb, chains, advance, step_sizes=None):
        """Run ``chains`` chains per point; adapt and record step sizes when none are given."""
        b = len(xb)
        x_rep = xb.repeat(chains, 1)  # chain c of point i sits at row c * b + i
        layout = LatentLayout.of(model, x_rep)

        def densities(z):
            """(log p₀(z), log p(x, z)) per chain: the prior and the likelihood from one trace of the model."""
            values = layout.unflatten(z)
            prior, likelihood = log_densities_per_point(traced(model, x_rep, values))
            start = prior if guide is None else guide_log_density(guide, x_rep, values)
            return start, prior + likelihood

        def tempered(z, beta):
            start, joint = densities(z)
            return (1 - beta) * start + beta * joint

        with torch.no_grad():
            z = layout.flatten(prior_draws(model, x_rep) if guide is None else guide_draws(guide, x_rep))
        log_w = torch.zeros(len(x_rep), dtype=xb.dtype, device=xb.device)
        step = torch.full((len(x_rep),), 0.1, dtype=xb.dtype, device=xb.device)
        recorded = []
        for t, (prev, beta) in enumerate(zip(betas[:-1], betas[1:])):
            with torch.no_grad():
                start, joint = densities(z)
                log_w += (beta - prev) * (joint - start)
            kernel = PerPointHMC(lambda z, beta=beta: tempered(z, beta), num_leapfrog)
            if step_sizes is None:
                recorded.append(step.reshape(chains, b).log().mean(0).exp())  # per point, over pilot chains
                z, _, step = kernel(z, step, adapt=True)
            else:
                z, _, _ = kernel(z, step_sizes[t].repeat(chains), adapt=False)
            advance()
        return log_w.reshape(chains, b), recorded

    def estimate(xb, advance):
        _, step_sizes = anneal(xb, pilot_chains, advance)
        log_w, _ = anneal(xb, num_chains, advance, step_sizes)
        return torch.logsumexp(log_w, 0) - math.log(num_chains)

    desc = progress if isinstance(progress, str) else f"AIS log-likelihood ({num_steps} steps, {num_chains} chains)"
    return seeded_point_batches(x, batch_size, seed, lambda xb, rows, advance: estimate(xb, advance), progress=progress and desc,
                                steps_per_batch=2 * num_steps, unit="annealing steps")
