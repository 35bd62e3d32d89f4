#!/usr/bin/env python
"""The deep Markov model (Krishnan, Shalit & Sontag 2017) on the Bach chorales, scored per time step.

    python examples/dmm_chorales.py --epochs 100 --out runs/dmm
    python examples/dmm_chorales.py --guide structured-iaf --flow-steps 1 --out runs/dmm_iaf
    python examples/dmm_chorales.py --kl-anneal-epochs 50 --out runs/dmm_annealed
    python examples/dmm_chorales.py --inference iwae --num-particles 5 --out runs/dmm_iwae
    python examples/dmm_chorales.py --epochs 200 --out runs/dmm --resume      # continue a run

builds the chorales from music21's corpus on first use (``python -m aevb.data chorales``; the
split is this collection's, not the published one), trains the DMM (a latent of --latent-dim per
quarter-note step, gated transition, 88 Bernoulli keys) with its structured guide (a backward RNN
and a combiner; ``steps``: mean field over the steps; ``structured-iaf``: IAFs on each step), then
scores the test chorales: the ELBO and the importance-sampled log-likelihood (K = --eval-samples),
each summed over a sequence's steps and divided by the number of steps, over all test chorales
(Σ log p(x_i) / Σ T_i, as Krishnan et al. and Pyro's dmm.py report it). Writes into --out:
config.yaml, metrics.json, checkpoint.pt, samples.png (piano rolls drawn from the model, beside a
test chorale) and elbo.png. ``--kl-anneal-epochs N`` raises the weight of the latent terms of the
ELBO linearly from --kl-anneal-start to 1 over N epochs (Krishnan et al.; the estimators never
anneal). All numbers are nats per time step.
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import sys
import time
from pathlib import Path

import torch

from aevb import cli, figures, runs
from aevb import experiment as exp
from aevb.config import RUN_KEYS, Option
from aevb.data.sequences import lengths_of
from aevb.files import write_json
from aevb.folder import RunFolder
from aevb.inference import capabilities, progress
from aevb.inference.estimators.uncertainty import flag_note

ANNEAL = (
    Option(
        "kl_anneal_epochs",
        0,
        "KL annealing: the latent terms' weight rises linearly to 1 over this many epochs (0: none)",
        type=int,
        low=0,
    ),
    Option(
        "kl_anneal_start",
        0.2,
        "KL annealing: the weight in the first epoch (Pyro's dmm.py: 0.2)",
        type=float,
        low=0.0,
        open_low=True,
    ),
)
#: The chorales' protocol: Krishnan et al.'s sizes, Pyro's dmm.py's batch of 20 sequences; Adam at 1e-3
#: (Pyro's example uses 3e-4 for 5,000 epochs; this budget is CPU-sized: docs/results.md).
DEFAULTS = {
    "dataset": "chorales",
    "model": "dmm",
    "guide": "structured",
    "latent_dim": 100,
    "batch_size": 20,
    "epochs": 100,
    "eval_samples": 500,
    "binarize": "none",
    # the DMM cuts each minibatch to its longest chorale (aevb.models.markov.in_use): its step's shapes
    # follow the data, so it is not traced (--compile auto would find that out and say so, every run)
    "compile": "off",
}
PROGRAM = cli.Program(
    "dmm_chorales",
    __doc__,
    keys=(*RUN_KEYS, "out", "data_dir", "device", "resume", "overwrite", "quiet"),
    options=ANNEAL,
    defaults=DEFAULTS,
)


def kl_weight(epoch: int, settings) -> float:
    """The annealed weight of the latent terms in ``epoch`` (1-based): a pure function of the epoch,
    so a resumed run trains exactly as an uninterrupted one."""
    epochs, start = settings["kl_anneal_epochs"], settings["kl_anneal_start"]
    if epochs == 0 or epoch > epochs:
        return 1.0
    return min(1.0, start + (1.0 - start) * (epoch - 1) / epochs)


def main(argv=None):
    settings = PROGRAM.parse(argv)
    out = Path(settings["out"])
    folder = RunFolder(
        out, holds=runs.run_in, outputs=runs.RUN_OUTPUTS, resume=settings["resume"], overwrite=settings["overwrite"]
    )
    with folder:
        try:
            train_and_score(settings, out)
        except cli.Interrupted:
            raise
        except KeyboardInterrupt:
            held = runs.run_in(out)
            raise cli.Interrupted(
                "interrupted before the first epoch finished: nothing was saved"
                if held is None
                else f"interrupted; {out} holds {held}: the same command with --resume continues it"
            ) from None


def per_step(value: float, rows: torch.Tensor, width: int) -> float:
    """A mean over the sequences ``rows`` of per-sequence nats → nats per time step (Σᵢ log p(xᵢ) / Σᵢ Tᵢ)."""
    return value * len(rows) / float(lengths_of(rows, width).sum())


def train_and_score(settings, out: Path) -> None:
    say = progress.write if not settings["quiet"] else (lambda *a: None)
    run, state = exp.build_in(
        out,
        # resuming: the checkpoint's configuration, changed only where a flag says so
        settings.run_keys(explicit_only=settings["resume"] and (out / "checkpoint.pt").exists()),
        resume=settings["resume"],
        data_dir=settings["data_dir"],
        device=settings["device"],
        log=say,
        progress=not settings["quiet"],
    )
    config = run.config
    if not capabilities(run.model, "model").sequence_model:
        raise cli.UsageError(f"--model {config['model']} is not a sequence model; this program scores per time step")
    kl = getattr(run.model, "kl", None)
    if settings["kl_anneal_epochs"] and kl is None:
        raise cli.UsageError(f"--kl-anneal-epochs: --model {config['model']} has no KL weight to anneal")
    PROGRAM.save(settings, out / "config.yaml", **config)
    width = run.model.sequence.width
    rows = {"train": run.train.head(), "test": run.test.head()}  # the per-epoch test ELBO scores every test row
    steps = {part: int(lengths_of(x, width).sum()) for part, x in rows.items()}
    say(
        f"{len(run.train)} training and {len(run.test)} test chorales ({steps['train']} and {steps['test']} steps) on "
        f"{run.train.x.device}; {config['inference']}, --model {config['model']} ({config['latent_dim']}-d latent per "
        f"step), --guide {config['guide']}, {config['optimizer']} lr {config['lr']:g}"
    )
    if kl is not None:
        kl.set(kl_weight((state.epoch if state else 0) + 1, settings))

    def per_step_record(e):  # what a checkpoint's history records, with its numbers per time step
        record = {**e, "train_elbo_per_step": e["train_elbo"] * len(rows["train"]) / steps["train"]}
        if "test_elbo" in e:
            record["test_elbo_per_step"] = e["test_elbo"] * len(rows["test"]) / steps["test"]
        if kl is not None:
            record["kl_weight"] = kl_weight(e["epoch"], settings)
        return record

    metrics = {
        "config": config,
        "anneal": {k: settings[k] for k in ("kl_anneal_epochs", "kl_anneal_start")},
        "steps": steps,
        "epochs": [per_step_record(e) for e in state.history] if state else [],
    }

    def on_epoch_end(state):
        last = per_step_record(state.history[-1])
        if kl is not None:
            kl.set(kl_weight(last["epoch"] + 1, settings))
        say(
            f"epoch {last['epoch']:3d}  train ELBO {last['train_elbo_per_step']:7.3f}  test ELBO "
            f"{last.get('test_elbo_per_step', float('nan')):7.3f} nats/step  {last['seconds']:5.1f} s"
        )
        metrics["epochs"] = [per_step_record(e) for e in state.history]
        write_json(out / "metrics.json", metrics)

    start = time.perf_counter()
    state = exp.train_in(run, out, state=state, on_epoch_end=on_epoch_end)
    metrics["epochs"] = [per_step_record(e) for e in state.history]
    metrics["train_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    ll = run.log_likelihood()
    ll.update(epoch=state.epoch, seconds=time.perf_counter() - start)
    scored = run.test.head(config["eval_points"])  # the rows the log-likelihood averages
    ll["per_step"] = per_step(ll["value"], scored, width)
    ll["standard_error_per_step"] = per_step(ll["standard_error"], scored, width)
    metrics["test_log_likelihood"] = ll
    write_json(out / "metrics.json", metrics)
    save_figures(run, out, metrics, width)
    final = metrics["epochs"][-1] if metrics["epochs"] else {}
    print(
        f"test ELBO {final.get('test_elbo_per_step', float('nan')):.3f} nats/step after {state.epoch} epochs; "
        f"test log-likelihood (IS, K = {ll['num_samples']}) {ll['per_step']:.3f} ± {ll['standard_error_per_step']:.3f} "
        f"nats/step{flag_note(ll)}"
    )
    print(f"wrote {out}/config.yaml, metrics.json, checkpoint.pt, samples.png and elbo.png")


def save_figures(run, out: Path, metrics: dict, width: int) -> None:
    lengths = lengths_of(run.test.head(3), width)
    with torch.no_grad():
        torch.manual_seed(0)
        drawn = run.model.sample(lengths.to(run.test.x.device))
    shown = torch.cat([run.test.head(1), drawn])
    titles = ["a test chorale"] + [f"drawn from the model (E[x_t | z_t]), {int(n)} steps" for n in lengths]
    figures.save_piano_rolls(shown, width, out / "samples.png", titles)
    history = [
        {
            "epoch": e["epoch"],
            "train_elbo": e["train_elbo_per_step"],
            **({"test_elbo": e["test_elbo_per_step"]} if "test_elbo_per_step" in e else {}),
        }
        for e in metrics["epochs"]
    ]
    lowest = min(e.get("test_elbo", e["train_elbo"]) for e in history[len(history) // 10 :]) if history else None
    figures.save_elbo_curves(
        history, out / "elbo.png", "DMM on the chorales", per="time step", bottom=lowest and lowest - 1
    )


if __name__ == "__main__":
    sys.exit(cli.run(main))
