"""The numbers every algorithm is judged by, computed by one piece of code (DESIGN.md).

* ELBO per datapoint: the mean over ``num_samples`` draws z ~ q(z|x) of
  log p(x, z) − log q(z|x) (§2.2), an unbiased estimate of L(θ, φ; x).
* Importance-sampled log-likelihood per datapoint (Burda et al. 2015, eq. 14):
  log p(x) ≈ logsumexp_k [log p(x, z_k) − log q(z_k|x)] − log K, z_k ~ q(z|x). Its
  expectation is a lower bound on log p(x) that tightens as K grows, and it is ≥ the ELBO
  in expectation.

Both are vectorised over samples with a Pyro plate at dim −2 (the model's ``"data"``
plate is dim −1), chunked over points and samples so memory stays bounded whatever K, and
run under a fixed seed in a forked RNG so that every algorithm is scored on the same draws
without disturbing the training RNG.
"""

import math

import pyro
import pyro.poutine as poutine
import torch
from pyro.ops.stats import effective_sample_size
from pyro.poutine.util import site_is_subsample

from . import distributed
from .rng import isolated_rng

#: Upper bound on samples × points × data_dim elements alive in one chunk (~64 MB of float32).
MAX_CHUNK_ELEMENTS = 1 << 24


def site_log_prob_sum(trace, names=None):
    """Σ over the trace's sample sites (all, or those in ``names``; never a plate's subsample index)
    of their *unscaled* log-densities, keeping batch dimensions: the plate's N/M scale plays no part."""
    total = 0.0
    for name, site in trace.nodes.items():
        if site["type"] == "sample" and not site_is_subsample(site) and (names is None or name in names):
            total = total + site["fn"].log_prob(site["value"])
    return total


def importance_sampled_log_likelihood(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/S) Σ_s w_s of every point from log-weights of shape (S, B) (Burda et al. 2015, eq. 14)."""
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])


def log_mean_standard_error(log_sum: torch.Tensor, log_sum_squares: torch.Tensor, count: int) -> torch.Tensor:
    """The standard error of log((1/S) Σ_s w_s), S = ``count`` independent weights, by the delta
    method: sd(w) / (√S · mean(w)) = √((S·Σw² / (Σw)² − 1) / (S − 1)), from ``log_sum`` = log Σ w
    and ``log_sum_squares`` = log Σ w² (so it never forms a weight). It is what the estimate's
    spread over repeated runs would be for large S; with a few dominant weights it understates it."""
    if count < 2:
        return torch.full_like(log_sum, math.nan)
    ratio = torch.exp(log_sum_squares - 2 * log_sum)
    return ((count * ratio - 1).clamp(min=0) / (count - 1)).sqrt()


def log_mean_exp_with_error(log_w: torch.Tensor, correlated: bool = False) -> torch.Tensor:
    """(log (1/S) Σ_s w_s, its standard error) per point from log-weights (S, B): shape (B, 2).
    With ``correlated`` the S weights are consecutive draws of a Markov chain, and S in the
    error is replaced by their effective sample size (:func:`pyro.ops.stats.effective_sample_size`)."""
    count = log_w.shape[0]
    log_sum = torch.logsumexp(log_w, 0)
    error = log_mean_standard_error(log_sum, torch.logsumexp(2 * log_w, 0), count)
    if correlated:
        weights = torch.exp(log_w - log_sum)  # normalised per point
        ess = effective_sample_size(weights.unsqueeze(0), chain_dim=0, sample_dim=1).clamp(min=2, max=count)
        error = error * (count / ess).sqrt()
    return torch.stack([log_sum - math.log(count), error], -1)


def guide_and_model_traces(model, guide, x: torch.Tensor, **kwargs):
    """z ~ q(z|x) traced from the guide, and the model's trace replayed on those z."""
    guide_trace = poutine.trace(guide).get_trace(x, **kwargs)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x, **kwargs)
    return guide_trace, model_trace


def log_importance_weights(model, guide, x: torch.Tensor, num_samples: int, index: torch.Tensor = None, num_data: int = None) -> torch.Tensor:
    """log p(x, z_s) − log q(z_s|x) for ``num_samples`` draws per point: shape (num_samples, len(x)).

    Works for any model/guide pair of the collection (guide sites the model does not have,
    e.g. auxiliary ones, are left out). ``index`` gives the rows' positions in their data set
    of ``num_data`` points, for guides with per-datapoint parameters; log-densities are
    unscaled, so the plate's size plays no other part.
    """
    particles = pyro.plate("eval_particles", num_samples, dim=-2)
    if num_data is None:
        num_data = len(x) if index is None else max(len(x), int(index.max()) + 1)
    guide_trace, model_trace = guide_and_model_traces(particles(model), particles(guide), x, num_data=num_data, index=index)
    log_w = site_log_prob_sum(model_trace) - site_log_prob_sum(guide_trace, names=model_trace.nodes)
    return log_w + x.new_zeros(num_samples, len(x))


