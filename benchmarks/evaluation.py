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
"""

import sys
import time

import torch
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
    print(
        "| model | points | seconds | matmul GFLOP | floor (s) at the peak | ratio to the floor | IS log p(x) "
        "(untrained) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    peaks, profiles = [matmul_peak(device)], {}
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
        sync(device)
        start = time.perf_counter()
        values = log_likelihood_per_point(run.model, run.guide, x, num_samples=k, seed=0, progress=f"IS, {name}")
        sync(device)
        seconds = time.perf_counter() - start
        peaks.append(matmul_peak(device))
        floor = flops / max(peaks)
        print(
            f"| {name} | {len(x):,} | {seconds:.1f} | {flops / 1e9:,.0f} | {floor:.1f} | {seconds / floor:.2f} | "
            f"{values.mean().item():.2f} |",
            flush=True,
        )
    print("\nself CPU time by operator (torch.profiler, the first 100 points):")
    for name, shares in profiles.items():
        print(f"- {name}: {shares}")
    print(
        f"\nfloat32 matmul peak (2048^3, best of 5, the largest of {len(peaks)} measurements): "
        f"{max(peaks) / 1e9:.0f} GFLOP/s"
    )


if __name__ == "__main__":
    sys.exit(cli.run(main))
