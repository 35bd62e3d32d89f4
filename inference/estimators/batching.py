"""Estimates per point, in batches of points and chunks of samples, under a fixed seed.

Every estimator runs here on consecutive batches of points, each batch seeded by ``(seed, its first
row)`` in an isolated RNG, so every algorithm is scored on the same draws without disturbing the
training RNG, and a data-parallel evaluation gives exactly the single-process numbers. Samples are
chunked so memory stays bounded whatever K.
"""

import pyro
import torch

from ..training import distributed
from ..training.progress import progress as report
from ..training.rng import isolated_rng
from .weights import log_importance_weights

#: Upper bound on samples × points × data_dim elements alive in one chunk (~64 MB of float32).
MAX_CHUNK_ELEMENTS = 1 << 24


def chunks(total: int, size: int):
    for start in range(0, total, size):
        yield start, min(size, total - start)


def seeded_point_batches(
    x, batch_size: int, seed: int, fn, *, progress=False, steps_per_batch: int = None, unit: str = "steps"
) -> torch.Tensor:
    """``fn(x_batch, rows, step)`` on consecutive batches of the rows of ``x`` (``rows``: their
    positions in ``x``), concatenated, with every global RNG restored after
    (:func:`aevb.inference.training.rng.isolated_rng`:
    the caller's torch, Python and NumPy streams are untouched).

    Each batch's draws are seeded by ``(seed, its first row)``, so every estimator draws the
    same way whoever computes the batch: in a data-parallel run (:mod:`aevb.inference.training.distributed`)
    batch i is computed by rank i mod K and the results are gathered, giving exactly the
    single-process result.

    ``progress`` (False, or a description) reports the work (:mod:`aevb.inference.training.progress`): by
    points, or, when ``fn`` does ``steps_per_batch`` long steps per batch, by those ``unit``
    (``fn`` calls ``step()`` after each).
    """
    ctx = distributed.current()
    mine = [
        (i, start, size) for i, (start, size) in enumerate(chunks(len(x), batch_size)) if i % ctx.world_size == ctx.rank
    ]
    total = len(mine) * steps_per_batch if steps_per_batch else sum(size for _, _, size in mine)
    results = {}
    with (
        report(total, progress or "", unit=unit if steps_per_batch else "points", enabled=bool(progress)) as bar,
        isolated_rng(x.device),
        pyro.validation_enabled(False),
    ):
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
def per_point(model, guide, x, num_samples, reduce, batch_size, seed, progress, weights=log_importance_weights):
    """Apply ``reduce(log_w_chunk, running)`` over sample chunks for every point, in point batches;
    ``weights``: what each chunk holds (importance log-weights, or :func:`~.weights.elbo_terms`)."""

    def batch(xb, rows, step):
        sample_chunk = max(1, min(num_samples, MAX_CHUNK_ELEMENTS // (len(xb) * x.shape[-1])))
        running = None
        for _, s in chunks(num_samples, sample_chunk):
            running = reduce(weights(model, guide, xb, s, index=rows), running)
        return running

    return seeded_point_batches(x, batch_size, seed, batch, progress=progress)
