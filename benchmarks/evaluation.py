#!/usr/bin/env python
"""The importance-sampling log-likelihood against its matmul FLOP floor.

    python benchmarks/evaluation.py                                   # K = 5000 on all 10,000 test points
    python benchmarks/evaluation.py --eval-points 1000 --device cpu

For two models, the collection's default MNIST VAE (784-500-20, ``mnist_aevb.py``'s defaults) and
Burda et al.'s one-stochastic-layer model (784-200-200-50, ``iwae_table1.py``'s rows 1:*), with
their diagonal-Gaussian encoders: the IS estimate of log p(x) (``--ll-estimator is``, the code
every run is scored with, :func:`aevb.inference.estimators.importance.log_likelihood_per_point`) of the first
--eval-points test points with K = --eval-samples, timed once. Its matmul FLOPs are counted by
``torch.utils.flop_counter`` on the first 100 of those points (the same computation, scaled by the
number of points), and the floor is those FLOPs at this machine's float32 matmul peak, measured
in the same run (best of 5 products of 2048 x 2048 matrices, before and after; the larger is
used). The models are freshly initialised: the time does not depend on the weights' values.
Where the time goes: ``torch.profiler``'s self CPU time per operator on those 100 points, the
largest shares listed under the table.

Beside each model's row, the same estimate with the likelihood as it was computed before the
"Fast by default" issue (the per-pixel log-density ``x·ℓ − softplus(ℓ)`` materialised, then summed:
:class:`PerPixelBernoulli`), timed in the same run on the same points, right after; the two
estimates must agree to float32 precision (their largest difference is printed).
"""

import contextlib
import sys
import time

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from throughput import matmul_peak, sync  # benchmarks/throughput.py, beside this script
from torch.utils.flop_counter import FlopCounterMode

from aevb import cli
from aevb import experiment as exp
from aevb.inference.estimators.importance import log_likelihood_per_point

PROGRAM = cli.Program(
    "evaluation", __doc__, keys=("eval_samples", "eval_points", "device", "data_dir"), defaults={"eval_samples": 5000}
)
MODELS = {
    "784-500-20 (mnist_aevb.py)": {"latent_dim": 20, "hidden_dims": [500]},
    "784-200-200-50 (iwae_table1.py, 1 layer)": {"latent_dim": 50, "hidden_dims": [200, 200]},
}


class PerPixelBernoulli(dist.Bernoulli):
    """The reference: Bernoulli(logits) whose log-density is ``x·ℓ − softplus(ℓ)`` per pixel, summed by
    ``.to_event(1)`` afterwards (the collection's likelihood before ``BernoulliImage``)."""

    def log_prob(self, value):
        logits, value = torch.broadcast_tensors(self.logits, value)
        return value * logits - F.softplus(logits)

    def expand(self, batch_shape, _instance=None):
        return super().expand(batch_shape, _instance=self._get_checked_instance(PerPixelBernoulli, _instance))


class PerPixelLikelihood:
    binary = True

    def distribution(self, output, data_dim):
        return PerPixelBernoulli(logits=output, validate_args=False).to_event(1)


@contextlib.contextmanager
def per_pixel_likelihood(model):
    """``model`` with the reference likelihood in place of its own, for the duration."""
    own, model.likelihood_model = model.likelihood_model, PerPixelLikelihood()
    try:
        yield
    finally:
        model.likelihood_model = own


def timed_estimate(run, x, k, label):
    sync(x.device)
    start = time.perf_counter()
    values = log_likelihood_per_point(run.model, run.guide, x, num_samples=k, seed=0, progress=label)
    sync(x.device)
    return values, time.perf_counter() - start


#: Points whose matmul FLOPs are counted (then scaled): one point batch of the estimator.
COUNTED_POINTS = 100


def counted_flops(model, guide, x, num_samples: int) -> int:
    """Matmul FLOPs (torch's count: 2·m·n·k per product) of the IS estimate on ``x``."""
    counter = FlopCounterMode(display=False)
    with counter:
        log_likelihood_per_point(model, guide, x, num_samples=num_samples, seed=0)
    return counter.get_total_flops()


def profile_shares(model, guide, x, num_samples: int, top: int = 6) -> str:
    """The operators taking the largest shares of self CPU time in the IS estimate on ``x``."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        log_likelihood_per_point(model, guide, x, num_samples=num_samples, seed=0)
    events = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    total = sum(t for _, t in events)
    ranked = sorted(events, key=lambda e: -e[1])[:top]
    return ", ".join(f"{name.removeprefix('aten::')} {t / total:.0%}" for name, t in ranked)


def main(argv=None):
    settings = PROGRAM.parse(argv)
    device = exp.resolve_device(settings["device"])
    k = settings["eval_samples"]
    print(f"IS log-likelihood, K = {k}, on {device} ({torch.get_num_threads()} threads)\n")
    header = (
        "| model | points | seconds | seconds, per-pixel likelihood | speed-up | matmul GFLOP | floor (s) at the "
        "peak | ratio to the floor | IS log p(x) (untrained) | largest difference |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    print(header)
    peaks, profiles, rows = [matmul_peak(device)], {}, []
    for name, model_config in MODELS.items():
        run = exp.build(
            {**model_config, "epochs": 1},
            data_dir=settings["data_dir"],
            device=device.type,
            log=lambda *a: None,
            progress=False,
        )
        x = run.test.x if settings["eval_points"] is None else run.test.x[: settings["eval_points"]]
        counted = x[:COUNTED_POINTS]
        flops = counted_flops(run.model, run.guide, counted, k) * len(x) / len(counted)
        profiles[name] = profile_shares(run.model, run.guide, counted, k)
        values, seconds = timed_estimate(run, x, k, f"IS, {name}")
        with per_pixel_likelihood(run.model):
            reference, reference_seconds = timed_estimate(run, x, k, f"IS, {name}, per-pixel likelihood")
        peaks.append(matmul_peak(device))
        floor = flops / max(peaks)
        rows.append(
            f"| {name} | {len(x):,} | {seconds:.1f} | {reference_seconds:.1f} | {reference_seconds / seconds:.2f} | "
            f"{flops / 1e9:,.0f} | {floor:.1f} | {seconds / floor:.2f} | {values.mean().item():.2f} | "
            f"{(values - reference).abs().max().item():.1e} |"
        )
        print(rows[-1], flush=True)
    print("\n" + header + "\n" + "\n".join(rows))  # together again, after the progress lines
    print("\nself CPU time by operator (torch.profiler, the first 100 points):")
    for name, shares in profiles.items():
        print(f"- {name}: {shares}")
    print(
        f"\nfloat32 matmul peak (2048^3, best of 5, the largest of {len(peaks)} measurements): "
        f"{max(peaks) / 1e9:.0f} GFLOP/s"
    )


if __name__ == "__main__":
    sys.exit(cli.run(main))