def _chunks(total: int, size: int):
    for start in range(0, total, size):
        yield start, min(size, total - start)


def seeded_point_batches(x, batch_size: int, seed: int, fn, *, progress=False, steps_per_batch: int = None, unit: str = "steps") -> torch.Tensor:
    """``fn(x_batch, rows, step)`` on consecutive batches of the rows of ``x`` (``rows``: their
    positions in ``x``), concatenated, with every global RNG restored after (:func:`aevb.inference.rng.isolated_rng`:
    the caller's torch, Python and NumPy streams are untouched).

    Each batch's draws are seeded by ``(seed, its first row)``, so every estimator draws the
    same way whoever computes the batch: in a data-parallel run (:mod:`aevb.inference.distributed`)
    batch i is computed by rank i mod K and the results are gathered, giving exactly the
    single-process result.

    ``progress`` (False, or a description) reports the work (:mod:`aevb.inference.progress`): by
    points, or, when ``fn`` does ``steps_per_batch`` long steps per batch, by those ``unit``
    (``fn`` calls ``step()`` after each).
    """
    from .progress import progress as report

    ctx = distributed.current()
    mine = [(i, start, size) for i, (start, size) in enumerate(_chunks(len(x), batch_size)) if i % ctx.world_size == ctx.rank]
    total = len(mine) * steps_per_batch if steps_per_batch else sum(size for _, _, size in mine)
    results = {}
    with report(total, progress or "", unit=unit if steps_per_batch else "points", enabled=bool(progress)) as bar, \
            isolated_rng(x.device), pyro.validation_enabled(False):
        for i, start, size in mine:
            pyro.set_rng_seed(distributed.derived_seed(seed, start))
            results[i] = fn(x[start : start + size], torch.arange(start, start + size, device=x.device), bar.update)
            if not steps_per_batch:
                bar.update(size)
    if not ctx.enabled:
        return torch.cat([results[i] for i in sorted(results)])
    gathered = {}
    for part in distributed.gather_objects({i: t.cpu() for i, t in results.items()}):
        gathered.update(part)
    return torch.cat([gathered[i] for i in sorted(gathered)]).to(x.device)


@torch.no_grad()
def _per_point(model, guide, x, num_samples, reduce, batch_size, seed, progress):
    """Apply ``reduce(log_w_chunk, running)`` over sample chunks for every point, in point batches."""
    def batch(xb, rows, step):
        sample_chunk = max(1, min(num_samples, MAX_CHUNK_ELEMENTS // (len(xb) * x.shape[-1])))
        running = None
        for _, s in _chunks(num_samples, sample_chunk):
            running = reduce(log_importance_weights(model, guide, xb, s, index=rows), running)
        return running

    return seeded_point_batches(x, batch_size, seed, batch, progress=progress)


def elbo_per_point(model, guide, x, num_samples: int = 10, batch_size: int = 1000, seed: int = 0, progress=False) -> torch.Tensor:
    """Monte Carlo ELBO of every point of ``x`` (nats), averaged over ``num_samples`` draws;
    ``progress`` (True, or a description) reports the points done."""
    def reduce(log_w, running):
        total = log_w.sum(0)
        return total if running is None else running + total

    desc = progress if isinstance(progress, str) else f"ELBO ({num_samples} draws per point)"
    return _per_point(model, guide, x, num_samples, reduce, batch_size, seed, progress and desc) / num_samples


def log_likelihood_per_point(model, guide, x, num_samples: int = 1000, batch_size: int = 100, seed: int = 0, progress=False,
                             with_error: bool = False):
    """Importance-sampled log p(x) of every point of ``x`` (nats), with the guide as proposal;
    with ``with_error``, also each point's standard error (:func:`log_mean_standard_error`) as a
    second tensor. ``progress`` (True, or a description) reports the points done."""
    def reduce(log_w, running):
        chunk = torch.stack([torch.logsumexp(log_w, 0), torch.logsumexp(2 * log_w, 0)], -1)
        return chunk if running is None else torch.logaddexp(running, chunk)

    desc = progress if isinstance(progress, str) else f"IS log-likelihood (K={num_samples})"
    sums = _per_point(model, guide, x, num_samples, reduce, batch_size, seed, progress and desc)
    estimate = sums[:, 0] - math.log(num_samples)
    return (estimate, log_mean_standard_error(sums[:, 0], sums[:, 1], num_samples)) if with_error else estimate


def evaluate_elbo(model, guide, x, num_samples: int = 10, seed: int = 0, progress=False) -> float:
    """Test ELBO in nats per datapoint (larger is better)."""
    return elbo_per_point(model, guide, x, num_samples=num_samples, seed=seed, progress=progress).mean().item()


def evaluate_log_likelihood(model, guide, x, num_samples: int = 1000, seed: int = 0, progress=False) -> float:
    """Importance-sampled test log-likelihood in nats per datapoint (larger is better)."""
    return log_likelihood_per_point(model, guide, x, num_samples=num_samples, seed=seed, progress=progress).mean().item()
