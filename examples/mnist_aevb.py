#!/usr/bin/env python
"""Auto-Encoding Variational Bayes on MNIST (Kingma & Welling 2013, §3 and §5), in Pyro.

    python examples/mnist_aevb.py --epochs 5 --out runs/mnist
    python examples/mnist_aevb.py --inference wake-sleep --epochs 5 --out runs/ws
    python examples/mnist_aevb.py --guide flow --estimator A --epochs 5 --out runs/flow
    python examples/mnist_aevb.py --inference iwae --num-particles 5 --epochs 5 --out runs/iwae
    torchrun --nproc-per-node 2 examples/mnist_aevb.py --epochs 5 --out runs/dp   # data-parallel
    python examples/mnist_aevb.py --inference mcem --latent-dim 3 --hidden-dim 100 --train-size 1000 \
        --ll-estimator ais --lr 3e-3 --out runs/mcem

trains the paper's VAE (784-500-Nz, tanh, Bernoulli decoder) with SVI (or IWAE, full VB with a
posterior over the decoder's weights, or a baseline: wake-sleep, reweighted wake-sleep, Monte
Carlo EM) and any guide (diagonal, full-covariance, flow, per-datapoint mean field), then writes into
--out: metrics.json, checkpoint.pt, samples.png, reconstructions.png, elbo.png and, for
--latent-dim 2, manifold.png (the paper's Figure 4). All numbers are nats per datapoint.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import figures  # noqa: E402  (examples/figures.py)

from data import DataError  # noqa: E402
from guides import FLOWS  # noqa: E402
from guides.global_latents import AUTOGUIDES  # noqa: E402
from inference import CheckpointError, TrainingDiverged  # noqa: E402
from inference import distributed  # noqa: E402
from inference import experiment as exp  # noqa: E402

# ----------------------------------------------------------------------------- configuration
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
d = exp.DEFAULTS
parser.add_argument("--inference", choices=sorted(exp.ALGORITHMS), default=d["inference"], help="fitting algorithm")
parser.add_argument("--guide", choices=sorted(exp.GUIDES), default=d["guide"], help="q(z|x): diag, fullcov, flow or meanfield")
parser.add_argument("--flow-steps", type=int, default=d["flow_steps"], help="flow guide: number of conditional flow steps K")
parser.add_argument("--flow-type", choices=sorted(FLOWS), default=d["flow_type"], help="flow guide: iaf, planar or radial")
parser.add_argument("--global-guide", choices=sorted(AUTOGUIDES), default=d["global_guide"],
                    help="full-vb: Pyro AutoGuide over the decoder weights (normal scales to MNIST; mvn only to small models)")
parser.add_argument("--refine-steps", type=int, default=d["refine_steps"],
                    help="meanfield guide: Adam steps fitting fresh parameters for each test point")
parser.add_argument("--refine-lr", type=float, default=d["refine_lr"], help="step size of those fits")
parser.add_argument("--ll-estimator", choices=exp.LL_ESTIMATORS, default=d["ll_estimator"],
                    help="test log-likelihood: is (guide proposal), appendix-d (HMC, Nz<5) or ais")
parser.add_argument("--epochs", type=int, default=d["epochs"], help="total epochs (also with --resume)")
parser.add_argument("--latent-dim", type=int, default=d["latent_dim"], help="Nz")
parser.add_argument("--hidden-dim", type=int, default=d["hidden_dim"], help="tanh units in encoder and decoder")
parser.add_argument("--batch-size", type=int, default=d["batch_size"], help="minibatch size M")
parser.add_argument("--estimator", choices=["A", "B"], default=d["estimator"], help="SGVB estimator: A generic, B analytic KL")
parser.add_argument("--num-particles", type=int, default=d["num_particles"], help="L, eps draws per datapoint (aevb, full-vb); k, importance samples (iwae, rws)")
parser.add_argument("--jit", action="store_true", help="compile the loss with Pyro's JIT (same estimator, less Python overhead)")
parser.add_argument("--optimizer", choices=["adam", "adagrad"], default=d["optimizer"])
parser.add_argument("--lr", type=float, default=None, help="step size (default: 1e-3 for adam, 0.02 for adagrad)")
parser.add_argument("--map-prior", action="store_true", help="add the paper's N(0, I) prior on the decoder weights (weight decay)")
parser.add_argument("--init", choices=["default", "paper"], default=d["init"], help="'paper': every parameter ~ N(0, 0.01^2)")
parser.add_argument("--binarize", choices=["dynamic", "static", "none"], default=d["binarize"])
parser.add_argument("--train-size", type=int, default=None, help="use the first N training images")
parser.add_argument("--test-size", type=int, default=None, help="use the first N test images")
parser.add_argument("--elbo-samples", type=int, default=d["elbo_samples"], help="z draws per point for the test ELBO")
parser.add_argument("--eval-samples", type=int, default=d["eval_samples"],
                    help="is: K importance samples; appendix-d: posterior samples; ais: annealing steps")
parser.add_argument("--eval-points", type=int, default=None, help="test points for the log-likelihood (default: all)")
parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
parser.add_argument("--seed", type=int, default=d["seed"])
parser.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files (default: $AEVB_DATA_DIR or .data/)")
parser.add_argument("--out", default="runs/mnist_aevb", help="output folder")
parser.add_argument("--resume", action="store_true", help="continue the run checkpointed in --out")
parser.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
args = parser.parse_args()


def main():
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    main_process = distributed.is_main_process()  # under torchrun only rank 0 prints and writes
    say = print if main_process and not args.quiet else (lambda *a: None)
    config = {k: getattr(args, k) for k in exp.DEFAULTS if hasattr(args, k)}
    config["lr"] = args.lr if args.lr is not None else {"adam": 1e-3, "adagrad": 0.02}[args.optimizer]
    if args.resume:
        config = exp.resume_config(out / "checkpoint.pt", config)
    run = exp.build(config, data_dir=args.data_dir, device=args.device, log=say)
    ctx = distributed.current()
    if ctx.enabled:
        say(f"data-parallel on {ctx.world_size} processes ({distributed.backend_for(run.train.x.device)}), "
            f"{config['batch_size']} points per process and step")
    say(f"{len(run.train)} training and {len(run.test)} test images on {run.train.x.device}; {config['inference']}, "
        f"{config['latent_dim']}-d latent, {config['hidden_dim']} hidden, {config['optimizer']} lr {config['lr']}")
    metrics = {"config": run.config, "epochs": []}

    def on_epoch_end(state):
        last = state.history[-1]
        numbers = "  ".join(f"{k.replace('_', ' ')} {v:8.2f}" for k, v in last.items() if k.startswith(("train_", "test_")))
        say(f"epoch {last['epoch']:3d}  {numbers}  {last['seconds']:5.1f} s  {last['examples_per_second']:7.0f} examples/s")
        metrics["epochs"] = state.history
        exp.write_json(out / "metrics.json", metrics)

    exp.train(run, out, resume=args.resume, progress=not args.quiet, on_epoch_end=on_epoch_end)

    start = time.perf_counter()
    metrics["test_log_likelihood"] = ll = run.log_likelihood()  # every rank takes its share of the points
    ll["seconds"] = time.perf_counter() - start
    if not main_process:
        return
    exp.write_json(out / "metrics.json", metrics)
    figures.save_samples(run.model, out / "samples.png", run.train.image_shape)
    if run.guide is not None:
        shown = run.test.x[:32]
        figures.save_reconstructions(*run.scoring_pair(shown), shown, out / "reconstructions.png", run.train.image_shape)
    figures.save_elbo_curves(metrics["epochs"], out / "elbo.png", f"{config['inference']} on MNIST, Nz = {config['latent_dim']}")
    if config["latent_dim"] == 2:
        figures.save_manifold(run.model, out / "manifold.png", run.train.image_shape)
    final = metrics["epochs"][-1] if metrics["epochs"] else {}
    elbo = f"test ELBO {final['test_elbo']:.2f} nats/datapoint after {final['epoch']} epochs; " if "test_elbo" in final else ""
    print(f"{elbo}test log-likelihood ({ll['estimator']}, {ll['num_samples']} samples/steps, {ll['num_points']} points) "
          f"{ll['value']:.2f} nats/datapoint")
    print(f"wrote {out}/metrics.json, checkpoint.pt and figures")


if __name__ == "__main__":
    try:
        main()
        distributed.shutdown()
    except (DataError, CheckpointError, TrainingDiverged, ValueError) as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt:
        sys.exit("interrupted; the last finished epoch is in the checkpoint: rerun with --resume")
