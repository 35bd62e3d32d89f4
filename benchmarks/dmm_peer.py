#!/usr/bin/env python
"""Our DMM beside Pyro's ``examples/dmm.py`` model, same split, same budget, same scoring, one run.

    python benchmarks/dmm_peer.py [--epochs 100] [--seed 0]

Both train on this collection's chorales split (``python -m aevb.data chorales``) for --epochs
epochs of minibatches of 20 sequences with Adam at 1e-3: ours as ``examples/dmm_chorales.py`` runs
it (one site per sequence, the packed rows, each minibatch cut to its longest chorale), the peer as Pyro's example
writes it (a site per time step, masks, ``SVI`` with ``Trace_ELBO`` and ``ClippedAdam``, clip norm
10 as in the example; its minibatches trimmed to their longest sequence: benchmarks/pyro_dmm.py).
Then the peer's weights are copied into our model and guide (the same layers) and both are scored
by the same code on the test chorales: the ELBO (10 draws) and IS (K = 100), in nats per
time step (Σ log p / Σ T), with the peer's own number beside them (``svi.evaluate_loss`` / Σ T).
"""

import sys
import time

import pyro
import torch
from pyro_dmm import PyroDMM, mini_batch, to_collection  # benchmarks/pyro_dmm.py, beside this script

from aevb import cli, experiment
from aevb.data.sequences import lengths_of
from aevb.inference import fit
from aevb.inference.estimators.elbo import elbo_per_point
from aevb.inference.estimators.importance import log_likelihood_per_point
from aevb.inference.training.loop import epoch_generator, minibatches
from aevb.inference.training.progress import progress

PROGRAM = cli.Program("dmm_peer", __doc__, keys=("epochs", "seed", "data_dir"), options=(), defaults={"epochs": 100})
#: Importance samples K per test chorale.
EVAL_SAMPLES = 100
CONFIG = {
    "dataset": "chorales",
    "model": "dmm",
    "guide": "structured",
    "latent_dim": 100,
    "batch_size": 20,
    "binarize": "none",
    "compile": "off",
}


def train_peer(rolls, lengths, epochs, seed):
    """Pyro's way: SVI over a site per step; the same minibatch order as ours (the same generator)."""
    pyro.clear_param_store()
    torch.manual_seed(seed)
    peer = PyroDMM()
    svi = pyro.infer.SVI(
        peer.model, peer.guide, pyro.optim.ClippedAdam({"lr": 1e-3, "clip_norm": 10.0}), pyro.infer.Trace_ELBO()
    )
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        batches = minibatches(len(rolls), 20, epoch_generator(seed, epoch, "cpu"), "cpu")
        with progress(len(batches), f"Pyro's DMM, epoch {epoch}/{epochs}", unit="steps") as bar:
            for index in batches:
                svi.step(*mini_batch(rolls[index], lengths[index]))
                bar.update(1)
    return peer, svi, time.perf_counter() - start


def score(model, guide, x, steps, samples, seed):
    elbo = elbo_per_point(model, guide, x, num_samples=10, seed=seed).sum().item() / steps
    ll = log_likelihood_per_point(model, guide, x, num_samples=samples, seed=seed, progress="IS").sum().item() / steps
    return elbo, ll


def main(argv=None):
    settings = PROGRAM.parse(argv)
    epochs, seed, samples = settings["epochs"], settings["seed"], EVAL_SAMPLES
    config = {**CONFIG, "epochs": epochs, "seed": seed}
    run = experiment.build(config, data_dir=settings["data_dir"], log=lambda *a: None)
    width = run.model.sequence.width
    train_x, test_x = run.train.head(), run.test.head()
    test_steps = int(lengths_of(test_x, width).sum())
    train_rolls = train_x.reshape(len(train_x), -1, width + 1)[..., :width]
    train_lengths = lengths_of(train_x, width)

    start = time.perf_counter()
    fit(run.algorithm, run.optimizer, run.train, epochs=epochs, batch_size=20, seed=seed, step=run.step)
    ours_seconds = time.perf_counter() - start
    ours = score(run.model, run.guide, test_x, test_steps, samples, seed)

    with pyro.validation_enabled(False):
        peer, svi, peer_seconds = train_peer(train_rolls, train_lengths, epochs, seed)
    test_rolls = test_x.reshape(len(test_x), -1, width + 1)[..., :width]
    with torch.no_grad():
        own = -svi.evaluate_loss(*mini_batch(test_rolls, lengths_of(test_x, width))) / test_steps
    model, guide = to_collection(peer, run.model.sequence.steps)
    theirs = score(model, guide, test_x, test_steps, samples, seed)

    sequences = epochs * len(train_x)
    print(
        f"\n{len(train_x)} training and {len(test_x)} test chorales ({test_steps} test steps); {epochs} epochs, "
        f"batch 20, lr 1e-3, seed {seed}; nats per time step (higher is better)\n"
    )
    print("| | test ELBO (10 draws) | test IS (K = %d) | its own -loss / steps | training s | sequences/s |" % samples)
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| ours (examples/dmm_chorales.py) | {ours[0]:.3f} | {ours[1]:.3f} | | {ours_seconds:.0f} | "
        f"{sequences / ours_seconds:.1f} |"
    )
    print(
        f"| Pyro's examples/dmm.py model | {theirs[0]:.3f} | {theirs[1]:.3f} | {own:.3f} | {peer_seconds:.0f} | "
        f"{sequences / peer_seconds:.1f} |"
    )


if __name__ == "__main__":
    sys.exit(cli.run(main))
