#!/usr/bin/env python
"""The cost of one data-parallel gradient average for the paper's MNIST VAE (784-500-20 tanh).

    torchrun --standalone --nproc-per-node 2 benchmarks/allreduce.py

Times ``inference.distributed.average_gradients`` (one all-reduce of one flat buffer holding
every gradient of θ and φ) on the parameters of the real model and guide, median of repeats,
and prints it beside the time of one single-process training step measured in the same run.
"""

import statistics
import sys
import time

import torch

from aevb import cli
from aevb.guides import DiagonalGaussianGuide
from aevb.inference import AEVB, distributed, make_optimizer
from aevb.models import BernoulliVAE

PROGRAM = cli.Program("allreduce", __doc__, keys=())
REPEATS = 200


def main(argv=None, repeats: int = REPEATS):
    PROGRAM.parse(argv)
    ctx, device = distributed.init_distributed(torch.device("cpu"))
    model, guide = BernoulliVAE(784, 20, 500), DiagonalGaussianGuide(784, 20, 500)
    algorithm = AEVB(model, guide)
    params = algorithm.parameters()
    optimizer = make_optimizer("adam", params, 1e-3)
    x = torch.bernoulli(torch.full((100, 784), 0.13))

    def step():
        optimizer.zero_grad()
        algorithm.step(x, num_data=60000)[0].backward()

    def timed(fn):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e3

    step()
    backward_ms = timed(step)
    reduce_ms = timed(lambda: distributed.average_gradients(params, torch.zeros(())))
    if ctx.is_main:
        numel = sum(p.numel() for p in params)
        print(
            f"{ctx.world_size} process(es), {torch.get_num_threads()} thread(s) each, {numel:,} parameters "
            f"({numel * 4 / 2**20:.1f} MiB of float32 gradients)"
        )
        print(f"forward + backward of one M = 100 step: {backward_ms:.2f} ms (median of {repeats})")
        print(
            f"gradient average (all-reduce, {distributed.backend_for(device) if ctx.enabled else 'none'}): "
            f"{reduce_ms:.2f} ms (median of {repeats})"
        )


if __name__ == "__main__":
    sys.exit(cli.run(main))
