#!/usr/bin/env python
"""Per-point log p(x) of any data under a trained run, and out-of-distribution detection.

    python examples/score.py --checkpoint runs/mnist_aevb --out runs/scores                 # the run's own test set
    python examples/score.py --checkpoint runs/mnist_aevb --dataset new.npz --split all --out runs/new
    python examples/score.py --checkpoint runs/fashion --dataset fashion-mnist --ood-dataset mnist --out runs/ood

Every point of --dataset (the rows --split names: by default the test split of the run's own or a
registered data set, every row of a file of new points; read and prepared the way the run's test set
was: binarised once with the test set's fixed seed for a Bernoulli decoder) is scored by the run's
model and guide: log p(x) by --ll-estimator with its standard error, effective sample size and
reliability flag, the ELBO, bits per dimension, and the input's complexity L(x) (its compressed
length in bits, --complexity) with the complexity-corrected score log2 p(x) + L(x) (Serrà et al.
2020). The estimator, its samples and the data set default to the run's own, so the run's own
test points get the numbers of its final evaluation, point by point. With --ood-dataset the
second set is scored the same way and AUROC and AUPR of both scores are reported (outliers as
the positive class, found by a low score). Writes scores.csv (a row per point), metrics.json
(the summaries) and, with --ood-dataset, histogram.png.
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import sys
import time
from pathlib import Path

from aevb import cli, figures, runs
from aevb import config as cfg
from aevb import experiment as exp
from aevb.data.complexity import COMPRESSORS
from aevb.files import write_json, write_text
from aevb.folder import RunFolder
from aevb.inference.estimators.uncertainty import flag_note
from aevb.inference.training import progress
from aevb.scoring import SPLITS, csv_text, detect, score

#: This program's own options (the shared ones are in aevb.config).
OPTIONS = (
    cfg.Option(
        "split",
        "auto",
        "the rows of each data set scored: test, train or all (a file's rows in its order); auto: the test "
        "split of the run's own or a registered data set, every row of other data",
        choices=SPLITS,
    ),
    cfg.Option(
        "ood_dataset",
        None,
        "out-of-distribution data, a name or a path: scored too, with AUROC and AUPR of both scores",
        choices=cfg.registry("aevb.data", "DATASETS"),
        or_path=True,
        metavar="NAME|PATH",
    ),
    cfg.Option("complexity", "png", "the compressor measuring an input's complexity L(x)", choices=tuple(COMPRESSORS)),
)
PROGRAM = cli.Program(
    "score",
    __doc__,
    required=("checkpoint",),
    keys=(
        "checkpoint",
        "dataset",
        "ll_estimator",
        "eval_samples",
        "eval_points",
        "elbo_samples",
        "data_dir",
        "device",
        "out",
        "overwrite",
        "quiet",
    ),
    options=OPTIONS,
    inherited=("dataset", "ll_estimator", "eval_samples", "elbo_samples"),
)
OUTPUTS = ("scores.csv", "metrics.json", "histogram.png")


def scores_in(folder: Path):
    """What an earlier call left in ``folder`` (:class:`aevb.folder.RunFolder`), or None."""
    return "the scores of an earlier call (metrics.json)" if (folder / "metrics.json").exists() else None


def main(argv=None):
    settings = PROGRAM.parse(argv)
    out = Path(settings["out"])
    with RunFolder(out, holds=scores_in, outputs=OUTPUTS, overwrite=settings["overwrite"], resumable=False):
        try:
            score_into(settings, out)
        except KeyboardInterrupt:
            raise cli.Interrupted("interrupted before the scores were written: nothing was saved") from None


def score_into(settings, out: Path) -> dict:
    say = (lambda *a: None) if settings["quiet"] else progress.write
    path = runs.checkpoint_path(settings["checkpoint"])
    run = exp.load(
        path, data_dir=settings["data_dir"], device=settings["device"], log=say, progress=not settings["quiet"]
    )
    sets = {"in": settings["dataset"] or run.config["dataset"]}
    if settings["ood_dataset"] is not None:
        sets["out"] = settings["ood_dataset"]
    scored, start = {}, time.perf_counter()
    for name, data in sets.items():
        scored[name] = score(
            run,
            data,
            split=settings["split"],
            estimator=settings["ll_estimator"],
            num_samples=settings["eval_samples"],
            points=settings["eval_points"],
            elbo_samples=settings["elbo_samples"],
            complexity=settings["complexity"],
            data_dir=settings["data_dir"],
            log=say,
        )
        say(describe(name, scored[name].summary()))
    metrics = {
        "checkpoint": str(path),
        "settings": {k: v for k, v in settings.items() if k not in ("config", "overwrite")},
        "sets": {name: s.summary() for name, s in scored.items()},
        "seconds": time.perf_counter() - start,
    }
    write_text(out / "scores.csv", csv_text(scored))
    if "out" in scored:
        metrics["detection"] = detect(scored["in"], scored["out"])
        save_histogram(scored, metrics, out / "histogram.png", run.config)
        for name, result in metrics["detection"].items():
            if name in ("raw", "corrected"):
                print(
                    f"{name} score: AUROC {result['auroc']:.3f}, AUPR {result['aupr']:.3f} "
                    f"(chance {result['aupr_chance']:.3f}), outliers: {sets['out']} as the positive class"
                )
    write_json(out / "metrics.json", metrics)
    print(f"wrote {out}/scores.csv and metrics.json" + (" and histogram.png" if "out" in scored else ""))
    return metrics


def describe(name: str, summary: dict) -> str:
    ll = summary["log_likelihood"]
    elbo = f", ELBO {summary['elbo']:.2f}" if summary["elbo"] is not None else ""
    bits = f", {summary['bits_per_dim']:.4f} bits/dim" if summary["bits_per_dim"] is not None else ""
    return (
        f"{name}: {summary['data']} ({summary['split']}, {summary['num_points']} points): log p(x) "
        f"{ll['value']:.2f} ± {ll['standard_error']:.2f} nats ({summary['estimator']}, {summary['num_samples']})"
        f"{elbo}{bits}, L(x) {summary['complexity_bits']:.0f} bits{flag_note(ll)}"
    )


def save_histogram(scored: dict, metrics: dict, path: Path, config: dict) -> None:
    names = {key: metrics["sets"][key]["data"] for key in scored}
    panels = [
        (
            label,
            {f"{names[key]} ({key})": getattr(scored[key], column) for key in scored},
            f"AUROC {metrics['detection'][kind]['auroc']:.3f}",
        )
        for label, column, kind in (
            ("log p(x) (nats)", "log_p", "raw"),
            ("log2 p(x) + L(x) (bits, complexity-corrected)", "corrected_bits", "corrected"),
        )
    ]
    figures.save_score_histograms([panels], path, f"model trained on {config['dataset']}: higher is more typical")


if __name__ == "__main__":
    sys.exit(cli.run(main))
