#!/usr/bin/env python
"""How far and for how long a training bound falls, in runs that recover and runs that do not: the
measurement behind the training loop's collapse stop (docs/reliability.md).

    python benchmarks/divergence.py [--train-size 10000] [--epochs 3] [--device cpu]

Trains each configuration below on the first --train-size training points (MNIST, or
Fashion-MNIST for the Gaussian decoder) with the stop turned off, and records every step's
estimate of the bound per datapoint (the value the training loop reports; for MCEM its log
p(x, z)). A step is *collapsed* when its estimate lies more than
``COLLAPSE_FACTOR × max(|reference|, D)`` below the reference (the run's first estimate, before
any update; D the data dimension). Per run: the reference, the lowest estimate, the collapsed
steps, the longest streak of them, the epochs that end on one, the last epoch's bound, and the
step at which the stop (``COLLAPSE_STEPS`` in a row, or an epoch ending collapsed) would end it.
A run *recovers* when its last epoch's bound is back above the collapse floor.
"""

import math
import sys

from aevb import cli
from aevb import experiment as exp
from aevb.inference.training.loop import fit
from aevb.inference.training.stops import COLLAPSE_FACTOR, COLLAPSE_STEPS, StopRules, TrainingDiverged

PROGRAM = cli.Program("divergence", __doc__, keys=("train_size", "epochs", "device", "data_dir"))

PAPER = {"init": "paper", "map_prior": True, "optimizer": "adagrad"}
FASHION = {"dataset": "fashion-mnist", "likelihood": "gaussian", "binarize": "none"}
RUNS = {
    "aevb, adam 1e-3 (the default)": {},
    "aevb, adam 3e-3": {"lr": 3e-3},
    "aevb, paper settings, adagrad 0.01": {**PAPER, "lr": 0.01},
    "aevb, paper settings, adagrad 0.1": {**PAPER, "lr": 0.1},
    "aevb, paper settings, Nz 3, adagrad 0.1 (a Figure 2 trial)": {**PAPER, "lr": 0.1, "latent_dim": 3},
    "aevb, paper settings, Nz 200, adagrad 0.1": {**PAPER, "lr": 0.1, "latent_dim": 200},
    "aevb, adagrad 0.1, default init": {"optimizer": "adagrad", "lr": 0.1},
    "iwae k=5": {"inference": "iwae", "num_particles": 5},
    "wake-sleep, adam 1e-3": {"inference": "wake-sleep"},
    "wake-sleep, paper settings, Nz 3, adagrad 0.1 (a Figure 2 trial)": {
        **PAPER,
        "inference": "wake-sleep",
        "lr": 0.1,
        "latent_dim": 3,
    },
    "wake-sleep, paper settings, Nz 200, adagrad 0.02 (a Figure 2 trial)": {
        **PAPER,
        "inference": "wake-sleep",
        "lr": 0.02,
        "latent_dim": 200,
    },
    "rws k=3": {"inference": "rws", "num_particles": 3},
    "mcem, Nz 3, 100 hidden, adam 3e-3": {
        "inference": "mcem",
        "latent_dim": 3,
        "hidden_dims": [100],
        "lr": 3e-3,
        "ll_estimator": "ais",
    },
    "mcem, Nz 3, 100 hidden, paper settings, adagrad 0.1 (a Figure 3 trial)": {
        **PAPER,
        "inference": "mcem",
        "latent_dim": 3,
        "hidden_dims": [100],
        "lr": 0.1,
        "ll_estimator": "ais",
    },
    "fullcov guide": {"guide": "fullcov"},
    "flow guide (estimator A)": {"guide": "flow"},
    "meanfield guide": {"guide": "meanfield", "lr": 0.01},
    "full VB": {"inference": "full-vb"},
    "Gaussian decoder (Fashion-MNIST), adam 1e-3": FASHION,
    "Gaussian decoder (Fashion-MNIST), paper settings, adagrad 0.1": {**PAPER, **FASHION, "lr": 0.1},
    "aevb, adam 1e4 (the issue's case)": {"lr": 1e4},
    "aevb, adagrad 1e6 (the issue's case)": {"optimizer": "adagrad", "lr": 1e6},
    "aevb, adam 1.0": {"lr": 1.0},
    "aevb, adagrad 10": {"optimizer": "adagrad", "lr": 10.0},
    "wake-sleep, adam 1.0": {"inference": "wake-sleep", "lr": 1.0},
    "Gaussian decoder (Fashion-MNIST), adam 1.0": {**FASHION, "lr": 1.0},
}


