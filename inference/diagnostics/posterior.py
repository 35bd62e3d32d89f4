"""ArviZ posterior diagnostics: is q(z|x) any good, and did the samplers converge?

Every function works on all of a model's local latent sites: the InferenceData has one
variable per site, with dimensions ``point`` and ``SITE_dim``.

* :func:`nuts_inference_data`: Pyro's NUTS (several chains) on p(z|x) for a set of points at
  once, with the model's weights fixed, as ArviZ InferenceData.
* :func:`guide_inference_data`: draws from the guide q(z|x) for the same points, laid out the
  same way, so that ``az.summary``, ``az.plot_pair`` and ``az.plot_density`` can show both.
* :func:`hmc_inference_data`: the same for the per-datapoint HMC of Monte Carlo EM (Appendix E).
* :func:`convergence`: rank-normalised R̂, bulk and tail ESS, MCSE per point and dimension,
  with a one-line verdict per point.
* :func:`psis`: Pareto-smoothed importance sampling of the evaluation module's log-weights
  log p(x, z) − log q(z|x) (Yao, Vehtari, Simpson & Gelman 2018): k̂ per point (< 0.5 good,
  0.5–0.7 usable, > 0.7 the guide is not to be trusted), with the PSIS and plain IS
  log-likelihood estimates side by side.
"""

import contextlib
import multiprocessing
import warnings

import numpy as np
import pyro
import torch
from pyro.infer import MCMC, NUTS

from ..estimators.appendix_d import hmc_posterior_samples
from ..estimators.weights import importance_sampled_log_likelihood, log_importance_weights
from ..latents import OBSERVED, LatentLayout, guide_draws
from ..preflight import preflight
from ..training.progress import mode as progress_mode
from ..training.progress import progress as report
from ..training.rng import seeded

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # ArviZ 0.23 announces its 1.0 refactor at import
    import arviz as az

R_HAT_MAX, ESS_MIN = 1.01, 400
K_HAT_GOOD, K_HAT_USABLE = 0.5, 0.7


@contextlib.contextmanager
def frozen(module):
    """The model's weights are fixed while sampling its latents: no graph is built for them."""
    flags, training = [p.requires_grad for p in module.parameters()], module.training
    module.requires_grad_(False).train(False)  # eval mode: Pyro registers no frozen parameters
    try:
        yield module
    finally:
        module.train(training)
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def posterior_program(model, x):
    """p(z | x) for the rows of ``x`` jointly: the model's own program on all of them, every local
    latent site sampled (by NUTS) and x observed."""

    def program():
        return model(x, num_data=len(x))

    return program


def _coords(indices, layout: LatentLayout):
    coords = {"point": np.asarray(indices)}
    coords.update({f"{name}_dim": np.arange(size) for name, size in zip(layout.sites, layout.sizes)})
    return coords, {name: ["point", f"{name}_dim"] for name in layout.sites}


def _from_draws(values: dict, indices, layout: LatentLayout):
    """InferenceData from ``{site: array (chain, draw, point, size)}``."""
    coords, dims = _coords(indices, layout)
    return az.from_dict(posterior=values, coords=coords, dims=dims)


def nuts_inference_data(model, x, indices, *, num_chains=4, num_samples=500, warmup_steps=500, seed=0, progress=False):
    """Run NUTS on p(z|x) for all points at once and convert with ``az.from_pyro``.

    All points share one NUTS trajectory (one program, every local site of shape (points, size)),
    which is how a batch of independent posteriors is sampled in one MCMC run; the diagonal mass
    matrix adapts to each point's scales. Returns (InferenceData, number of divergences).

    ``progress`` reports the draws of every chain (:mod:`aevb.inference.training.progress`) through
    MCMC's ``hook_fn`` when the chains run one after another in this process (Pyro's rule:
    more chains than CPUs but one); when Pyro runs them in parallel processes, its own bar
    shows them on a terminal.
    """
    preflight(model, None, x)
    if num_chains < 4:
        raise ValueError("use at least 4 chains: R-hat compares chains")
    layout = LatentLayout.of(model, x)
    sequential = num_chains > max(multiprocessing.cpu_count() - 1, 1)  # as pyro.infer.mcmc.api.MCMC decides
    bar = report(
        num_chains * (warmup_steps + num_samples),
        f"NUTS on p(z|x) of {len(x)} points, {num_chains} chains",
        unit="draws",
        enabled=progress and sequential,
    )
    with seeded(seed, x.device), bar, frozen(model), warnings.catch_warnings(), pyro.validation_enabled(False):
        warnings.filterwarnings("ignore", message="num_chains=")  # chains run one after another on small machines
        mcmc = MCMC(
            NUTS(posterior_program(model, x), adapt_step_size=True, adapt_mass_matrix=True, target_accept_prob=0.9),
            num_samples=num_samples,
            warmup_steps=warmup_steps,
            num_chains=num_chains,
            hook_fn=(lambda kernel, params, stage, i: bar.update(1)) if sequential else None,
            disable_progbar=not (progress and not sequential and progress_mode() == "bar"),
        )
        mcmc.run()
        coords, dims = _coords(indices, layout)
        idata = az.from_pyro(
            mcmc,
            log_likelihood=False,
            coords={**coords, "pixel": np.arange(x.shape[1])},
            dims={**dims, OBSERVED: ["point", "pixel"]},
        )
    divergences = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    return idata, divergences


