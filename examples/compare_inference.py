#!/usr/bin/env python
"""Compare guides and inference algorithms on the same model, data, seed and budget.

    python examples/compare_inference.py --guides diag fullcov flow --inference aevb iwae:5 \
        --estimator A --epochs 10 --out runs/compare

runs every pair of --guides × --inference (``NAME:K`` sets --num-particles to K for that
column, e.g. ``iwae:5``) on MNIST with the same seed, data order and budget (--epochs, or
--seconds of training per pair), and writes into --out:

* results.csv and results.md: test ELBO, IS log-likelihood (the same K and test points for
  every pair), amortisation gap, training seconds and examples/s, and the error of any pair
  that could not run (the others still run);
* comparison.png: test ELBO against training examples seen, one curve per pair;
* pairs/GUIDE_INFERENCE/: each pair's metrics.json and checkpoint.pt. With --resume, pairs that
  finished are read back instead of rerun.

Runs data-parallel unchanged under ``torchrun --nproc-per-node K`` (see docs/distributed.md).
"""

import argparse
import csv
import json
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from guides import FLOWS  # noqa: E402
from inference import distributed  # noqa: E402
from inference import experiment as exp  # noqa: E402

# ----------------------------------------------------------------------------- configuration
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
d = exp.DEFAULTS
parser.add_argument("--guides", nargs="+", default=["diag", "fullcov", "flow"], help=f"from {sorted(exp.GUIDES)}")
parser.add_argument("--inference", nargs="+", default=["aevb", "iwae:5"], help=f"NAME or NAME:K, NAME from {sorted(exp.ALGORITHMS)}")
parser.add_argument("--epochs", type=int, default=10, help="epochs per pair (the budget unless --seconds is given)")
parser.add_argument("--seconds", type=float, default=None, help="training-time budget per pair instead (the epoch it ends in counts)")
parser.add_argument("--estimator", choices=["A", "B"], default="A",
                    help="SGVB estimator for aevb and full-vb (default A: the one every guide supports)")
parser.add_argument("--num-particles", type=int, default=1, help="L or k for columns given without :K")
parser.add_argument("--latent-dim", type=int, default=d["latent_dim"])
parser.add_argument("--hidden-dim", type=int, default=d["hidden_dim"])
parser.add_argument("--batch-size", type=int, default=d["batch_size"])
parser.add_argument("--optimizer", choices=["adam", "adagrad"], default=d["optimizer"])
parser.add_argument("--lr", type=float, default=d["lr"])
parser.add_argument("--flow-steps", type=int, default=d["flow_steps"])
parser.add_argument("--flow-type", choices=sorted(FLOWS), default=d["flow_type"])
parser.add_argument("--refine-steps", type=int, default=d["refine_steps"], help="per-point Adam steps: amortisation gap, meanfield test fit")
parser.add_argument("--refine-lr", type=float, default=d["refine_lr"])
parser.add_argument("--gap-points", type=int, default=1000, help="test points for the amortisation gap")
parser.add_argument("--eval-samples", type=int, default=1000, help="K for the IS log-likelihood")
parser.add_argument("--eval-points", type=int, default=1000, help="test points for the IS log-likelihood")
parser.add_argument("--train-size", type=int, default=None)
parser.add_argument("--test-size", type=int, default=None)
parser.add_argument("--seed", type=int, default=d["seed"])
parser.add_argument("--device", default="auto")
parser.add_argument("--data-dir", default=None)
parser.add_argument("--out", default="runs/compare")
parser.add_argument("--resume", action="store_true", help="keep the pairs already finished in --out")
parser.add_argument("--quiet", action="store_true")
args = parser.parse_args()

COLUMNS = ["guide", "inference", "num_particles", "test_elbo", "test_log_likelihood", "amortisation_gap",
           "epochs", "examples", "seconds", "examples_per_second", "error"]


def parse_inference(spec: str):
    name, _, k = spec.partition(":")
    if name not in exp.ALGORITHMS:
        raise SystemExit(f"error: --inference {spec}: {name!r} is not one of {sorted(exp.ALGORITHMS)}")
    if k and not (k.isdigit() and int(k) >= 1):
        raise SystemExit(f"error: --inference {spec}: K must be a positive integer")
    return name, int(k) if k else args.num_particles


