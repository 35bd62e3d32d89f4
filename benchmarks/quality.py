#!/usr/bin/env python
"""Test ELBO per epoch of our default AEVB path and of the plain-PyTorch reference, same run.

    python benchmarks/quality.py [--epochs 10] [--seed 0] [--device cpu]

Both train the paper's MNIST VAE (784-500-20 tanh, batch 100, Adam 1e-3, dynamic
binarisation) on the same minibatch order and binary draws, and both are scored by the same
evaluation module (inference/estimators/importance.py, 10 draws per test point, fixed seed).
"""

import sys
import time

import pyro
import torch
from reference_vae import ReferenceVAE, to_pyro  # benchmarks/reference_vae.py, beside this script

from aevb import cli, experiment
from aevb.inference import evaluate_elbo, fit
from aevb.inference.training.loop import epoch_generator, minibatches
from aevb.inference.training.progress import progress

PROGRAM = cli.Program("quality", __doc__, keys=("epochs", "seed", "device"))


def train_reference(train, test, epochs, seed):
    torch.manual_seed(seed)
    ref = ReferenceVAE().to(train.x.device)
    optimizer = torch.optim.Adam(ref.parameters(), lr=1e-3)
    curve = []
    for epoch in range(1, epochs + 1):
        generator = epoch_generator(seed, epoch, train.x.device)
        start = time.perf_counter()
        batches = minibatches(len(train), 100, generator, train.x.device)
        with progress(len(batches), f"reference epoch {epoch}", unit="steps") as bar:
            for index in batches:
                x = torch.bernoulli(train.x[index], generator=generator)
                optimizer.zero_grad(set_to_none=True)
                ref(x).backward()
                optimizer.step()
                bar.update(1)
        seconds = time.perf_counter() - start
        model, guide = to_pyro(ref)
        curve.append((evaluate_elbo(model, guide, test.x), seconds))
    return curve


def main(argv=None):
    settings = PROGRAM.parse(argv)
    epochs, seed, device = settings["epochs"], settings["seed"], settings["device"]
    run = experiment.build({"epochs": epochs, "seed": seed}, device=device, log=lambda *a: None)
    with pyro.validation_enabled(False):
        reference = train_reference(run.train, run.test, epochs, seed)
    pyro.clear_param_store()
    run = experiment.build({"epochs": epochs, "seed": seed}, device=device, log=lambda *a: None)
    ours = fit(
        run.algorithm,
        run.optimizer,
        run.train,
        epochs=epochs,
        batch_size=100,
        seed=seed,
        step=run.step,
        evaluate=run.evaluate,
    ).history
    print(f"\nseed {seed}; test ELBO in nats per datapoint (higher is better), 10 draws per test point\n")
    print("| epoch | ours (AEVB, estimator B) | plain PyTorch reference | ours s/epoch | reference s/epoch |")
    print("|---:|---:|---:|---:|---:|")
    for record, (ref_elbo, ref_seconds) in zip(ours, reference):
        print(
            f"| {record['epoch']} | {record['test_elbo']:.2f} | {ref_elbo:.2f} | {record['seconds']:.1f} | "
            f"{ref_seconds:.1f} |"
        )


if __name__ == "__main__":
    sys.exit(cli.run(main))
