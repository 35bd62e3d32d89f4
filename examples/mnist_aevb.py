#!/usr/bin/env python
"""Auto-Encoding Variational Bayes on MNIST (Kingma & Welling 2013, §3 and §5), in Pyro.

    python examples/mnist_aevb.py --epochs 5 --out runs/mnist
    python examples/mnist_aevb.py --inference wake-sleep --epochs 5 --out runs/ws
    python examples/mnist_aevb.py --guide flow --epochs 5 --out runs/flow
    python examples/mnist_aevb.py --inference iwae --num-particles 5 --epochs 5 --out runs/iwae
    python examples/mnist_aevb.py --config runs/mnist/config.yaml --out runs/again   # rerun a run exactly
    torchrun --nproc-per-node 2 examples/mnist_aevb.py --epochs 5 --out runs/dp   # data-parallel
    python examples/mnist_aevb.py --inference mcem --latent-dim 3 --hidden-dim 100 --train-size 1000 \\
        --ll-estimator ais --lr 3e-3 --out runs/mcem

trains the paper's VAE (784-500-Nz, tanh, Bernoulli decoder) or another model (--model
hierarchical: two stochastic layers; --model conv; --hidden-dims 200 200: a deeper MLP; see
docs/models.md) with SVI (or IWAE, full VB with a posterior over the model's weights, or a
baseline: wake-sleep, reweighted wake-sleep, Monte Carlo EM) and any guide (diagonal,
full-covariance, flow, per-datapoint mean field), then writes into --out: config.yaml (the
resolved configuration: --config reruns it), metrics.json, checkpoint.pt, samples.png,
reconstructions.png, elbo.png and, for two latent numbers per datapoint, manifold.png (the
paper's Figure 4); with --tensorboard DIR also TensorBoard event files. All numbers are nats
per datapoint.
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import contextlib
import sys
import time
from pathlib import Path

from aevb import cli, figures, runs, tracking
from aevb import experiment as exp
from aevb.config import RUN_KEYS
from aevb.files import read_json, write_json
from aevb.folder import RunFolder
from aevb.inference import distributed, progress
from aevb.inference.estimators.uncertainty import flag_note

PROGRAM = cli.Program(
    "mnist_aevb", __doc__, keys=(*RUN_KEYS, "out", "data_dir", "device", "resume", "overwrite", "quiet", "tensorboard")
)


def main(argv=None):
    settings = PROGRAM.parse(argv)
    out = Path(settings["out"])
    main_process = distributed.is_main_process()  # under torchrun only rank 0 prints and writes
    folder = RunFolder(
        out, holds=runs.run_in, outputs=runs.RUN_OUTPUTS, resume=settings["resume"], overwrite=settings["overwrite"]
    )
    with folder if main_process else contextlib.nullcontext():
        try:
            train_and_evaluate(settings, out, main_process)
        except cli.Interrupted:
            raise
        except KeyboardInterrupt:
            raise cli.Interrupted(interrupted_message(out)) from None


def interrupted_message(out: Path) -> str:
    """What an interrupted run keeps, and how to continue it."""
    held = runs.run_in(out)
    if held is None:
        return "interrupted before the first epoch finished: nothing was saved"
    return f"interrupted; {out} holds {held}: the same command with --resume continues it"


def train_and_evaluate(settings, out: Path, main_process: bool) -> None:
    say = progress.write if main_process and not settings["quiet"] else (lambda *a: None)
    if settings["resume"]:
        config = exp.resume_config(out / "checkpoint.pt", settings.run_keys(explicit_only=True))
    else:
        config = settings.run_keys()
    run = exp.build(
        config, data_dir=settings["data_dir"], device=settings["device"], log=say, progress=not settings["quiet"]
    )
    config = run.config  # resolved: every default that depends on other keys filled in
    board = tracking.logger(settings["tensorboard"], {**settings, **config}) if main_process else None
    if main_process:
        PROGRAM.save(settings, out / "config.yaml", **config)
    ctx = distributed.current()
    if ctx.enabled:
        say(
            f"data-parallel on {ctx.world_size} processes ({distributed.backend_for(run.train.x.device)}), "
            f"{config['batch_size']} points per process and step"
        )
    say(
        f"{len(run.train)} training and {len(run.test)} test images on {run.train.x.device}; {config['inference']}, "
        f"--model {config['model']} ({config['latent_dim']}-d latent"
        f"{', hidden ' + 'x'.join(map(str, config['hidden_dims'])) if config['hidden_dims'] else ''}), "
        f"{config['optimizer']} lr {config['lr']:g}"
    )
    # metrics.json is rebuilt from the checkpoint's history (never from scratch) and appended to
    state = run.checkpointer(out).restore() if settings["resume"] else None
    before = state.epoch if state is not None else 0
    earlier = earlier_evaluation(out, run, before) if state is not None else None
    metrics = {"config": config, "epochs": state.history if state is not None else []}
    if earlier is not None:
        metrics["test_log_likelihood"] = earlier
    if main_process and state is not None:
        write_json(out / "metrics.json", metrics)

    def on_epoch_end(state):
        last = state.history[-1]
        numbers = "  ".join(
            f"{k.replace('_', ' ')} {v:8.2f}" for k, v in last.items() if k.startswith(("train_", "test_"))
        )
        say(
            f"epoch {last['epoch']:3d}  {numbers}  {last['seconds']:5.1f} s  {last['examples_per_second']:7.0f} "
            "examples/s"
        )
        metrics["epochs"] = state.history
        write_json(out / "metrics.json", metrics)
        if board is not None:
            board.epoch(last, run)

    state = exp.train_in(run, out, state=state, on_epoch_end=on_epoch_end)
    metrics["epochs"] = state.history
    final = metrics["epochs"][-1] if metrics["epochs"] else {}
    ll = earlier if state.epoch == before else None
    if ll is None:
        try:
            start = time.perf_counter()
            ll = run.log_likelihood()  # every rank takes its share of the points
        except KeyboardInterrupt:
            raise cli.Interrupted(
                f"interrupted during the final evaluation; training is complete in {out}/checkpoint.pt: "
                "the same command with --resume runs the evaluation only"
            ) from None
        ll.update(epoch=state.epoch, seconds=time.perf_counter() - start)
    else:
        say(f"the final evaluation after epoch {state.epoch} was done before: read from {out}/metrics.json")
    metrics["test_log_likelihood"] = ll
    if not main_process:
        return
    write_json(out / "metrics.json", metrics)
    if board is not None:
        board.log_likelihood(ll, final.get("epoch", 0))
        board.close()
    save_figures(run, out, metrics, redraw=state.epoch != before)
    elbo = (
        f"test ELBO {final['test_elbo']:.2f} nats/datapoint after {final['epoch']} epoch{'s' * (final['epoch'] != 1)}; "
        if "test_elbo" in final
        else ""
    )
    print(
        f"{elbo}test log-likelihood ({ll['estimator']}, {ll['num_samples']} samples/steps, {ll['num_points']} points) "
        f"{ll['value']:.2f} ± {ll['standard_error']:.2f} nats/datapoint (± its Monte Carlo standard error)"
        f"{flag_note(ll)}"
    )
    print(f"wrote {out}/config.yaml, metrics.json, checkpoint.pt and figures")


def earlier_evaluation(out: Path, run, epoch: int):
    """The final log-likelihood an earlier call already computed for this epoch with these settings
    (a resumed finished run re-runs nothing but what is missing), or None."""
    try:
        earlier = (read_json(out / "metrics.json") or {}).get("test_log_likelihood")
    except ValueError:
        return None
    c = run.config
    wanted = {
        "epoch": epoch,
        "estimator": c["ll_estimator"],
        "num_samples": c["eval_samples"],
        "num_points": len(run.test) if c["eval_points"] is None else c["eval_points"],
    }
    # one without the points' flags (written before they were reported, with the old bounded
    # standard error) counts as missing
    complete = isinstance(earlier, dict) and "standard_error" in earlier and "unreliable" in earlier
    return earlier if complete and all(earlier.get(k) == v for k, v in wanted.items()) else None


def save_figures(run, out: Path, metrics: dict, redraw: bool) -> None:
    """samples.png, reconstructions.png, elbo.png and (Nz = 2) manifold.png: drawn after training,
    and on a resumed run that trained nothing only where one is missing."""
    config, shape = run.config, run.train.image_shape
    wanted = {
        "samples.png": lambda p: figures.save_samples(run.model, p, shape),
        "elbo.png": lambda p: figures.save_elbo_curves(
            metrics["epochs"], p, f"{config['inference']} on {config['dataset']}, Nz = {config['latent_dim']}"
        ),
    }
    if run.guide is not None:
        shown = run.test.x[:32]
        wanted["reconstructions.png"] = lambda p: figures.save_reconstructions(
            *run.scoring_pair(shown), shown, p, shape
        )
    if figures.has_manifold(run.model):
        wanted["manifold.png"] = lambda p: figures.save_manifold(run.model, p, shape)
    for name, draw in wanted.items():
        if redraw or not (out / name).exists():
            draw(out / name)


if __name__ == "__main__":
    sys.exit(cli.run(main))
