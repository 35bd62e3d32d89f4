#!/usr/bin/env python
"""Semi-supervised learning with M2 (Kingma, Rezende, Mohamed & Welling 2014, §3.1.2; the paper's §6
"supervised models with latent variables") on MNIST, by their protocol, beside their Table 1.

    python examples/semi_supervised_m2.py        # six runs: 100 and 3000 labels, seeds 0 1 2, 10 epochs each
    python examples/semi_supervised_m2.py --labels 100 --seeds 0 --epochs 1 --out runs/m2_try

MNIST's first 50,000 training images are the training set (the last 10,000 are the validation
set, as in their protocol), dynamically binarised; --labels N of them (N / 10 per class, drawn
under the run's seed and recorded in its folder) keep their labels, the rest are unlabelled
(:mod:`aevb.data.labelled`: a row is the image and its one-hot label or zeros). M2's networks
are theirs: one hidden layer of 500 softplus units in p(x|y,z), q(z|x,y) and q(y|x), z of 50;
the class y is summed exactly by Pyro's parallel enumeration (TraceEnum_ELBO), and each labelled
image adds α · (−log q(y|x)) with their α = 0.1 N (over the labelled average, i.e. 0.1 · N / N_l
per labelled image). Optimiser: Adam, step 3e-4, β = (0.9, 0.999), minibatches of 200 (Pyro's
example's settings; their paper trains with a momentum variant of RMSProp at the same step).

After every epoch: the classification error of q(y|x) on the validation and test sets; at the
end: the test log-likelihood log p(x) = log Σ_y p(x, y) by importance sampling (K =
--eval-samples draws of z for each of the 10 classes, first --eval-points test images). Their
runs trained to convergence; this machine's budget is --epochs, said beside every number. Writes
into --out: runs/labels{N}_seed{S}/ (checkpoint.pt after every epoch, labelled.json,
metrics.json), results.json and table.md (mean ± standard deviation over seeds beside Table 1).
The same command resumes an interrupted protocol (--resume), and with a larger --epochs continues
its finished runs.
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import argparse
import statistics
import sys
import time
from pathlib import Path

import pyro
import torch

from aevb import cli
from aevb.config import Option
from aevb.data import default_data_dir, load_mnist
from aevb.data.labelled import balanced_labels, labelled_rows
from aevb.experiment import fit_in
from aevb.files import read_json, write_json, write_text
from aevb.folder import RunFolder
from aevb.guides.semi_supervised import M2Guide
from aevb.inference.estimators import LL_ESTIMATORS, summary
from aevb.models.semi_supervised import M2

#: Kingma et al. (2014), Table 1, M2 on MNIST: test error (%) mean ± std over runs, by labels.
KINGMA_M2 = {100: (11.97, 1.71), 600: (4.94, 0.13), 1000: (3.60, 0.56), 3000: (3.92, 0.63)}
TRAIN, CLASSES = 50_000, 10
OUTPUTS = ("runs", "results.json", "table.md", "test_error.png")


#: Their networks and Pyro's example's optimiser; --epochs is this machine's budget (theirs: to convergence).
DEFAULTS = {
    "epochs": 10,
    "batch_size": 200,
    "lr": 3e-4,
    "latent_dim": 50,
    "hidden_dims": [500],
    "eval_samples": 100,
    "eval_points": 1000,
}
OPTIONS = (
    Option("alpha", 0.1, "the classification term's α as a fraction of N (their eq. 9: 0.1)", type=float, low=0),
)
PROGRAM = cli.Program(
    "semi_supervised_m2",
    __doc__,
    keys=(
        "labels",
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
    options=OPTIONS,
    defaults=DEFAULTS,
)


def error_rate(guide: M2Guide, x: torch.Tensor, y: torch.Tensor) -> float:
    """The percentage of rows of pixels ``x`` whose most probable class under q(y|x) is not ``y``."""
    return 100.0 * (guide.classify(x) != y).double().mean().item()


def one_run(args, data, labels: int, seed: int, folder: Path, log) -> dict:
    """Train and score M2 with ``labels`` labels under ``seed`` in ``folder``; its metrics."""
    done = read_json(folder / "metrics.json") if (folder / "metrics.json").is_file() else None
    if done is not None and done["epochs"] >= args.epochs:
        return done  # finished (a larger --epochs continues it from its checkpoint)
    train, valid, test = data
    pyro.set_rng_seed(seed)
    labelled = balanced_labels(train.y, labels, CLASSES, seed)
    rows = labelled_rows(train.x, train.y, labelled, CLASSES)
    (hidden,) = args.hidden_dims  # their networks have one hidden layer
    model, alpha = M2(784, CLASSES, args.latent_dim, hidden), args.alpha * len(rows) / labels
    guide = M2Guide(model, hidden, alpha=alpha)
    config = {
        "labels": labels,
        "seed": seed,
        "alpha": alpha,
        **{
            k: v
            for k, v in vars(args).items()
            if k not in ("labels", "seeds", "out", "resume", "overwrite", "data_dir")
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "labelled.json", {"seed": seed, "rows": labelled.tolist()})

    def evaluate():
        return {"valid_error": error_rate(guide, valid.x, valid.y), "test_error": error_rate(guide, test.x, test.y)}

    def report(state):
        r = state.history[-1]
        log(
            f"labels {labels} seed {seed} epoch {r['epoch']}: train ELBO {r['train_elbo']:.2f}, "
            f"validation error {r['valid_error']:.2f} %, test error {r['test_error']:.2f} % ({r['seconds']:.0f} s)"
        )

    split = type(train)(x=rows, image_shape=(28, 28), dynamic=True)
    start = time.perf_counter()
    state = fit_in(
        folder,
        model,
        guide,
        split,
        config=config,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=seed,
        evaluate=evaluate,
        on_epoch_end=report,
    )
    test_rows = labelled_rows(test.x[: args.eval_points], test.y, torch.zeros(0, dtype=torch.long), CLASSES)
    scored = LL_ESTIMATORS["is"].estimate(model, guide, test_rows, num_samples=args.eval_samples, with_error=True)
    ll = summary(scored)
    final = state.history[-1]
    metrics = {
        "labels": labels,
        "seed": seed,
        "epochs": state.epoch,
        "alpha": alpha,
        "test_error": final["test_error"],
        "valid_error": final["valid_error"],
        "best_valid_epoch": min(state.history, key=lambda r: r["valid_error"])["epoch"],
        "test_error_at_best_valid": min(state.history, key=lambda r: r["valid_error"])["test_error"],
        "test_ll": ll["value"],
        "test_ll_points": args.eval_points,
        "test_ll_unreliable": ll["unreliable"],
        "train_seconds": sum(r["seconds"] for r in state.history),
        "examples_per_second": statistics.median(r["examples_per_second"] for r in state.history),
        "history": state.history,
        "wall_seconds_this_call": time.perf_counter() - start,
    }
    write_json(folder / "metrics.json", metrics)
    return metrics


def table(results: list, epochs: int) -> str:
    lines = [
        "| labels | seeds | epochs | test error (%), last epoch | at the best validation epoch | Kingma et al. M2 "
        "| test log p(x) (IS) | training |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for labels in sorted({r["labels"] for r in results}):
        rs = [r for r in results if r["labels"] == labels]

        def ms(key):
            v = [r[key] for r in rs]
            return f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"

        theirs = KINGMA_M2.get(labels)
        lines.append(
            f"| {labels} | {len(rs)} | {epochs} | {ms('test_error')} | {ms('test_error_at_best_valid')} | "
            f"{f'{theirs[0]} ± {theirs[1]}' if theirs else '—'} | {ms('test_ll')} | "
            f"{statistics.mean(r['train_seconds'] for r in rs) / 60:.1f} min per run |"
        )
    return "\n".join(lines) + "\n"


def figure(results: list, path: Path) -> None:
    """Every run's test error by epoch, one colour per labels count, Kingma et al.'s beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    counts = sorted({r["labels"] for r in results})
    for colour, labels in zip(("C0", "C1", "C2", "C3"), counts):
        for i, r in enumerate(x for x in results if x["labels"] == labels):
            epochs = [h["epoch"] for h in r["history"]]
            ax.plot(
                epochs,
                [h["test_error"] for h in r["history"]],
                colour,
                alpha=0.8,
                label=f"ours, {labels} labels" if i == 0 else None,
            )
        if labels in KINGMA_M2:
            ax.axhline(KINGMA_M2[labels][0], color=colour, ls="--", label=f"Kingma et al., {labels} labels")
    ax.set(xlabel="epoch", ylabel="test error (%)", title="M2 on MNIST: test error by epoch (one line per seed)")
    ax.set_ylim(0, None)
    ax.legend(fontsize=8)
    fig.savefig(path, bbox_inches="tight", dpi=100)
    plt.close(fig)


