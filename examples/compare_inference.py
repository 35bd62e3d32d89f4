#!/usr/bin/env python
"""Compare guides and inference algorithms on the same model, data, seed and budget.

    python examples/compare_inference.py --guides diag fullcov flow --algorithms aevb iwae:5 \\
        --estimator A --epochs 10 --out runs/compare

runs every pair of --guides × --algorithms (``NAME:K`` sets --num-particles to K for that
column, e.g. ``iwae:5``) with the same seed, data order and budget (--epochs, or
--max-seconds of training per pair), every other flag as in mnist_aevb.py, and writes into
--out:

* results.csv and results.md: test ELBO, test log-likelihood (--ll-estimator, the same K and
  test points for every pair), amortisation gap, training seconds and examples/s, and the
  error of any pair that could not run (the others still run);
* comparison.png: test ELBO against training examples seen, one curve per pair;
* config.yaml: the resolved configuration (--config reruns it);
* pairs/GUIDE_INFERENCE/: each pair's metrics.json and checkpoint.pt. With --resume, pairs that
  finished are read back instead of rerun.

Runs data-parallel unchanged under ``torchrun --nproc-per-node K`` (see docs/distributed.md).
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import contextlib
import csv
import errno
import io
import sys
import time
import traceback
from pathlib import Path

from matplotlib.figure import Figure

from aevb import cli, figures, tracking
from aevb import config as cfg
from aevb import experiment as exp
from aevb.files import read_json, write_json, write_text
from aevb.folder import RunFolder
from aevb.inference import distributed, progress
from aevb.inference.capabilities import capabilities

GRID_KEYS = ("guide", "inference")  # set per pair by the grid
#: This program's own options (the shared ones are in aevb.config).
OPTIONS = (
    cfg.Option(
        "guides",
        ["diag", "fullcov", "flow"],
        "grid rows: guides",
        many=True,
        choices=cfg.registry("aevb.guides", "GUIDES"),
    ),
    cfg.Option(
        "algorithms",
        ["aevb", "iwae:5"],
        "grid columns: NAME or NAME:K (K sets --num-particles for that column), NAME a value of --inference",
        many=True,
    ),
    cfg.positive("gap_points", 1000, "test points for the amortisation gap"),
)
PROGRAM = cli.Program(
    "compare_inference",
    __doc__,
    keys=(
        *(k for k in cfg.RUN_KEYS if k not in GRID_KEYS),
        "out",
        "data_dir",
        "device",
        "resume",
        "overwrite",
        "quiet",
        "tensorboard",
    ),
    options=OPTIONS,
)
#: What a comparison leaves in --out (--overwrite deletes these).
OUTPUTS = ("pairs", "results.csv", "results.md", "comparison.png", "config.yaml")
COLUMNS = [
    "guide",
    "inference",
    "num_particles",
    "estimator",
    "test_elbo",
    "test_log_likelihood",
    "test_log_likelihood_unreliable",
    "amortisation_gap",
    "epochs",
    "examples",
    "seconds",
    "examples_per_second",
    "error",
]


def parse_column(spec: str, default_k: int):
    """``NAME`` or ``NAME:K`` → (algorithm name, number of particles)."""
    name, _, k = spec.partition(":")
    if name not in exp.ALGORITHMS:
        raise cli.UsageError(f"--algorithms {spec}: {name!r} is not one of {sorted(exp.ALGORITHMS)}")
    if k and not (k.isdigit() and int(k) >= 1):
        raise cli.UsageError(f"--algorithms {spec}: K must be a positive integer")
    return name, int(k) if k else default_k


def grid_in(folder: Path):
    """What comparison ``folder`` holds (:class:`aevb.folder.RunFolder`), or None."""
    pairs = [p for p in (folder / "pairs").glob("*") if p.is_dir() and any(p.iterdir())]
    if not pairs and not (folder / "results.csv").exists():
        return None
    finished = sum(1 for p in pairs if "result" in (read_json(p / "metrics.json") or {}))
    plural = "" if finished == 1 else "s"
    return f"a comparison grid ({finished} finished pair{plural}, {len(pairs) - finished} unfinished)"


def run_pair(settings, guide: str, name: str, k: int, out: Path, log) -> dict:
    """Train and score one pair (with --resume, continuing its checkpoint); returns its row (with
    its curve under "curve")."""
    config = {**settings.run_keys(), "guide": guide, "inference": name, "num_particles": k}
    if settings["max_seconds"] is not None and "epochs" not in settings.explicit:
        config["epochs"] = 10**6  # the time budget alone ends training
    run, state = exp.build_in(
        out,
        config,
        resume=settings["resume"],
        data_dir=settings["data_dir"],
        device=settings["device"],
        log=log,
        progress=not settings["quiet"],
    )
    board = None
    if settings["tensorboard"] is not None and distributed.is_main_process():
        board = tracking.logger(Path(settings["tensorboard"]) / out.name, run.config)
    state = exp.train_in(
        run, out, state=state, on_epoch_end=(lambda s: board.epoch(s.history[-1], run)) if board else None
    )
    history = state.history
    ll = run.log_likelihood() if run.guide is not None else None
    row = {
        "estimator": run.config["estimator"],
        "test_elbo": history[-1].get("test_elbo"),
        "test_log_likelihood": ll["value"] if ll else None,
        "test_log_likelihood_unreliable": ll["unreliable"] if ll else None,
        "amortisation_gap": run.amortisation_gap(settings["gap_points"])["gap"]
        if capabilities(run.guide, "guide").amortised
        else None,
        "epochs": len(history),
        "examples": history[-1]["examples"],
        "seconds": sum(h["seconds"] for h in history),
    }
    row["examples_per_second"] = row["examples"] / row["seconds"]
    row["curve"] = [(h["examples"], h.get("test_elbo")) for h in history]
    if board is not None:
        if ll:
            board.log_likelihood(ll, history[-1]["epoch"])
        board.close()
    if distributed.is_main_process():
        write_json(out / "metrics.json", {"config": run.config, "epochs": history, "result": row})
    return row


def save_comparison(rows, path, settings):
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for row in rows:
        curve = [(n, e) for n, e in row.get("curve") or [] if e is not None]
        if curve:
            ax.plot(
                *zip(*curve),
                "-o",
                ms=3,
                label=f"{row['guide']} / {row['inference']}"
                + (f" (k={row['num_particles']})" if row["num_particles"] > 1 else ""),
            )
    ax.set_xscale("log")
    ax.set_xlabel("training examples seen")
    ax.set_ylabel("test ELBO per datapoint (nats, higher is better)")
    ax.set_title(f"{settings['dataset']}, Nz = {settings['latent_dim']}: guides × inference, seed {settings['seed']}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    figures.save_figure(fig, path)


def main(argv=None):
    grid(PROGRAM.parse(argv))


def run(out, **settings) -> list:
    """The comparison grid from Python: ``run("runs/compare", guides=["diag", "flow"],
    algorithms=["aevb", "iwae:5"], dataset="mine.npz", epochs=5)``, keys as in a configuration file
    (``--help`` lists them; checked the same way); returns the grid's rows (dicts of
    :data:`COLUMNS`) and writes what the program writes into ``out``, guarded the same way."""
    return grid(PROGRAM.settings({**settings, "out": str(out)}))


def grid(settings) -> list:
    """Every pair of the grid ``settings`` describe, in its guarded folder; the rows."""
    out = Path(settings["out"])
    main_process = distributed.is_main_process()  # under torchrun only rank 0 prints and writes
    folder = RunFolder(out, holds=grid_in, outputs=OUTPUTS, resume=settings["resume"], overwrite=settings["overwrite"])
    with folder if main_process else contextlib.nullcontext():
        try:
            return compare(settings, out, main_process)
        except KeyboardInterrupt:
            raise cli.Interrupted(
                f"interrupted; finished pairs are kept in {out}/pairs: the same command with --resume continues"
            ) from None


def compare(settings, out: Path, main_process: bool) -> list:
    say = progress.write if main_process and not settings["quiet"] else (lambda *a: None)
    columns = [parse_column(spec, settings["num_particles"]) for spec in settings["algorithms"]]
    pairs = [(g, name, k) for g in settings["guides"] for name, k in columns]
    if main_process:
        PROGRAM.save(settings, out / "config.yaml")
    rows = []
    with progress.progress(len(pairs), "pairs", unit="pairs", enabled=not settings["quiet"], position=0) as grid:
        for guide, name, k in pairs:
            folder = out / "pairs" / (f"{guide}_{name}" + ("" if k == 1 else f"_k{k}"))
            label = f"{guide} / {name}" + (f" (k={k})" if k > 1 else "")
            grid.set_postfix_str(label)
            row = {"guide": guide, "inference": name, "num_particles": k}
            finished = (read_json(folder / "metrics.json") or {}) if settings["resume"] else {}
            if "result" in finished:
                row.update(finished["result"])
                say(f"{label}: finished earlier, read from {folder / 'metrics.json'}")
            else:
                start = time.perf_counter()
                try:
                    row.update(run_pair(settings, guide, name, k, folder, say))
                except KeyboardInterrupt:
                    raise
                except OSError as e:
                    if e.errno == errno.ENOSPC:  # a full disk fails every pair after this one too
                        raise
                    row["error"] = f"{type(e).__name__}: {cli.one_line(e)}"
                except Exception as e:  # noqa: BLE001  (one failing pair must not stop the grid)
                    row["error"] = f"{type(e).__name__}: {cli.one_line(e)}"
                    if not isinstance(e, cli.expected_errors()):
                        traceback.print_exc()
                result = row.get("error") or "test ELBO %.2f, log-likelihood %.2f" % (
                    row["test_elbo"] or float("nan"),
                    row["test_log_likelihood"] or float("nan"),
                )
                say(f"{label}: {result}  [{time.perf_counter() - start:.0f} s]")
            rows.append(row)
            grid.update(1)
            if main_process:
                write_results(rows, out, settings)
    if main_process:
        save_comparison(rows, out / "comparison.png", settings)
        print(f"wrote {out}/results.csv, results.md, comparison.png and config.yaml")
    return rows


def write_results(rows, out: Path, settings) -> None:
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "results.csv", table.getvalue())
    budget = (
        f"{settings['max_seconds']:g} s of training"
        if settings["max_seconds"] is not None
        else f"{settings['epochs']} epochs"
    )
    points = "all" if settings["eval_points"] is None else settings["eval_points"]
    header = [
        "guide",
        "inference",
        "k / L",
        "estimator",
        "test ELBO",
        f"test log-lik. ({settings['ll_estimator']}, {settings['eval_samples']} samples, {points} pts)",
        "unreliable pts",
        f"amortisation gap ({settings['gap_points']} pts, {settings['refine_steps']} steps)",
        "epochs",
        "seconds",
        "examples/s",
        "error",
    ]

    def fmt(v, spec=".2f"):
        return "" if v is None else format(v, spec)

    lines = [
        f"Budget per pair: {budget}; seed {settings['seed']}. Nats per datapoint, higher is better; "
        "the gap is ELBO after refinement minus the encoder's ELBO.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for r in rows:
        cells = [
            r["guide"],
            r["inference"],
            str(r["num_particles"]),
            r.get("estimator") or "",
            fmt(r.get("test_elbo")),
            fmt(r.get("test_log_likelihood")),
            fmt(r.get("test_log_likelihood_unreliable"), "d"),
            fmt(r.get("amortisation_gap"), ".3f"),
            fmt(r.get("epochs"), "d"),
            fmt(r.get("seconds"), ".0f"),
            fmt(r.get("examples_per_second"), ".0f"),
            (r.get("error") or "").replace("|", "/"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    write_text(out / "results.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(cli.run(main))
