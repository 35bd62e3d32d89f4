#!/usr/bin/env python
"""Training throughput of our AEVB step against a plain-PyTorch VAE of the same architecture.

    python benchmarks/throughput.py [--device cpu] [--repeats 7] [--steps 150] [--timing-warmup 20] [--epoch-points
    60000]

Two tables, measured in one run.

Steps: every variant trains the paper's MNIST VAE (784-500-20 tanh, batch 100, Adam 1e-3) on
the same on-device binary batches. Variants are built once (a compiled one compiles once, as
in a run; its first step's time is reported apart) and timed in turn within each round (so
drift in the machine's speed hits all of them alike), over several rounds; the table gives the
median examples/second, its ratio to the plain-PyTorch reference, and the fraction of this
machine's float32 matmul peak, measured in the same run.

Epochs: the same model trained for whole epochs on the first --epoch-points MNIST training
points as the programs train (:func:`aevb.inference.training.loop.fit`: the epoch's random order,
dynamic binarisation, indexing, the step, the loss and finiteness checks, progress), against
a plain-PyTorch epoch loop doing the same data handling (same order and binary draws from the
same generator, the loss read back every step); no evaluation or checkpoint in either.
"""

import contextlib
import io
import statistics
import sys
import time
import warnings

import pyro
import pyro.distributions as dist
import torch
from reference_vae import ReferenceVAE  # benchmarks/reference_vae.py, beside this script

from aevb import cli, data
from aevb import config as cfg
from aevb.experiment import resolve_device
from aevb.guides import DiagonalGaussianGuide
from aevb.inference import AEVB, TrainState, fit, make_optimizer
from aevb.inference.training.compile import INDUCTOR_STEPS, compile_step
from aevb.inference.training.loop import epoch_generator, minibatches
from aevb.inference.training.precision import mixed_precision
from aevb.models import BernoulliVAE

#: This program's own options (the shared ones are in aevb.config).
OPTIONS = (
    cfg.positive("repeats", 7, "timing rounds (the median is reported)"),
    cfg.positive("steps", 150, "timed training steps per round and variant"),
    cfg.Option("timing_warmup", 20, "untimed steps before each timing", type=int, low=0),
    cfg.Option(
        "epoch_points",
        60_000,
        "MNIST training points per timed epoch in the whole-epoch comparison (0: skip it)",
        type=int,
        low=0,
    ),
)
PROGRAM = cli.Program("throughput", __doc__, keys=("device", "data_dir"), options=OPTIONS)

D, H, Z, M, N = 784, 500, 20, 100, 60000
#: run lengths for the default (--compile auto) rows: 10 epochs of MNIST (mnist_aevb.py's default) and 5
LONG, SHORT = 10 * N // M, 5 * N // M
assert SHORT < INDUCTOR_STEPS <= LONG, "the two default rows are meant to take auto's two paths"


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
    """Our model with Pyro's own Bernoulli log-density (per pixel, then summed), to measure what BernoulliImage buys."""

    def likelihood(self, z):
        return dist.Bernoulli(logits=self.decoder(z), validate_args=False).to_event(1)


def our_algorithm(estimator, model_cls=BernoulliVAE, compile="off", precision="32", steps=None):
    """Our algorithm and its step, composed as a run of ``steps`` steps composes them (aevb.experiment.build)."""
    model, guide = model_cls(D, Z, H), DiagonalGaussianGuide(D, Z, H)
    algorithm = AEVB(model, guide, estimator=estimator)
    step = mixed_precision(algorithm.step, [model, guide], precision)
    step = compile_step(algorithm, compile, modules=[model, guide], step=step, steps=steps)
    return torch.nn.ModuleList([model, guide]), make_optimizer("adam", algorithm.parameters(), 1e-3), algorithm, step


def ours(estimator, model_cls=BernoulliVAE, compile="off", precision="32", steps=None):
    module, optimizer, _, step = our_algorithm(estimator, model_cls, compile, precision, steps)
    return module, optimizer, lambda x: step(x, num_data=N)[0]


def compiled_reference():
    model, optimizer, _ = reference(False)
    return model, optimizer, torch.compile(lambda x: model(x), dynamic=False)