def main(argv=None):
    args = argparse.Namespace(**PROGRAM.parse(argv))
    if args.train_size is not None and args.train_size > TRAIN:
        raise cli.UsageError(f"--train-size must be at most {TRAIN} (the last 10,000 images validate)")
    args.train_size = args.train_size or TRAIN
    out = Path(args.out)
    holds = lambda p: "an M2 protocol" if (p / "runs").is_dir() else None  # noqa: E731
    with RunFolder(out, holds=holds, outputs=OUTPUTS, resume=args.resume, overwrite=args.overwrite):
        # their split: the first 50,000 training images train (grey levels, binarised afresh for every
        # minibatch), the last 10,000 validate; the validation images binarised once (seeded), the test
        # images as every run of the collection binarises them
        train, test = load_mnist(args.data_dir or default_data_dir(), binarize_mode="dynamic", log=print)
        part = lambda x, y: type(train)(x=x, y=y, image_shape=(28, 28))  # noqa: E731
        valid = torch.bernoulli(train.x[TRAIN:], generator=torch.Generator().manual_seed(0))
        data = (
            part(train.x[: args.train_size], train.y[: args.train_size]),
            part(valid, train.y[TRAIN:]),
            part(test.x, test.y),
        )
        results = []
        for labels in args.labels:
            for seed in args.seeds:
                results.append(one_run(args, data, labels, seed, out / "runs" / f"labels{labels}_seed{seed}", print))
        write_json(
            out / "results.json",
            {
                "settings": {k: v for k, v in vars(args).items()},
                "runs": [{k: v for k, v in r.items() if k != "history"} for r in results],
            },
        )
        figure(results, out / "test_error.png")
        text = table(results, args.epochs)
        write_text(out / "table.md", text)
        print(text)


if __name__ == "__main__":
    sys.exit(cli.run(main))
