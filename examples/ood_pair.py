#!/usr/bin/env python
"""Two data sets, each the other's outliers: by default Nalisnick et al.'s case, a model of
Fashion-MNIST scoring MNIST, and the reverse.

    python examples/ood_pair.py --out runs/ood                      # 20 epochs each, 2000 points per set
    python examples/ood_pair.py --epochs 50 --eval-points 10000 --out runs/ood_full
    python examples/ood_pair.py --datasets mnist mine.npz --out runs/mine

Trains the same VAE (D-500-20, Bernoulli decoder, dynamically binarised data, AEVB) on each of
--datasets (into --out/runs/NAME, checkpointed: --resume continues), then scores the first
--eval-points test points of both data sets under each model by
importance sampling (--eval-samples K, the run's guide as proposal; examples/score.py's
computation) and asks how well a low score finds the other data set: AUROC and AUPR of the raw
log p(x) (Nalisnick et al. 2019: likelihoods can prefer the outliers) and of the
complexity-corrected score log2 p(x) + L(x) with L(x) the PNG or zlib length of the binarised image
(Serrà et al. 2020). Writes table.md, detection.csv (a row per model, outlier set and score),
scores.csv (a row per point), metrics.json and ood.png (the four score histograms).
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import sys
import time
from pathlib import Path

from aevb import cli, figures
from aevb import config as cfg
from aevb import experiment as exp
from aevb.data import DATASETS
from aevb.data.complexity import compressed_bits
from aevb.files import write_json, write_text
from aevb.folder import RunFolder
from aevb.inference.training import progress
from aevb.ood import corrected_bits, detection
from aevb.scoring import csv_text, rows_for, score

#: What both models share (the rest are the flags' run keys): one architecture for both data sets.
SHARED = {"likelihood": "bernoulli", "binarize": "dynamic", "model": "mlp", "ll_estimator": "is"}
#: The scores compared: (name, how a point's value is read from its Scores and its zlib-corrected score).
SCORES = (
    ("log p(x)", lambda s, zlib: s.log_p),
    ("png-corrected", lambda s, zlib: s.corrected_bits),
    ("zlib-corrected", lambda s, zlib: zlib),
)
OPTIONS = (
    cfg.Option(
        "datasets",
        ["fashion-mnist", "mnist"],
        "the two data sets (names or paths, rows of one size), each the other's outliers",
        many=True,
        choices=cfg.registry("aevb.data", "DATASETS"),
        or_path=True,
        metavar="NAME|PATH",
    ),
)
PROGRAM = cli.Program(
    "ood_pair",
    __doc__,
    keys=(
        "epochs",
        "latent_dim",
        "hidden_dims",
        "batch_size",
        "lr",
        "train_size",
        "seed",
        "eval_samples",
        "eval_points",
        "data_dir",
        "device",
        "out",
        "resume",
        "overwrite",
        "quiet",
    ),
    options=OPTIONS,
    defaults={"epochs": 20, "hidden_dims": [500], "eval_points": 2000},
)
OUTPUTS = ("runs", "table.md", "detection.csv", "scores.csv", "metrics.json", "ood.png", "config.yaml")


def case_in(folder: Path):
    """What ``folder`` holds from an earlier call (:class:`aevb.folder.RunFolder`), or None."""
    if (folder / "metrics.json").exists():
        return "the results of an earlier call (metrics.json)"
    trained = sorted(p.parent.name for p in (folder / "runs").glob("*/checkpoint.pt"))
    return f"models of an earlier call ({', '.join(trained)})" if trained else None


def folder_name(dataset: str) -> str:
    """A run folder's name for a data set: its registered name, or a path's file or folder name."""
    return dataset if dataset in DATASETS else Path(dataset).stem or "data"


def main(argv=None):
    settings = PROGRAM.parse(argv)
    names = settings["datasets"]
    if len(names) != 2 or folder_name(names[0]) == folder_name(names[1]):
        raise cli.UsageError(f"--datasets needs two data sets of different names, got {' '.join(names)}")
    out = Path(settings["out"])
    folder = RunFolder(out, holds=case_in, outputs=OUTPUTS, resume=settings["resume"], overwrite=settings["overwrite"])
    with folder:
        try:
            compare(settings, out)
        except KeyboardInterrupt:
            raise cli.Interrupted(
                f"interrupted; trained epochs are kept in {out}/runs: the same command with --resume continues"
            ) from None


def trained(settings, name: str, folder: Path, say):
    """The model of data set ``name``, trained into ``folder`` (continued with --resume)."""
    run, state = exp.build_in(
        folder,
        {**settings.run_keys(), **SHARED, "dataset": name},
        resume=settings["resume"],
        data_dir=settings["data_dir"],
        device=settings["device"],
        log=say,
        progress=not settings["quiet"],
    )

    def on_epoch_end(state):
        last = state.history[-1]
        say(f"{name}: epoch {last['epoch']:3d}  test ELBO {last['test_elbo']:8.2f}  {last['seconds']:5.1f} s")

    state = exp.train_in(run, folder, state=state, on_epoch_end=on_epoch_end)
    write_json(folder / "metrics.json", {"config": run.config, "epochs": state.history})
    return run


def compare(settings, out: Path) -> dict:
    """Train both models, score both test sets under each, and write the comparison."""
    say = (lambda *a: None) if settings["quiet"] else progress.write
    PROGRAM.save(settings, out / "config.yaml")
    start, datasets, points = time.perf_counter(), settings["datasets"], settings["eval_points"]
    models = {name: trained(settings, name, out / "runs" / folder_name(name), say) for name in datasets}
    scored, zlib, sets = {}, {}, {}
    for model_name, run in models.items():
        for data_name in datasets:
            split = rows_for(run, data_name, split="test", data_dir=settings["data_dir"], log=say)
            key = label(model_name, data_name)
            scored[key] = score(run, split, points=points, num_samples=settings["eval_samples"])
            zlib[key] = corrected_bits(
                scored[key].log_p, compressed_bits(split.head(points), split.image_shape, "zlib")
            )
            sets[key] = {**scored[key].summary(), "data": data_name}
            say(f"{key}: log p(x) {sets[key]['log_likelihood']['value']:.2f} nats")
    rows = []
    for model_name, outliers in (datasets, datasets[::-1]):
        inside, outside = label(model_name, model_name), label(model_name, outliers)
        for score_name, read in SCORES:
            a, b = read(scored[inside], zlib[inside]), read(scored[outside], zlib[outside])
            rows.append({"trained on": model_name, "outliers": outliers, "score": score_name, **detection(a, b)})
    metrics = {
        "settings": {k: v for k, v in settings.items() if k not in ("config", "resume", "overwrite")},
        "sets": sets,
        "detection": rows,
        "seconds": time.perf_counter() - start,
    }
    text = table(rows, sets, settings)
    write_text(out / "scores.csv", csv_text(scored))
    write_text(out / "detection.csv", detection_csv(rows))
    write_text(out / "table.md", text)
    save_figure(scored, rows, datasets, out / "ood.png")
    write_json(out / "metrics.json", metrics)
    print(text)
    print(f"wrote {out}/table.md, detection.csv, scores.csv, metrics.json and ood.png")
    return metrics


def label(model_name: str, data_name: str) -> str:
    return f"{model_name} model, {data_name} test"


def detection_csv(rows: list) -> str:
    header = ("trained on", "outliers", "score", "auroc", "aupr", "aupr_chance")
    lines = [",".join(header)] + [",".join(str(row[k]) for k in header) for row in rows]
    return "\n".join(lines) + "\n"


def table(rows: list, sets: dict, settings) -> str:
    """The markdown table: per model, both test sets' mean log p(x) and complexity, and the AUROC and
    AUPR of each score."""
    lines = [
        f"IS with K = {settings['eval_samples']}, the first {settings['eval_points']} test points of each set; "
        "outliers are the positive class, found by a low score.",
        "",
        "| trained on | outliers | mean log p(x), own test / outliers (nats) | points with ESS < 5, own / outliers "
        "| mean PNG L(x), own / outliers (bits) | AUROC log p(x) | AUROC png-corrected | AUROC zlib-corrected "
        "| AUPR log p(x) | AUPR png-corrected |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, outliers in dict.fromkeys((row["trained on"], row["outliers"]) for row in rows):
        own, out = sets[label(name, name)], sets[label(name, outliers)]
        found = {row["score"]: row for row in rows if row["trained on"] == name}
        lines.append(
            f"| {name} | {outliers} | {own['log_likelihood']['value']:.1f} / {out['log_likelihood']['value']:.1f} "
            f"| {own['log_likelihood']['unreliable']} / {out['log_likelihood']['unreliable']} "
            f"| {own['complexity_bits']:.0f} / {out['complexity_bits']:.0f} "
            f"| {found['log p(x)']['auroc']:.3f} | {found['png-corrected']['auroc']:.3f} "
            f"| {found['zlib-corrected']['auroc']:.3f} | {found['log p(x)']['aupr']:.3f} "
            f"| {found['png-corrected']['aupr']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def save_figure(scored: dict, rows: list, datasets, path: Path) -> None:
    auroc = {(row["trained on"], row["score"]): row["auroc"] for row in rows}
    panels = []
    for name, outliers in (datasets, datasets[::-1]):
        pair = {d: scored[label(name, d)] for d in (name, outliers)}
        panels.append(
            [
                (
                    f"{name} model: {axis}",
                    {d: getattr(s, column) for d, s in pair.items()},
                    f"AUROC {auroc[(name, score_name)]:.3f}",
                )
                for axis, column, score_name in (
                    ("log p(x) (nats)", "log_p", "log p(x)"),
                    ("log2 p(x) + PNG L(x) (bits)", "corrected_bits", "png-corrected"),
                )
            ]
        )
    figures.save_score_histograms(panels, path, "each model's own test set against the other data set's")


if __name__ == "__main__":
    sys.exit(cli.run(main))
