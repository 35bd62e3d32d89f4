#!/usr/bin/env python
"""Burda, Grosse & Salakhutdinov (2015), Table 1: the literature's reference test log-likelihoods
on dynamically binarised MNIST, by their protocol.

    python examples/iwae_table1.py --rows 1:vae:1 1:iwae:5 --stages 5    # the first 121 epochs of two rows
    python examples/iwae_table1.py --rows 2:iwae:50                       # one row, the full 3280 epochs
    python examples/iwae_table1.py                                        # the whole table (ten rows)

A row is LAYERS:OBJECTIVE:K: one stochastic layer (784-200-200-50, tanh) or two (784-100-100-
z1(100)-50-50-z2(50)), trained as a VAE averaging K ELBO samples per point or as an IWAE on the
K-sample bound. Every other piece of the protocol is a flag defaulting to it (--help shows the
defaults): Adam (beta 0.9, 0.999) with --optimizer-eps 1e-4, --batch-size 20, --init glorot, and
--lr-schedule burda: stage i = 0 ... 7 holds the step size --lr * 10^(-i/7) for 3^i epochs
(3280 in all); --stages N trains the first N stages only. After training, each row is scored on
the test set by importance sampling from its encoder (--eval-samples 5000 on all 10,000 points,
or --eval-points), on the first --train-eval-points training points by the bound it trains, and
by its active units (Burda et al.'s criterion: Cov_x(E_q[u|x]) > 0.01).

Every epoch ends in a checkpoint (runs/ROW/checkpoint.pt); the same command resumes an
interrupted sweep, and a larger --stages continues finished rows. Writes into --out: metrics.json
(settings, machine, wall time, every row's epochs and results per number of stages), table1.md
(the results beside Burda et al.'s numbers), learning_curves.png and .pdf.
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import sys
import time
from pathlib import Path

from aevb import burda, cli
from aevb import config as cfg
from aevb import experiment as exp
from aevb import paper as common
from aevb.curves import scored_points
from aevb.files import read_json, write_json, write_text
from aevb.folder import RunFolder
from aevb.inference import progress as progress_module
from aevb.inference.diagnostics.active_units import ACTIVE_UNIT_THRESHOLD, active_units
from aevb.inference.estimators.uncertainty import flag_note
from aevb.inference.training.checkpoint import load_checkpoint
from aevb.inference.training.schedule import stage_end, stage_of

#: This program's own options (the shared ones are in aevb.config).
OPTIONS = (
    cfg.Option(
        "rows",
        [
            "1:vae:1",
            "1:vae:5",
            "1:vae:50",
            "1:iwae:5",
            "1:iwae:50",
            "2:vae:1",
            "2:vae:5",
            "2:vae:50",
            "2:iwae:5",
            "2:iwae:50",
        ],
        "Burda et al.'s Table 1 rows, each LAYERS:OBJECTIVE:K: 1 or 2 stochastic layers, vae (the average of K ELBO "
        "samples) or "
        "iwae (the K-sample bound), K samples per point",
        many=True,
        metavar="LAYERS:OBJECTIVE:K",
    ),
    cfg.Option(
        "stages",
        8,
        "train the first N stages of Burda et al.'s schedule (stage i: 3^i epochs at lr*10^(-i/7); 8 is their "
        "protocol, 3280 epochs)",
        type=int,
        low=1,
    ),
)
PROGRAM = cli.Program(
    "iwae_table1",
    __doc__,
    keys=(
        "lr",
        "lr_schedule",
        "optimizer_eps",
        "batch_size",
        "init",
        "binarize",
        "estimator",
        "eval_samples",
        "eval_points",
        "train_eval_points",
        "elbo_samples",
        "train_size",
        "test_size",
        "seed",
        "compile",
        "precision",
        "out",
        "data_dir",
        "device",
        "overwrite",
        "quiet",
    ),
    defaults={
        k: v
        for k, v in burda.PROTOCOL.items()
        if k in ("lr", "lr_schedule", "optimizer_eps", "batch_size", "init", "binarize", "estimator", "eval_samples")
    },
    options=OPTIONS,
)
#: The flags a row's scores depend on beyond its training: a score is read back only when they match.
SCORING_KEYS = ("eval_samples", "eval_points", "train_eval_points")
#: Posterior-mean draws per point for the active units (Burda et al.: 100).
ACTIVE_UNIT_DRAWS = 100
OUTPUTS = ("runs", "metrics.json", "config.yaml", "table1.md", "learning_curves.png", "learning_curves.pdf")


def main(argv=None):
    settings = PROGRAM.parse(argv)
    rows = burda.parse_rows(settings["rows"])
    out = Path(settings["out"])
    with RunFolder(out, outputs=OUTPUTS, overwrite=settings["overwrite"]):
        clock = common.WallClock(out)
        metrics = previous_metrics(out)
        metrics.update(
            settings={k: v for k, v in settings.items() if k not in ("overwrite", "quiet")}, machine=common.machine()
        )
        PROGRAM.save(settings, out / "config.yaml")
        epochs = stage_end(settings["stages"])
        say = common.say_for(settings)
        bar = progress_module.progress(
            len(rows) * epochs, "table 1", unit="epochs", enabled=not settings["quiet"], position=0
        )
        try:
            for row in rows:
                bar.set_postfix_str(row.name)
                metrics["rows"][row.name] = run_row(
                    row, settings, out / "runs" / row.name, metrics["rows"].get(row.name), say, bar.update
                )
                write_json(out / "metrics.json", {**metrics, "wall_seconds": clock.record()})
        except KeyboardInterrupt:
            raise cli.Interrupted(
                f"interrupted; every finished epoch is checkpointed under {out}/runs: the same command resumes"
            ) from None
        finally:
            bar.close()
        table = results_table(rows, metrics["rows"], settings["stages"])
        write_text(out / "table1.md", table + "\n")
        learning_curves(rows, metrics["rows"], out / "learning_curves")
        write_json(out / "metrics.json", {**metrics, "wall_seconds": clock.record()})
    print(table)
    print(f"wrote {out}/metrics.json, table1.md, learning_curves.png and runs/")


def previous_metrics(out: Path) -> dict:
    try:
        metrics = read_json(out / "metrics.json") or {}
    except ValueError:
        metrics = {}
    metrics.setdefault("rows", {})
    return metrics


def run_row(row, settings, run_dir: Path, record, say, advance) -> dict:
    """Train ``row`` to the end of stage ``--stages`` in ``run_dir`` (continuing its checkpoint) and
    score it; a row already scored at that number of stages is read back. Returns its record:
    ``{"config", "epochs": [...], "results": {stages: {...}}}``."""
    stages, epochs = settings["stages"], stage_end(settings["stages"])
    record = dict(record or {})
    results = dict(record.get("results", {}))
    checkpoint = run_dir / "checkpoint.pt"
    wanted = {**burda.PROTOCOL, **settings.run_keys(), **row.config(), "epochs": epochs}
    scoring = {k: settings[k] for k in SCORING_KEYS}
    done = load_checkpoint(checkpoint)["epoch"] if checkpoint.is_file() else 0
    if done > epochs:
        raise ValueError(
            f"{run_dir} holds {row.name} trained for {done} epochs ({stage_of(done) + 1} stages); ask --stages "
            f"{stage_of(done) + 1} or more, or give another --out"
        )
    config = exp.resume_config(checkpoint, wanted) if done else wanted  # refuses another configuration of the row
    if done == epochs and results.get(str(stages), {}).get("scored_with") == scoring:
        say(f"{row.name}: {stages} stages ({epochs} epochs) trained and scored before: read from metrics.json")
        advance(epochs)
        return record
    run = exp.build(
        config, data_dir=settings["data_dir"], device=settings["device"], log=say, progress=not settings["quiet"]
    )
    state = run.checkpointer(run_dir).restore() if done else None
    advance(done)
    say(
        f"{row.label}: epochs {done + 1}-{epochs} of stages 1-{stages} on {len(run.train)} points "
        f"({run.train.x.device})"
    )
    state = exp.train_in(run, run_dir, state=state, on_epoch_end=lambda s: advance(1))
    start = time.perf_counter()
    numbers = score(run, row, settings)
    results[str(stages)] = {
        "epochs": state.epoch,
        "train_seconds": sum(h["seconds"] for h in state.history),
        **numbers,
        "eval_seconds": time.perf_counter() - start,
        "scored_with": scoring,
    }
    return {"config": run.config, "epochs": state.history, "results": results}


def score(run, row, settings) -> dict:
    """The row's numbers: the test log-likelihood by importance sampling (the run's --ll-estimator,
    K = --eval-samples) with its Monte Carlo standard error, the bound the row trains on the first
    --train-eval-points training points, and the active units of every latent site."""
    ll = run.log_likelihood()
    x_train = scored_points(run, "train", settings["train_eval_points"])
    model, guide = run.scoring_pair(x_train)
    bound = row.train_bound(
        model, guide, x_train, progress=run.progress and f"train bound ({row.objective}, k={row.k})"
    )
    variances = active_units(run.guide, run.test.x, num_samples=ACTIVE_UNIT_DRAWS)
    return {
        "test_log_likelihood": ll,
        "train_bound": bound.mean().item(),
        "train_bound_points": len(x_train),
        "active_units": {site: int((v > ACTIVE_UNIT_THRESHOLD).sum()) for site, v in variances.items()},
        "latent_sizes": {site: len(v) for site, v in variances.items()},
    }


def results_table(rows, records: dict, stages: int) -> str:
    """The rows scored after ``stages`` stages, beside Burda et al.'s final numbers."""
    lines = [
        "| row | stages (epochs) | test log p(x), IS (± its Monte Carlo error) | Burda et al., 3280 epochs | gap | "
        "train bound | "
        "active units | training s | scoring s |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for row in rows:
        result = records.get(row.name, {}).get("results", {}).get(str(stages))
        if result is None:
            continue
        ll = result["test_log_likelihood"]
        ref = row.reference
        paper, gap = ("—", "—") if ref is None else (f"{ref:.2f}", f"{ll['value'] - ref:+.2f}")
        units = " + ".join(
            f"{n} of {result['latent_sizes'][site]} ({site})" for site, n in result["active_units"].items()
        )
        lines.append(
            f"| {row.label} | {stages} ({result['epochs']}) | {ll['value']:.2f} ± {ll['standard_error']:.2f} (K = "
            f"{ll['num_samples']}, "
            f"{ll['num_points']} points{flag_note(ll)}) | {paper} | {gap} | "
            f"{result['train_bound']:.2f} | {units} | {result['train_seconds']:.0f} | {result['eval_seconds']:.0f} |"
        )
    return "\n".join(lines)


def learning_curves(rows, records: dict, stem: Path) -> list:
    """Test ELBO per epoch of every row (log-scaled epochs, the stage boundaries marked) and the
    scored test log-likelihoods, beside Burda et al.'s final numbers."""
    fig, axes = common.panels(1, 7.0, 4.5)
    ax = axes[0][0]
    last = 1
    for i, row in enumerate(rows):
        history = records.get(row.name, {}).get("epochs", [])
        points = [(h["epoch"], h["test_elbo"]) for h in history if "test_elbo" in h]
        if not points:
            continue
        color = f"C{i}"
        ax.plot(*zip(*points), color=color, label=f"{row.label}: test ELBO")
        for result in records[row.name].get("results", {}).values():
            ax.plot(result["epochs"], result["test_log_likelihood"]["value"], "o", color=color)
        if row.reference is not None:
            ax.axhline(row.reference, color=color, linestyle=":", linewidth=1)
        last = max(last, points[-1][0])
    stage = 1
    while stage_end(stage) < last:
        ax.axvline(stage_end(stage) + 0.5, color="0.85", linewidth=0.8, zorder=0)
        stage += 1
    ax.set_xscale("log")
    ax.set_xlabel("epoch (grey lines: stage boundaries)")
    return common.save_panels(
        fig,
        axes,
        "nats per test point (larger is better)",
        "Burda et al. Table 1 protocol: dots = IS log-likelihood, dotted = their final value",
        stem,
    )


if __name__ == "__main__":
    sys.exit(cli.run(main))