def bf16_reference():
    """The reference under a step-wide bf16 autocast, as PyTorch users write it."""
    model, optimizer, _ = reference(False)

    def loss(x):
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            return model(x)

    return model, optimizer, loss


VARIANTS = {
    "plain PyTorch reference (torch.optim.Adam)": lambda: reference(False),
    "plain PyTorch reference, fused Adam": lambda: reference(True),
    "plain PyTorch reference, torch.compile (inductor)": compiled_reference,
    f"ours: AEVB estimator B, the default (--compile auto), a run of {LONG:,} steps": lambda: ours(
        "B", compile="auto", steps=LONG
    ),
    f"ours: AEVB estimator B, the default (--compile auto), a run of {SHORT:,} steps": lambda: ours(
        "B", compile="auto", steps=SHORT
    ),
    "ours: AEVB estimator B, --compile off (eager Pyro)": lambda: ours("B"),
    "ours: AEVB estimator B, --compile trace": lambda: ours("B", compile="trace"),
    "ours: AEVB estimator B, --compile inductor": lambda: ours("B", compile="inductor"),
    "ours: AEVB estimator B, Pyro's Bernoulli log_prob": lambda: ours("B", LibraryBernoulliVAE),
    "ours: AEVB estimator A, --compile off": lambda: ours("A"),
    "ours: AEVB estimator A, --compile trace": lambda: ours("A", compile="trace"),
    "plain PyTorch reference, bf16 autocast": bf16_reference,
    "ours: AEVB estimator B, --precision bf16-mixed": lambda: ours("B", precision="bf16-mixed"),
    "ours: AEVB estimator B, --precision bf16-mixed --compile trace": lambda: ours(
        "B", compile="trace", precision="bf16-mixed"
    ),
    "ours: AEVB estimator B, --precision bf16-mixed --compile inductor": lambda: ours(
        "B", compile="inductor", precision="bf16-mixed"
    ),
}


def time_variant(variant, batches, steps, warmup, device):
    module, optimizer, loss_fn = variant
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(batches[i % len(batches)]).backward()
        optimizer.step()
    sync(device)
    return steps * M / (time.perf_counter() - start)


class PlainEpochs:
    """A plain-PyTorch epoch loop with the training loop's data handling."""

    def __init__(self, train):
        self.train, (self.model, self.optimizer, _) = train, reference(False)
        self.model.to(train.x.device)
        self.epoch = 0

    def __call__(self):
        self.epoch += 1
        generator = epoch_generator(0, self.epoch, self.train.x.device)
        total = 0.0
        for index in minibatches(len(self.train), M, generator, self.train.x.device):
            x = torch.bernoulli(self.train.x[index], generator=generator)
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.model(x)
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        return total


class OurEpochs:
    """Our AEVB (estimator B) trained one epoch at a time by the programs' training loop."""

    def __init__(self, train, mode, steps=None):
        module, self.optimizer, self.algorithm, self.step = our_algorithm("B", compile=mode, steps=steps)
        module.to(train.x.device)
        self.train, self.state = train, TrainState()

    def __call__(self):
        with contextlib.redirect_stderr(io.StringIO()):  # the progress report runs, unseen
            self.state = fit(
                self.algorithm,
                self.optimizer,
                self.train,
                epochs=self.state.epoch + 1,
                batch_size=M,
                seed=0,
                step=self.step,
                state=self.state,
            )


EPOCH_VARIANTS = {
    "plain PyTorch epoch loop (torch.optim.Adam)": lambda train: PlainEpochs(train),
    f"ours: fit(), the default (--compile auto), a run of {LONG:,} steps": lambda train: OurEpochs(train, "auto", LONG),
    f"ours: fit(), the default (--compile auto), a run of {SHORT:,} steps": lambda train: OurEpochs(
        train, "auto", SHORT
    ),
    "ours: fit(), --compile off": lambda train: OurEpochs(train, "off"),
    "ours: fit(), --compile trace": lambda train: OurEpochs(train, "trace"),
    "ours: fit(), --compile inductor": lambda train: OurEpochs(train, "inductor"),
}


