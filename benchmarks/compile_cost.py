#!/usr/bin/env python
"""What compiling the training step costs, once per batch shape: the first step (forward and
backward) of the paper's MNIST VAE (784-500-20, batch 100, AEVB estimator B) for each way of
running it, and the next step for comparison.

    TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) python benchmarks/compile_cost.py   # a cold Inductor cache
    TORCHINDUCTOR_CACHE_DIR=<the same folder> python benchmarks/compile_cost.py   # then warm

Each mode is measured in a fresh process of its own (Inductor's one-time set-up counts), as a run
pays it; the run's own report of its compilation is printed as it comes.
"""

import subprocess
import sys
import time

import pyro
import torch
from throughput import M, N, our_algorithm  # benchmarks/throughput.py, beside this script

from aevb import cli

PROGRAM = cli.Program("compile_cost", __doc__, keys=())
MODES = ("off", "trace", "inductor")


def first_steps(mode: str) -> tuple:
    """Seconds of the first step (with its compilation) and of the second one."""
    with pyro.validation_enabled(False):
        _, _, _, step = our_algorithm("B", compile=mode)
        if mode != "off":
            step.log = print
        x = torch.bernoulli(torch.full((M, 784), 0.13))
        times = []
        for _ in range(2):
            start = time.perf_counter()
            step(x, num_data=N)[0].backward()
            times.append(time.perf_counter() - start)
    return tuple(times)


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--one"]:  # the child process: one mode
        print("RESULT", *first_steps(args[1]))
        return
    PROGRAM.parse(argv)
    rows = []
    for mode in MODES:
        out = subprocess.run(
            [sys.executable, __file__, "--one", mode], capture_output=True, text=True, check=True
        ).stdout
        print("\n".join(line for line in out.splitlines() if not line.startswith("RESULT")))
        first, second = (float(v) for v in out.split("RESULT")[1].split())
        rows.append(f"| {mode} | {first:.2f} | {second * 1e3:.1f} |")
    print("\n| --compile | first step, with its compilation (s) | second step (ms) |\n|---|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    sys.exit(cli.run(main))