def guide_inference_data(guide, x, indices, *, num_samples=1000, seed=0):
    """Draws of every local site from the guide q(z|x) for the same points, as InferenceData with the
    same dimensions (one chain)."""
    with torch.no_grad(), seeded(seed, x.device):
        with pyro.plate("guide_draws", num_samples, dim=-2):
            draws = guide_draws(guide, x)
    layout = LatentLayout(tuple(draws), tuple(tuple(v.shape[2:]) for v in draws.values()))
    return _from_draws({name: value.cpu().numpy()[None] for name, value in draws.items()}, indices, layout)


def hmc_inference_data(
    model, x, indices, *, num_chains=4, num_samples=500, warmup_steps=500, num_leapfrog=10, seed=0, progress=False
):
    """Monte Carlo EM's E-step sampler (per-datapoint HMC, Appendix E) run as ``num_chains`` chains
    per point from the prior, adapted during warm-up and frozen after, as InferenceData;
    ``progress`` reports the transitions (all chains move together)."""
    x_rep = x.repeat(num_chains, 1)
    layout = LatentLayout.of(model, x_rep)
    bar = report(
        warmup_steps + num_samples,
        f"HMC on p(z|x) of {len(x)} points, {num_chains} chains",
        unit="transitions",
        enabled=progress,
    )
    with bar, seeded(seed, x.device), frozen(model):
        draws = hmc_posterior_samples(
            model,
            x_rep,
            num_samples,
            burn_in=warmup_steps,
            num_leapfrog=num_leapfrog,
            initial_step_size=0.05,
            step=bar.update,
            layout=layout,
        )
    values = layout.unflatten(
        draws.reshape(num_samples, num_chains, len(x), layout.size).transpose(0, 1)
    )  # (chain, draw, point, ...)
    return _from_draws({name: value.cpu().numpy() for name, value in values.items()}, indices, layout)


def convergence(idata, divergences: int = 0):
    """``az.summary`` (rank-normalised R̂, bulk/tail ESS, MCSE) of every latent site per point and
    dimension, and a one-line verdict per point: converged when every dimension of every site
    has R̂ < 1.01 and bulk ESS > 400."""
    summary = az.summary(idata, kind="all", round_to="none")
    point_of = {row: row.split("[")[1].split(",")[0] for row in summary.index}
    verdicts = {}
    for point in dict.fromkeys(point_of.values()):
        rows = summary[[point_of[r] == point for r in summary.index]]
        problems = []
        if rows["r_hat"].max() >= R_HAT_MAX:
            problems.append(f"max R-hat {rows['r_hat'].max():.3f} >= {R_HAT_MAX}")
        if rows["ess_bulk"].min() <= ESS_MIN:
            problems.append(f"min bulk ESS {rows['ess_bulk'].min():.0f} <= {ESS_MIN}")
        if divergences:
            problems.append(f"{divergences} divergent transitions in the joint run")
        verdicts[point] = "converged" if not problems else "NOT converged: " + "; ".join(problems)
    return summary, verdicts


def psis(model, guide, x, *, num_samples=1000, seed=0):
    """PSIS on the importance weights of q(z|x) for each point: k̂, and the PSIS and plain IS
    log-likelihood estimates (nats), from the evaluation module's log-weights (the same
    computation as the IS estimator's). Returns a dict of numpy arrays of length ``len(x)``."""
    preflight(model, guide, x)
    with torch.no_grad(), seeded(seed, x.device), pyro.validation_enabled(False):
        log_w = log_importance_weights(model, guide, x, num_samples)  # (samples, points)
    smoothed, khat = az.psislw(log_w.T.double().cpu().numpy(), reff=1.0, normalize=False)
    return {
        "khat": np.asarray(khat),
        "log_weights": log_w.T.double().cpu().numpy(),
        "psis_log_likelihood": importance_sampled_log_likelihood(torch.from_numpy(smoothed).T).numpy(),
        "is_log_likelihood": importance_sampled_log_likelihood(log_w.double()).cpu().numpy(),
    }


def khat_verdict(k: float) -> str:
    if k < K_HAT_GOOD:
        return "good"
    return "usable" if k < K_HAT_USABLE else "not to be trusted"