def time_epoch(run, examples, device):
    sync(device)
    start = time.perf_counter()
    run()
    sync(device)
    return examples / (time.perf_counter() - start)


def main(argv=None):
    settings = PROGRAM.parse(argv)
    repeats, steps, warmup = settings["repeats"], settings["steps"], settings["timing_warmup"]
    device = resolve_device(settings["device"])
    torch.manual_seed(0)
    batches = [torch.bernoulli(torch.full((M, D), 0.13, device=device)) for _ in range(50)]
    results = {name: [] for name in VARIANTS}
    built, first = {}, {}
    peaks = []
    print(
        f"torch {torch.__version__}, pyro {pyro.__version__}, device {device}, {torch.get_num_threads()} threads; "
        f"{repeats} rounds of {steps} steps (batch {M}) per variant"
    )
    with pyro.validation_enabled(False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, build in VARIANTS.items():  # built once: a compiled variant compiles once, as in a run
            pyro.clear_param_store()
            try:
                module, optimizer, loss_fn = build()
                built[name] = (module.to(device), optimizer, loss_fn)
                first[name] = M / time_variant(built[name], batches[:1], 1, 0, device)  # tracing, compiling: paid once
            except Exception as e:  # a variant that cannot run is reported, not hidden
                results[name] = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:80]}"
        for round_ in range(repeats):
            peaks.append(matmul_peak(device))
            for name, variant in built.items():
                results[name].append(time_variant(variant, batches, steps, warmup, device))
            print(f"round {round_ + 1}/{repeats} done", file=sys.stderr)
    peak = statistics.median(peaks)
    ref = statistics.median(results["plain PyTorch reference (torch.optim.Adam)"])
    flops = flops_per_example()
    print(
        f"\nfloat32 matmul peak (2048^3, median of {len(peaks)}): {peak / 1e9:.0f} GFLOP/s; "
        f"{flops / 1e6:.2f} MFLOP of matmul per example per step\n"
    )
    print("| variant | examples/s (median) | min-max | ratio to reference | fraction of matmul peak | first step (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in results.items():
        if isinstance(values, str):
            print(f"| {name} | {values} | | | | |")
            continue
        med = statistics.median(values)
        print(
            f"| {name} | {med:,.0f} | {min(values):,.0f}-{max(values):,.0f} | {med / ref:.2f} | "
            f"{med * flops / peak:.0%} | {first[name]:.2f} |"
        )
    if settings["epoch_points"]:
        epochs(settings, device, repeats, ref)


def epochs(settings, device, repeats, step_reference):
    """The whole-epoch table (see the module docstring)."""
    train, _ = data.load_dataset(
        "mnist",
        settings["data_dir"],
        binarize_mode="dynamic",
        device=device,
        train_size=settings["epoch_points"],
        test_size=1,
        log=lambda message: print(message, file=sys.stderr),
    )
    runs, first, results = {}, {}, {name: [] for name in EPOCH_VARIANTS}
    with pyro.validation_enabled(False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, build in EPOCH_VARIANTS.items():
            pyro.clear_param_store()
            runs[name] = build(train)
            first[name] = len(train) / time_epoch(runs[name], len(train), device)  # compiles, warms up: not counted
        for round_ in range(repeats):
            for name, run in runs.items():
                results[name].append(time_epoch(run, len(train), device))
            print(f"epoch round {round_ + 1}/{repeats} done", file=sys.stderr)
    ref = statistics.median(results["plain PyTorch epoch loop (torch.optim.Adam)"])
    print(
        f"\nWhole epochs of {len(train):,} MNIST points (batch {M}, dynamic binarisation), {repeats} timed epochs "
        "per variant:\n"
    )
    print(
        "| variant | examples/s (median) | min-max | ratio to the plain epoch loop | ratio to the plain step "
        "reference above | "
        "first epoch (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in results.items():
        med = statistics.median(values)
        print(
            f"| {name} | {med:,.0f} | {min(values):,.0f}-{max(values):,.0f} | {med / ref:.2f} | "
            f"{med / step_reference:.2f} | {first[name]:.1f} |"
        )


if __name__ == "__main__":
    sys.exit(cli.run(main))
