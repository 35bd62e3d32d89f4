#!/usr/bin/env python
"""Where the time of a training step goes: the measurements behind docs/benchmark.md's reading.

    python benchmarks/overheads.py

1. Fixed cost per step: the same step with tiny layers (4-3-2 units), where compute is
   negligible, for plain PyTorch, our eager Pyro path and our traced and compiled paths
   (--compile trace, --compile inductor).
2. The Bernoulli log-density of 200 x 100 images (15.7M logits), summed per image, without a
   gradient (as in evaluation): pyro's Bernoulli (binary_cross_entropy_with_logits per pixel, then
   summed) against BernoulliImage's per-image sum in one pass, for x of the logits' shape and for
   x broadcast over the 200 samples.
3. bf16 on this CPU: one 100x784x500 product, and a training step of the fused-Adam
   reference with and without a step-wide autocast, and of our eager path with --precision
   32 and bf16-mixed.
4. A full-size step (784-500-20, batch 100, float32) taken apart: its time without the
   profiler, the part spent inside ATen operators (torch.profiler's self CPU time, summed over
   ``aten::`` events), the rest (Python, Pyro's handlers, dispatch, autograd bookkeeping), the
   operators per step and the largest ones, for the plain reference and our paths; then the
   matrix products' time (``mm`` and ``addmm``) and the minor page faults per step
   (``getrusage``), profiled in turn over rounds (medians and ranges).
Each number is the median of 5 repeats (section 4: one profile of 50 steps per variant and window).
"""

import resource
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
from aevb.models.likelihoods import BernoulliImage

PROGRAM = cli.Program("overheads", __doc__, keys=())
#: rounds of the interleaved matrix-product profile (section 4)
MATMUL_ROUNDS = 9


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


def step_profile(step, steps=50, warmup=10) -> dict:
    """Per step of ``step``: milliseconds inside ATen operators and inside the matrix products,
    operator calls, minor page faults, and the largest operators by self CPU time (torch.profiler
    over ``steps`` steps, after ``warmup`` steps)."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(warmup):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    products = sorted(
        f"{e.key.removeprefix('aten::')} {'x'.join(str(list(s)) for s in e.input_shapes if len(s) == 2)}"
        for e in prof.key_averages(group_by_input_shape=True)
        if e.key in ("aten::mm", "aten::addmm")
    )
    ops = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    largest = sorted(ops, key=lambda e: -e.self_cpu_time_total)[:4]
    return {
        "products": products,
        "faults": faults / steps,
        "matmul_ms": sum(e.self_cpu_time_total for e in ops if e.key in ("aten::mm", "aten::addmm")) / steps / 1e3,
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

    print("\n2. Bernoulli log-density of 200 x 100 images (15.7M logits), summed per image\n")
    logits = torch.randn(200, 100, 784)
    for label, x in (
        ("x of the same shape", torch.bernoulli(torch.full((200, 100, 784), 0.13))),
        ("x broadcast over 200 samples", torch.bernoulli(torch.full((100, 784), 0.13))),
    ):
        library = timed(lambda: dist.Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(-1), 3, warmup=1)
        fast = timed(lambda: BernoulliImage(logits=logits).log_prob(x), 3, warmup=1)
        print(f"| {label}: pyro Bernoulli, summed | {library * 1e3:.0f} ms |")
        print(f"| {label}: BernoulliImage | {fast * 1e3:.0f} ms |")

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
        # the same products, profiled in turn over rounds (so drifts in the machine's speed hit every variant)
        rounds = {name: [] for name in variants}
        for _ in range(MATMUL_ROUNDS):
            for name, fn in variants.items():
                rounds[name].append(step_profile(fn, steps=30, warmup=5))
    print(
        f"\nthe matrix products (mm, addmm) per step, profiled in turn in {MATMUL_ROUNDS} rounds of 30 steps, and the "
        "minor page faults\n\n| variant | matmul ms, median | min-max | page faults per step, median | min-max |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, profiles in rounds.items():
        ms, faults = [p["matmul_ms"] for p in profiles], [p["faults"] for p in profiles]
        print(
            f"| {name} | {statistics.median(ms):.2f} | {min(ms):.2f}-{max(ms):.2f} | {statistics.median(faults):.0f} | "
            f"{min(faults):.0f}-{max(faults):.0f} |"
        )
    print("\nthe products' operand shapes per step (one profile of each):\n")
    for name, profiles in rounds.items():
        print(f"- {name}: {', '.join(profiles[0]['products'])}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