def run_pair(guide: str, name: str, k: int, out: Path, log) -> dict:
    """Train and score one pair; returns its row (with its curve under "curve")."""
    config = {
        "guide": guide, "inference": name, "num_particles": k, "estimator": args.estimator,
        "epochs": args.epochs if args.seconds is None else 10**6, "latent_dim": args.latent_dim,
        "hidden_dim": args.hidden_dim, "batch_size": args.batch_size, "optimizer": args.optimizer, "lr": args.lr,
        "flow_steps": args.flow_steps, "flow_type": args.flow_type, "refine_steps": args.refine_steps,
        "refine_lr": args.refine_lr, "eval_samples": args.eval_samples, "eval_points": args.eval_points,
        "train_size": args.train_size, "test_size": args.test_size, "seed": args.seed,
    }
    run = exp.build(config, data_dir=args.data_dir, device=args.device, log=log)
    out.mkdir(parents=True, exist_ok=True)
    state = exp.train(run, out, progress=not args.quiet, max_seconds=args.seconds)
    history = state.history
    row = {
        "test_elbo": history[-1].get("test_elbo"),
        "test_log_likelihood": run.log_likelihood()["value"] if run.guide is not None else None,
        "amortisation_gap": run.amortisation_gap(args.gap_points)["gap"] if run.guide is not None and run.guide.amortised else None,
        "epochs": len(history), "examples": history[-1]["examples"],
        "seconds": sum(h["seconds"] for h in history),
    }
    row["examples_per_second"] = row["examples"] / row["seconds"]
    row["curve"] = [(h["examples"], h.get("test_elbo")) for h in history]
    if distributed.is_main_process():
        exp.write_json(out / "metrics.json", {"config": run.config, "epochs": history, "result": row})
    return row


def save_comparison(rows, path):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        curve = [(n, e) for n, e in row.get("curve") or [] if e is not None]
        if curve:
            ax.plot(*zip(*curve), "-o", ms=3, label=f"{row['guide']} / {row['inference']}" + (f" (k={row['num_particles']})" if row["num_particles"] > 1 else ""))
    ax.set_xscale("log")
    ax.set_xlabel("training examples seen")
    ax.set_ylabel("test ELBO per datapoint (nats, higher is better)")
    ax.set_title(f"MNIST, Nz = {args.latent_dim}: guides × inference, seed {args.seed}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    main_process = distributed.is_main_process()  # under torchrun only rank 0 prints and writes
    say = tqdm.write if main_process and not args.quiet else (lambda *a: None)
    columns = [parse_inference(spec) for spec in args.inference]
    unknown = [g for g in args.guides if g not in exp.GUIDES]
    if unknown:
        raise SystemExit(f"error: unknown guides {unknown}; choose from {sorted(exp.GUIDES)}")
    pairs = [(g, name, k) for g in args.guides for name, k in columns]
    rows = []
    for guide, name, k in tqdm(pairs, desc="pairs", disable=args.quiet or not main_process, dynamic_ncols=True):
        folder = out / "pairs" / (f"{guide}_{name}" + ("" if k == 1 else f"_k{k}"))
        row = {"guide": guide, "inference": name, "num_particles": k}
        done = folder / "metrics.json"
        finished = json.loads(done.read_text()) if args.resume and done.exists() else {}
        if "result" in finished:
            row.update(finished["result"])
            say(f"{guide} / {name}: finished earlier, read from {done}")
        else:
            start = time.perf_counter()
            try:
                row.update(run_pair(guide, name, k, folder, say))
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001  (one failing pair must not stop the grid)
                row["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                if not isinstance(e, ValueError):
                    traceback.print_exc()
            say(f"{guide} / {name}" + (f" (k={k})" if k > 1 else "") + f": {row.get('error') or 'test ELBO %.2f, IS %.2f' % (row['test_elbo'] or float('nan'), row['test_log_likelihood'] or float('nan'))}"
                f"  [{time.perf_counter() - start:.0f} s]")
        rows.append(row)
        if main_process:
            write_results(rows, out)
    if main_process:
        save_comparison(rows, out / "comparison.png")
        print(f"wrote {out}/results.csv, results.md and comparison.png")


def write_results(rows, out: Path) -> None:
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    budget = f"{args.seconds:g} s of training" if args.seconds is not None else f"{args.epochs} epochs"
    header = ["guide", "inference", "k / L", "test ELBO", f"IS log-lik. (K={args.eval_samples}, {args.eval_points} pts)",
              f"amortisation gap ({args.gap_points} pts, {args.refine_steps} steps)", "epochs", "seconds", "examples/s", "error"]

    def fmt(v, spec=".2f"):
        return "" if v is None else format(v, spec)

    lines = [f"Budget per pair: {budget}; estimator {args.estimator}; seed {args.seed}. Nats per datapoint, higher is better; "
             "the gap is ELBO after refinement minus the encoder's ELBO.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["guide"], r["inference"], str(r["num_particles"]), fmt(r.get("test_elbo")), fmt(r.get("test_log_likelihood")),
                 fmt(r.get("amortisation_gap"), ".3f"), fmt(r.get("epochs"), "d"), fmt(r.get("seconds"), ".0f"),
                 fmt(r.get("examples_per_second"), ".0f"), (r.get("error") or "").replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    (out / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
    distributed.shutdown()
