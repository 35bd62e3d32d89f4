#!/usr/bin/env python
"""Where the time of a training step goes: the measurements behind docs/benchmark.md's reading.

    python benchmarks/overheads.py

1. Fixed cost per step: the same step with tiny layers (4-3-2 units), where compute is
   negligible, for plain PyTorch, our eager Pyro path and our traced and compiled paths
   (--compile trace, --compile inductor).
2. The Bernoulli log-density on 15.7M logits: pyro's Bernoulli (binary_cross_entropy_with_logits)
   against FastBernoulli's x*l - softplus(l), for x of the logits' shape and for x broadcast
   over 200 samples (as in evaluation).
3. bf16 on this CPU: one 100x784x500 product, and a training step of the fused-Adam
   reference with and without a step-wide autocast, and of our eager path with --precision
   32 and bf16-mixed.
4. A full-size step (784-500-20, batch 100, float32) taken apart: its time without the
   profiler, the part spent inside ATen operators (torch.profiler's self CPU time, summed over
   ``aten::`` events), the rest (Python, Pyro's handlers, dispatch, autograd bookkeeping), the
   operators per step and the largest ones, for the plain reference and our paths.
Each number is the median of 5 repeats (section 4: one profile of 50 steps per variant).
"""

import statistics
import sys
import time

import pyro
import pyro.distributions as dist
import torch
from reference_vae import ReferenceVAE  # benchmarks/reference_vae.py, beside this script

from aevb import cli
from aevb.guides import DiagonalGaussianGuide
from aevb.inference import AEVB, make_optimizer
from aevb.inference.training.compile import compile_step
from aevb.inference.training.precision import mixed_precision
from aevb.models import BernoulliVAE
from aevb.models.likelihoods import FastBernoulli

PROGRAM = cli.Program("overheads", __doc__, keys=())


def timed(fn, n, repeats=5, warmup=10):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - start) / n)
    return statistics.median(times)


def step_fn(loss_fn, optimizer, x, amp=False):
    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(x)
        loss.backward()
        optimizer.step()

    return step


def ours(d, h, z, compile="off", precision="32"):
    pyro.clear_param_store()
    model, guide = BernoulliVAE(d, z, h), DiagonalGaussianGuide(d, z, h)
    algorithm = AEVB(model, guide)
    step = compile_step(
        algorithm, compile, modules=[model, guide], step=mixed_precision(algorithm.step, [model, guide], precision)
    )
    return (lambda x: step(x, num_data=60000)[0]), make_optimizer("adam", algorithm.parameters(), 1e-3)


def reference(d, h, z, fused):
    model = ReferenceVAE(d, h, z)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3, **({"fused": True} if fused else {}))


def step_profile(step, steps=50) -> dict:
    """Per step of ``step``: milliseconds inside ATen operators, operator calls, and the largest
    operators by self CPU time (torch.profiler over ``steps`` steps, after a warm-up)."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(10):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    ops = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    largest = sorted(ops, key=lambda e: -e.self_cpu_time_total)[:4]
    return {
        "aten_ms": sum(e.self_cpu_time_total for e in ops) / steps / 1e3,
        "calls": sum(e.count for e in ops) / steps,
        "largest": ", ".join(
            f"{e.key.removeprefix('aten::')} {e.self_cpu_time_total / steps / 1e3:.2f}" for e in largest
        ),
    }


def main(argv=None):
    PROGRAM.parse(argv)
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads\n\n1. fixed cost per step (4-3-2 layers, "
        "batch 100)\n"
    )
    tiny = torch.bernoulli(torch.full((100, 4), 0.3))
    with pyro.validation_enabled(False):
        rows = {
            "plain PyTorch (torch.optim.Adam)": step_fn(*reference(4, 3, 2, False), tiny),
            "ours, eager (--compile off)": step_fn(*ours(4, 3, 2), tiny),
            "ours, --compile trace": step_fn(*ours(4, 3, 2, "trace"), tiny),
            "ours, --compile inductor": step_fn(*ours(4, 3, 2, "inductor"), tiny),
        }
        for name, fn in rows.items():
            print(f"| {name} | {timed(fn, 300) * 1e3:.2f} ms |")

    print("\n2. Bernoulli log-density of 15.7M logits\n")
    logits = torch.randn(200, 100, 784)
    for label, x in (
        ("x of the same shape", torch.bernoulli(torch.full((200, 100, 784), 0.13))),
        ("x broadcast over 200 samples", torch.bernoulli(torch.full((100, 784), 0.13))),
    ):
        library = timed(lambda: dist.Bernoulli(logits=logits, validate_args=False).log_prob(x), 3, warmup=1)
        fast = timed(lambda: FastBernoulli(logits=logits).log_prob(x), 3, warmup=1)
        print(f"| {label}: pyro Bernoulli | {library * 1e3:.0f} ms |\n| {label}: FastBernoulli | {fast * 1e3:.0f} ms |")

    print("\n3. bf16 autocast (avx512_bf16 where the CPU has it)\n")
    a, w = torch.randn(100, 784), torch.randn(500, 784)
    print(f"| 100x784x500 product, float32 | {timed(lambda: a @ w.T, 200) * 1e6:.0f} us |")
    print(f"| 100x784x500 product, bfloat16 | {timed(lambda: a.bfloat16() @ w.bfloat16().T, 200) * 1e6:.0f} us |")
    batch = torch.bernoulli(torch.full((100, 784), 0.13))
    with pyro.validation_enabled(False):
        for amp in (False, True):
            seconds = timed(step_fn(*reference(784, 500, 20, True), batch, amp), 50)
            print(
                f"| reference, fused Adam, {'bf16 autocast' if amp else 'float32'} | {100 / seconds:,.0f} examples/s |"
            )
        for precision in ("32", "bf16-mixed"):
            seconds = timed(step_fn(*ours(784, 500, 20, precision=precision), batch), 50)
            print(f"| ours, eager, --precision {precision} | {100 / seconds:,.0f} examples/s |")

    print("\n4. one full-size step taken apart (784-500-20, batch 100, float32)\n")
    print(
        "| variant | ms per step | in ATen operators (ms) | outside them (ms) | operator calls | largest operators "
        "(ms) |"
    )
    print("|---|---:|---:|---:|---:|---|")
    with pyro.validation_enabled(False):
        variants = {
            "plain PyTorch, fused Adam": step_fn(*reference(784, 500, 20, True), batch),
            "ours, eager (--compile off)": step_fn(*ours(784, 500, 20), batch),
            "ours, --compile trace": step_fn(*ours(784, 500, 20, "trace"), batch),
            "ours, --compile inductor": step_fn(*ours(784, 500, 20, "inductor"), batch),
        }
        for name, fn in variants.items():
            ms = timed(fn, 50) * 1e3
            p = step_profile(fn)
            print(
                f"| {name} | {ms:.2f} | {p['aten_ms']:.2f} | {ms - p['aten_ms']:.2f} | {p['calls']:.0f} | "
                f"{p['largest']} |",
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(cli.run(main))
