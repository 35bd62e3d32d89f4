#!/usr/bin/env python
"""Structured output prediction with a conditional VAE (Sohn, Lee & Yan 2015; the paper's §6 (iv)):
given the bottom-left quadrant of an MNIST digit, model the other three; beside a deterministic
baseline network, both scored by the test log-likelihood of the missing quadrants.

    python examples/conditional_vae.py                                   # 3 seeds: 5 + 8 epochs each
    python examples/conditional_vae.py --seeds 0 --epochs 1 --baseline-epochs 1 --out runs/cvae_try

Both models (``aevb.models.conditional``) read a whole image as a row and observe its 588 missing
pixels at ``"x"``, so log p(x) is log p(x_missing | x_given) for every estimator of the collection:

* the **baseline**: x_missing | x_given ~ Bernoulli(MLP(x_given)), ReLU layers of 500 and 500,
  fitted by AEVB with a guide that samples nothing (its ELBO is its exact log-likelihood); its
  test number is exact;
* the **CVAE**: z | x_given from a learned prior network, x_missing | z, x_given from a generation
  network (ReLU 500-500, z of 200, as Pyro's ``examples/cvae``), a diagonal Gaussian recognition
  network q(z | x) over the whole image (estimator B: the KL between q and the prior network in
  closed form); its test number is importance-sampled over z (K = --eval-samples) and, beside
  it, its ELBO (the "Monte Carlo" number Pyro's example reports, a bound).

Dynamically binarised MNIST (60,000 training images; the test images binarised once), Adam 1e-3,
minibatches of 128 (Pyro's settings), --epochs each (Pyro's trains up to 101 with early stopping;
this machine's budget is said beside every number). Every --seed trains both models. Writes into
--out: runs/seed{S}/{baseline,cvae}/checkpoint.pt (after every epoch) and metrics.json,
results.json, table.md (mean ± standard deviation over seeds) and completions.png (inputs, truth,
the baseline's completion, CVAE samples).
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import argparse
import math
import statistics
import sys
from pathlib import Path

import pyro
import torch

from aevb import cli
from aevb.data import default_data_dir, load_mnist
from aevb.experiment import fit_in
from aevb.files import read_json, write_json, write_text
from aevb.folder import RunFolder
from aevb.guides import make_guide
from aevb.guides.exact import NoLatentsGuide
from aevb.inference.estimators import LL_ESTIMATORS, elbo_per_point, summary
from aevb.models.conditional import ConditionalVAE, QuadrantBaseline

OUTPUTS = ("runs", "results.json", "table.md", "completions.png")


#: Pyro's example's settings; --epochs is this machine's budget (theirs: up to 101, early stopping).
DEFAULTS = {
    "epochs": 8,
    "batch_size": 128,
    "lr": 1e-3,
    "latent_dim": 200,
    "hidden_dims": [500, 500],
    "eval_samples": 1000,
    "eval_points": 1000,
}
PROGRAM = cli.Program(
    "conditional_vae",
    __doc__,
    keys=(
        "baseline_epochs",
        "seeds",
        "epochs",
        "batch_size",
        "lr",
        "latent_dim",
        "hidden_dims",
        "train_size",
        "eval_samples",
        "eval_points",
        "data_dir",
        "out",
        "resume",
        "overwrite",
    ),
    defaults=DEFAULTS,
)


def trained(name, model, guide, train, epochs, args, seed, folder: Path, log):
    """``model`` and ``guide`` fitted by AEVB for ``epochs`` epochs in ``folder`` (resumed from its checkpoint)."""

    def report(state):
        r = state.history[-1]
        log(f"seed {seed} {name} epoch {r['epoch']}: train ELBO {r['train_elbo']:.2f} ({r['seconds']:.0f} s)")

    config = {"model": name, "seed": seed, "epochs": epochs}
    return fit_in(
        folder,
        model,
        guide,
        train,
        config=config,
        epochs=epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=seed,
        on_epoch_end=report,
    )


def one_seed(args, train, test, seed: int, folder: Path, log) -> tuple:
    """Both models trained and scored under ``seed``: (metrics, baseline, cvae)."""
    pyro.set_rng_seed(seed)
    baseline = QuadrantBaseline(tuple(args.hidden_dims))
    cvae = ConditionalVAE(args.latent_dim, tuple(args.hidden_dims))
    guide = make_guide("diag", cvae)
    b_state = trained(
        "baseline", baseline, NoLatentsGuide(), train, args.baseline_epochs, args, seed, folder / "baseline", log
    )
    c_state = trained("cvae", cvae, guide, train, args.epochs, args, seed, folder / "cvae", log)
    if (folder / "metrics.json").is_file():
        done = read_json(folder / "metrics.json")
        if (done["epochs"], done["baseline_epochs"]) == (args.epochs, args.baseline_epochs):
            return done, baseline, cvae
    x = test.x[: args.eval_points]
    exact = summary(LL_ESTIMATORS["is"].estimate(baseline, NoLatentsGuide(), x, num_samples=1, with_error=True))
    scored = summary(LL_ESTIMATORS["is"].estimate(cvae, guide, x, num_samples=args.eval_samples, with_error=True))
    elbo = elbo_per_point(cvae, guide, x, num_samples=10).mean().item()
    metrics = {
        "seed": seed,
        "epochs": args.epochs,
        "baseline_epochs": args.baseline_epochs,
        "points": len(x),
        "baseline_nll": -exact["value"],
        "cvae_nll_is": -scored["value"],
        "cvae_is_unreliable": scored["unreliable"],
        "cvae_nll_elbo": -elbo,
        "eval_samples": args.eval_samples,
        "baseline_seconds": sum(r["seconds"] for r in b_state.history),
        "cvae_seconds": sum(r["seconds"] for r in c_state.history),
        "baseline_examples_per_second": statistics.median(r["examples_per_second"] for r in b_state.history),
        "cvae_examples_per_second": statistics.median(r["examples_per_second"] for r in c_state.history),
    }
    write_json(folder / "metrics.json", metrics)
    log(
        f"seed {seed}: baseline NLL {metrics['baseline_nll']:.2f}, CVAE NLL {metrics['cvae_nll_is']:.2f} (IS), "
        f"{metrics['cvae_nll_elbo']:.2f} (-ELBO) nats on the missing quadrants"
    )
    return metrics, baseline, cvae


def table(results: list) -> str:
    def ms(key):
        v = [r[key] for r in results]
        return f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"

    r0 = results[0]
    return (
        f"| model | test NLL of the missing quadrants (nats) | how | epochs | training |\n|---|---:|---|---:|---:|\n"
        f"| deterministic baseline (NN) | {ms('baseline_nll')} | exact | {r0['baseline_epochs']} | "
        f"{statistics.mean(r['baseline_seconds'] for r in results) / 60:.1f} min |\n"
        f"| CVAE | {ms('cvae_nll_is')} | IS, K = {r0['eval_samples']} | {r0['epochs']} | "
        f"{statistics.mean(r['cvae_seconds'] for r in results) / 60:.1f} min |\n"
        f"| CVAE | {ms('cvae_nll_elbo')} | −ELBO (a bound; Pyro's example's number) | {r0['epochs']} | |\n"
        f"\n{len(results)} seeds ({', '.join(str(r['seed']) for r in results)}), the first {r0['points']} test images; "
        "mean ± standard deviation over seeds.\n"
    )


def figure(path: Path, baseline, cvae, x: torch.Tensor, samples: int = 3) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    given = x.clone()
    given[..., ~baseline.given] = 0.5
    side = math.isqrt(x.shape[-1])
    rows = [given, x, baseline.completions(x), *cvae.sample_completions(x, samples)]
    labels = ["input", "truth", "baseline", *[f"CVAE {i + 1}" for i in range(samples)]]
    fig, axes = plt.subplots(len(rows), len(x), figsize=(len(x) * 0.9, len(rows) * 0.95))
    for i, (row, label) in enumerate(zip(rows, labels)):
        for j in range(len(x)):
            axes[i, j].imshow(row[j].reshape(side, side).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            axes[i, j].set_xticks([]), axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    fig.suptitle("Completing MNIST digits from their bottom-left quadrant")
    fig.savefig(path, bbox_inches="tight", dpi=100)
    plt.close(fig)


def main(argv=None):
    args = argparse.Namespace(**PROGRAM.parse(argv))
    out = Path(args.out)
    holds = lambda p: "a conditional VAE comparison" if (p / "runs").is_dir() else None  # noqa: E731
    with RunFolder(out, holds=holds, outputs=OUTPUTS, resume=args.resume, overwrite=args.overwrite):
        train, test = load_mnist(args.data_dir or default_data_dir(), train_size=args.train_size, log=print)
        results = []
        for seed in args.seeds:
            metrics, baseline, cvae = one_seed(args, train, test, seed, out / "runs" / f"seed{seed}", print)
            results.append(metrics)
        with torch.no_grad(), pyro.validation_enabled(False):
            torch.manual_seed(0)
            figure(out / "completions.png", baseline, cvae, test.x[:10])
        write_json(out / "results.json", {"settings": vars(args), "runs": results})
        text = table(results)
        write_text(out / "table.md", text)
        print(text)


if __name__ == "__main__":
    sys.exit(cli.run(main))
