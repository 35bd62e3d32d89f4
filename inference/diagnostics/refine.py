"""Per-datapoint refinement of local variational parameters, and the amortisation gap.

For a guide with local parameters λᵢ (:class:`aevb.guides.LocalGuide`), the best member of its
family for a point xᵢ maximises ELBO(λ; xᵢ) = E_q(z|λ)[log p(xᵢ, z) − log q(z|λ)]. Starting
from the encoder's λ = f_φ(xᵢ) and following reparameterised gradients of that point's ELBO
for a number of steps gives the refined ELBO; its excess over the encoder's ELBO is the
*amortisation gap* of Cremer, Li & Duvenaud (2018), the part of the inference gap
log p(x) − ELBO caused by sharing one encoder across data points rather than by the family.
For a non-amortised guide (mean field) the same routine fits fresh parameters for new points,
starting from the prior.

Optimising the head's output λ explores exactly the guide's family for the diagonal and the
full-covariance guides. For the flow guide λ holds (μ, log σ², h) with the flow's weights
fixed, so the refined family is "any base Gaussian and any context": the gap it measures is
with respect to that family.
"""

import torch

from aevb.guides import FixedLocalGuide

from ..capabilities import capabilities
from ..estimators.batching import seeded_point_batches
from ..estimators.elbo import elbo_per_point
from ..estimators.weights import log_importance_weights


def _sizes(guide) -> dict:
    return {site.name: guide.families[site.name].num_local() for site in guide.sites}


def refine_local_parameters(
    model,
    guide,
    x,
    init: dict,
    *,
    steps: int = 200,
    lr: float = 0.05,
    num_particles: int = 1,
    batch_size: int = 1000,
    seed: int = 0,
    progress=False,
) -> dict:
    """Local parameters λ of every site for every row of ``x`` (``{site: (batch, num_local)}``),
    fitted by ``steps`` Adam steps on each point's reparameterised ELBO (estimator A,
    ``num_particles`` draws), starting from ``init``; the step size decays from ``lr`` to 0 on a
    cosine schedule, so the last iterates settle instead of jittering around the optimum with
    the Monte Carlo noise of the gradients. Each site's λ is free (the fitted q is independent
    across sites).

    Points are independent given the model, so a batch of points is fitted at once: the sum of
    their ELBOs has each point's gradient in its own row. Only λ moves: the model and the
    guide's networks are untouched (gradients are taken with :func:`torch.autograd.grad`).
    Runs in a forked RNG seeded with ``seed``. ``progress`` (True, or a description) reports the
    steps done.
    """
    sizes = _sizes(guide)
    if set(init) != set(sizes) or any(init[k].dim() != 2 or init[k].shape != (len(x), sizes[k]) for k in sizes):
        raise ValueError(f"init must map every site to a ({len(x)}, num_local) tensor: {sizes}")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    packed = torch.cat([init[name] for name in sizes], dim=-1)  # one tensor, so the point batches concatenate

    def fit(xb, rows, step):
        params = {
            name: part.detach().clone().requires_grad_(True)
            for name, part in zip(sizes, packed[rows].split(list(sizes.values()), -1))
        }
        local = FixedLocalGuide(guide, params)
        optimizer = torch.optim.Adam(list(params.values()), lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
        positions = torch.arange(len(xb), device=xb.device)
        for _ in range(steps):
            with torch.enable_grad():
                loss = -log_importance_weights(model, local, xb, num_particles, index=positions).mean(0).sum()
                grads = torch.autograd.grad(loss, list(params.values()))
            for param, grad in zip(params.values(), grads):
                param.grad = grad
            optimizer.step()
            schedule.step()
            step()
        return torch.cat([param.detach() for param in params.values()], dim=-1)

    desc = progress if isinstance(progress, str) else f"refining each point's q ({steps} Adam steps)"
    fitted = seeded_point_batches(
        x, batch_size, seed, fit, progress=progress and desc, steps_per_batch=steps, unit="steps"
    )
    return dict(zip(sizes, fitted.split(list(sizes.values()), dim=-1)))


def initial_local_parameters(guide, x) -> dict:
    """Where a refinement starts: the encoder's λ for an amortised guide, q = p(z) otherwise."""
    if capabilities(guide, "guide").amortised:
        with torch.no_grad():
            return guide.local_parameters(x)
    return guide.prior_parameters(len(x), x)


def fitted_guide(
    model, guide, x, *, steps: int = 200, lr: float = 0.05, num_particles: int = 1, seed: int = 0, progress=False
) -> FixedLocalGuide:
    """A guide for the rows of ``x`` (evaluate it with ``index`` = row positions): the refined
    λ of :func:`refine_local_parameters`, from :func:`initial_local_parameters`."""
    init = initial_local_parameters(guide, x)
    params = refine_local_parameters(
        model, guide, x, init, steps=steps, lr=lr, num_particles=num_particles, seed=seed, progress=progress
    )
    return FixedLocalGuide(guide, params)


def amortisation_gap(
    model,
    guide,
    x,
    *,
    steps: int = 200,
    lr: float = 0.05,
    num_particles: int = 1,
    num_samples: int = 10,
    seed: int = 0,
    progress=False,
) -> dict:
    """Mean ELBO per datapoint of the encoder's q(z|x) and of the refined q (same evaluation
    seed, ``num_samples`` draws each), and their difference: the amortisation gap in nats
    (``num_particles``: draws per refinement step). Needs an amortised guide whose local
    parameters are a function of x (``refinable``: every site conditioned on x only)."""
    if not capabilities(guide, "guide").amortised:
        raise ValueError(f"{type(guide).__name__} is not amortised: it has no amortisation gap")
    if not guide.refinable:
        raise ValueError(
            f"{type(guide).__name__} conditions sites on other sites (a hierarchical model's q(z2|z1), a sequence's "
            "q(z_t|z_t-1)) or computes them step by step: its local parameters are not a function of x it exposes, "
            "so they cannot be refined per point"
        )
    encoder = elbo_per_point(model, guide, x, num_samples=num_samples, seed=seed)
    fitted = fitted_guide(
        model,
        guide,
        x,
        steps=steps,
        lr=lr,
        num_particles=num_particles,
        seed=seed,
        progress=progress and f"amortisation gap: refining {len(x)} points ({steps} Adam steps each)",
    )
    refined = elbo_per_point(model, fitted, x, num_samples=num_samples, seed=seed)
    return {
        "encoder_elbo": encoder.mean().item(),
        "refined_elbo": refined.mean().item(),
        "gap": (refined - encoder).mean().item(),
        "num_points": len(x),
        "steps": steps,
    }
