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

trains the paper's VAE (784-500-Nz, tanh, Bernoulli decoder) with SVI (or IWAE, full VB with a
posterior over the decoder's weights, or a baseline: wake-sleep, reweighted wake-sleep, Monte
Carlo EM) and any guide (diagonal, full-covariance, flow, per-datapoint mean field), then writes into
--out: config.yaml (the resolved configuration: --config reruns it), metrics.json, checkpoint.pt,
samples.png, reconstructions.png, elbo.png and, for --latent-dim 2, manifold.png (the paper's
Figure 4); with --tensorboard DIR also TensorBoard event files. All numbers are nats per datapoint.
"""

import sys
import time
from pathlib import Path

from aevb import cli, figures, tracking
from aevb import experiment as exp
from aevb.config import RUN_KEYS
from aevb.files import write_json
from aevb.inference import distributed, progress

PROGRAM = cli.Program("mnist_aevb", __doc__, keys=(*RUN_KEYS, "out", "data_dir", "device", "resume", "quiet", "tensorboard"))


def main(argv=None):
    settings = PROGRAM.parse(argv)
    out = Path(settings["out"])
    out.mkdir(parents=True, exist_ok=True)
    main_process = distributed.is_main_process()  # under torchrun only rank 0 prints and writes
    say = progress.write if main_process and not settings["quiet"] else (lambda *a: None)
    if settings["resume"]:
        config = exp.resume_config(out / "checkpoint.pt", settings.run_keys(explicit_only=True))
    else:
        config = settings.run_keys()
    run = exp.build(config, data_dir=settings["data_dir"], device=settings["device"], log=say, progress=not settings["quiet"])
    config = run.config  # resolved: every default that depends on other keys filled in
    board = tracking.logger(settings["tensorboard"], {**settings, **config}) if main_process else None
    if main_process:
        PROGRAM.save(settings, out / "config.yaml", **config)
    ctx = distributed.current()
    if ctx.enabled:
        say(f"data-parallel on {ctx.world_size} processes ({distributed.backend_for(run.train.x.device)}), "
            f"{config['batch_size']} points per process and step")
    say(f"{len(run.train)} training and {len(run.test)} test images on {run.train.x.device}; {config['inference']}, "
        f"{config['latent_dim']}-d latent, {config['hidden_dim']} hidden, {config['optimizer']} lr {config['lr']:g}")
    metrics = {"config": config, "epochs": []}

    def on_epoch_end(state):
        last = state.history[-1]
        numbers = "  ".join(f"{k.replace('_', ' ')} {v:8.2f}" for k, v in last.items() if k.startswith(("train_", "test_")))
        say(f"epoch {last['epoch']:3d}  {numbers}  {last['seconds']:5.1f} s  {last['examples_per_second']:7.0f} examples/s")
        metrics["epochs"] = state.history
        write_json(out / "metrics.json", metrics)
        if board is not None:
            board.epoch(last, run)

    exp.train(run, out, resume=settings["resume"], on_epoch_end=on_epoch_end)

    start = time.perf_counter()
    metrics["test_log_likelihood"] = ll = run.log_likelihood()  # every rank takes its share of the points
    ll["seconds"] = time.perf_counter() - start
    if not main_process:
        return
    write_json(out / "metrics.json", metrics)
    final = metrics["epochs"][-1] if metrics["epochs"] else {}
    if board is not None:
        board.log_likelihood(ll, final.get("epoch", 0))
        board.close()
    figures.save_samples(run.model, out / "samples.png", run.train.image_shape)
    if run.guide is not None:
        shown = run.test.x[:32]
        figures.save_reconstructions(*run.scoring_pair(shown), shown, out / "reconstructions.png", run.train.image_shape)
    figures.save_elbo_curves(metrics["epochs"], out / "elbo.png", f"{config['inference']} on {config['dataset']}, Nz = {config['latent_dim']}")
    if config["latent_dim"] == 2:
        figures.save_manifold(run.model, out / "manifold.png", run.train.image_shape)
    elbo = f"test ELBO {final['test_elbo']:.2f} nats/datapoint after {final['epoch']} epochs; " if "test_elbo" in final else ""
    print(f"{elbo}test log-likelihood ({ll['estimator']}, {ll['num_samples']} samples/steps, {ll['num_points']} points) "
          f"{ll['value']:.2f} nats/datapoint")
    print(f"wrote {out}/config.yaml, metrics.json, checkpoint.pt and figures")


if __name__ == "__main__":
    sys.exit(cli.run(main, interrupted="interrupted; finished epochs are in the checkpoint: rerun with --resume"))