def measure(config, settings):
    run = exp.build(
        {**config, "train_size": settings["train_size"], "test_size": 100, "epochs": settings["epochs"]},
        data_dir=settings["data_dir"],
        device=settings["device"],
        log=lambda *a: None,
        progress=False,
    )
    bounds, epoch_ends, step = [], [], run.step
    num_data = len(run.train)

    def recorded(x, **kwargs):
        surrogate, bound = step(x, **kwargs)
        bounds.append(bound.item() / num_data)
        return surrogate, bound

    nonfinite = None
    try:
        fit(
            run.algorithm,
            run.optimizer,
            run.train,
            epochs=settings["epochs"],
            batch_size=100,
            seed=0,
            progress=False,
            prior_params=run.model.parameters() if run.config["map_prior"] else None,
            step=recorded,
            stops=StopRules(collapse_factor=None),
            on_epoch_end=lambda state: epoch_ends.append(len(bounds)),
        )
    except TrainingDiverged:
        nonfinite = len(bounds)
    reference = bounds[0]
    floor = reference - COLLAPSE_FACTOR * max(abs(reference), run.train.x.shape[1])
    collapsed = [not b >= floor for b in bounds]  # a NaN counts as collapsed
    streak = longest = 0
    stop = None
    for i, c in enumerate(collapsed, 1):
        streak = streak + 1 if c else 0
        longest = max(longest, streak)
        if stop is None and streak and (streak >= COLLAPSE_STEPS or i in epoch_ends):
            stop = i
    starts = [0, *epoch_ends]
    last = bounds[starts[-2] : starts[-1]] if len(epoch_ends) else bounds
    last_epoch = sum(last) / len(last)
    return {
        "reference": reference,
        "lowest": min((b for b in bounds if math.isfinite(b)), default=math.nan),
        "floor": floor,
        "collapsed": sum(collapsed),
        "steps": len(bounds),
        "longest": longest,
        "ends": sum(1 for e in epoch_ends if collapsed[e - 1]),
        "epochs": len(epoch_ends),
        "last_epoch": last_epoch,
        "recovers": last_epoch >= floor,
        "stop": stop,
        "nonfinite": nonfinite,
    }


def main(argv=None):
    settings = PROGRAM.parse(argv)
    print(
        f"first {settings['train_size']} training points, {settings['epochs']} epochs, batch 100; bound per "
        "datapoint (nats); "
        f"collapsed: more than {COLLAPSE_FACTOR:g} x max(|reference|, D) below the reference; the stop: "
        f"{COLLAPSE_STEPS} collapsed "
        "steps in a row, or an epoch ending on one\n"
    )
    print(
        "| run | reference (first step) | lowest step | collapsed steps | longest streak | epochs ending collapsed "
        "| last epoch's bound | recovers | the stop ends it at step |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for name, config in RUNS.items():
        m = measure(config, settings)
        nonfinite = f" (non-finite loss at step {m['nonfinite']})" if m["nonfinite"] else ""
        print(
            f"| {name} | {m['reference']:.1f} | {m['lowest']:.3g} | {m['collapsed']} of {m['steps']} | "
            f"{m['longest']} | "
            f"{m['ends']} of {m['epochs']} | {m['last_epoch']:.4g} | {'yes' if m['recovers'] else 'no'} | "
            f"{m['stop'] or ''}{nonfinite} |",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(cli.run(main))
