#!/usr/bin/env python
"""Training throughput of our AEVB step against a plain-PyTorch VAE of the same architecture.

    python benchmarks/throughput.py [--device cpu] [--repeats 7] [--steps 150] [--timing-warmup 20]

Every variant trains the paper's MNIST VAE (784-500-20 tanh, batch 100, Adam 1e-3) on the
same on-device binary batches. Variants are timed in turn within each round (so drift in
the machine's speed hits all of them alike), over several rounds; the table gives the median
examples/second, its ratio to the plain-PyTorch reference, and the fraction of this
machine's float32 matmul peak, measured in the same run.
"""

import statistics
import sys
import time
import warnings

import pyro
import pyro.distributions as dist
import torch

from reference_vae import ReferenceVAE  # benchmarks/reference_vae.py, beside this script

from aevb import cli
from aevb.experiment import resolve_device
from aevb.guides import DiagonalGaussianGuide
from aevb.inference import AEVB, make_optimizer
from aevb.models import BernoulliVAE

PROGRAM = cli.Program("throughput", __doc__, keys=("device", "repeats", "steps", "timing_warmup"))

D, H, Z, M, N = 784, 500, 20, 100, 60000


def flops_per_example():
    """Matmul FLOPs of one training step per example: forward, plus backward weight and input
    gradients (the encoder's first layer needs no input gradient: x is data)."""
    layers = [(D, H), (H, 2 * Z), (Z, H), (H, D)]
    forward = sum(2 * a * b for a, b in layers)
    backward = sum(2 * a * b * (1 if i == 0 else 2) for i, (a, b) in enumerate(layers))
    return forward + backward


def matmul_peak(device, size=2048, repeats=5):
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def reference(fused):
    model = ReferenceVAE(D, H, Z)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, **({"fused": True} if fused else {}))
    return model, optimizer, lambda x: model(x)


class LibraryBernoulliVAE(BernoulliVAE):
    """Our model with Pyro's own Bernoulli log-density, to measure what FastBernoulli buys."""

    def likelihood(self, z):
        return dist.Bernoulli(logits=self.decoder(z), validate_args=False).to_event(1)


def ours(estimator, model_cls=BernoulliVAE, jit=False):
    model, guide = model_cls(D, Z, H), DiagonalGaussianGuide(D, Z, H)
    algorithm = AEVB(model, guide, estimator=estimator, jit=jit)
    optimizer = make_optimizer("adam", algorithm.parameters(), 1e-3)
    return torch.nn.ModuleList([model, guide]), optimizer, lambda x: algorithm.loss(x, num_data=N)


VARIANTS = {
    "plain PyTorch reference (torch.optim.Adam)": lambda: reference(False),
    "plain PyTorch reference, fused Adam": lambda: reference(True),
    "ours: AEVB estimator B (default path)": lambda: ours("B"),
    "ours: AEVB estimator B, Pyro's Bernoulli log_prob": lambda: ours("B", LibraryBernoulliVAE),
    "ours: AEVB estimator B, --jit": lambda: ours("B", jit=True),
    "ours: AEVB estimator A": lambda: ours("A"),
    "ours: AEVB estimator A, --jit": lambda: ours("A", jit=True),
}


def time_variant(build, batches, steps, warmup, device):
    module, optimizer, loss_fn = build()
    module.to(device)
    with pyro.validation_enabled(False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(warmup + steps):
            if i == warmup:
                sync(device)
                start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss_fn(batches[i % len(batches)]).backward()
            optimizer.step()
        sync(device)
    return steps * M / (time.perf_counter() - start)


def main(argv=None):
    settings = PROGRAM.parse(argv)
    repeats, steps, warmup = settings["repeats"], settings["steps"], settings["timing_warmup"]
    device = resolve_device(settings["device"])
    torch.manual_seed(0)
    batches = [torch.bernoulli(torch.full((M, D), 0.13, device=device)) for _ in range(50)]
    results = {name: [] for name in VARIANTS}
    peaks = []
    print(f"torch {torch.__version__}, pyro {pyro.__version__}, device {device}, {torch.get_num_threads()} threads; "
          f"{repeats} rounds of {steps} steps (batch {M}) per variant")
    for round_ in range(repeats):
        peaks.append(matmul_peak(device))
        for name, build in VARIANTS.items():
            pyro.clear_param_store()
            try:
                results[name].append(time_variant(build, batches, steps, warmup, device))
            except Exception as e:  # a variant that cannot run is reported, not hidden
                results[name] = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:80]}"
                VARIANTS[name] = lambda: (_ for _ in ()).throw(RuntimeError("skipped"))
        print(f"round {round_ + 1}/{repeats} done", file=sys.stderr)
    peak = statistics.median(peaks)
    ref = statistics.median(results["plain PyTorch reference (torch.optim.Adam)"])
    flops = flops_per_example()
    print(f"\nfloat32 matmul peak (2048^3, median of {len(peaks)}): {peak / 1e9:.0f} GFLOP/s; "
          f"{flops / 1e6:.2f} MFLOP of matmul per example per step\n")
    print("| variant | examples/s (median) | min-max | ratio to reference | fraction of matmul peak |")
    print("|---|---:|---:|---:|---:|")
    for name, values in results.items():
        if isinstance(values, str):
            print(f"| {name} | {values} | | | |")
            continue
        med = statistics.median(values)
        print(f"| {name} | {med:,.0f} | {min(values):,.0f}-{max(values):,.0f} | {med / ref:.2f} | {med * flops / peak:.0%} |")


if __name__ == "__main__":
    sys.exit(cli.run(main))
