#!/usr/bin/env python
"""Test ELBO per epoch of our default AEVB path and of the plain-PyTorch reference, same run.

    python benchmarks/quality.py --epochs 5 [--seed 0]

Both train the paper's MNIST VAE (784-500-20 tanh, batch 100, Adam 1e-3, dynamic
binarisation) on the same minibatch order and binary draws, and both are scored by the same
evaluation module (inference/evaluate.py, 10 draws per test point, fixed seed).
"""

import argparse
import sys
import time
from pathlib import Path

import pyro
import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference import evaluate_elbo, experiment, fit  # noqa: E402
from inference.train import epoch_generator, minibatches  # noqa: E402
from reference_vae import ReferenceVAE, to_pyro  # noqa: E402


def train_reference(train, test, epochs, seed):
    torch.manual_seed(seed)
    ref = ReferenceVAE().to(train.x.device)
    optimizer = torch.optim.Adam(ref.parameters(), lr=1e-3)
    curve = []
    for epoch in range(1, epochs + 1):
        generator = epoch_generator(seed, epoch, train.x.device)
        start = time.perf_counter()
        for index in tqdm(minibatches(len(train), 100, generator, train.x.device), desc=f"reference epoch {epoch}", leave=False):
            x = torch.bernoulli(train.x[index], generator=generator)
            optimizer.zero_grad(set_to_none=True)
            ref(x).backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        model, guide = to_pyro(ref)
        curve.append((evaluate_elbo(model, guide, test.x), seconds))
    return curve


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    run = experiment.build({"epochs": args.epochs, "seed": args.seed}, device=args.device, log=lambda *a: None)
    with pyro.validation_enabled(False):
        reference = train_reference(run.train, run.test, args.epochs, args.seed)
    pyro.clear_param_store()
    run = experiment.build({"epochs": args.epochs, "seed": args.seed}, device=args.device, log=lambda *a: None)
    ours = fit(
        run.algorithm, run.optimizer, run.train, epochs=args.epochs, batch_size=100, seed=args.seed, evaluate=run.evaluate
    ).history
    print(f"\nseed {args.seed}; test ELBO in nats per datapoint (higher is better), 10 draws per test point\n")
    print("| epoch | ours (AEVB, estimator B) | plain PyTorch reference | ours s/epoch | reference s/epoch |")
    print("|---:|---:|---:|---:|---:|")
    for record, (ref_elbo, ref_seconds) in zip(ours, reference):
        print(f"| {record['epoch']} | {record['test_elbo']:.2f} | {ref_elbo:.2f} | {record['seconds']:.1f} | {ref_seconds:.1f} |")


if __name__ == "__main__":
    main()
