#!/usr/bin/env python
"""Paper Figure 3: the estimated marginal log-likelihood against training samples evaluated,
AEVB vs wake-sleep vs Monte Carlo EM, MNIST with Nz = 3 and 100 hidden units, for training
sets of 1000 and 50000 points.

    python examples/paper_figure3.py                        # the CPU default budget
    python examples/paper_figure3.py --budget 60000000      # the paper's x-axis (GPU)

log p(x) is estimated with Appendix D's estimator (HMC posterior samples, a density fitted to
half of them, the harmonic-mean-type estimate on the other half; no encoder involved, so the
three algorithms are scored alike) on the first --eval-points training and test points at
log-spaced sample counts. At the end of every run, annealed importance sampling (AIS, from the
prior) on the first --ais-points points checks the Appendix D numbers.

Settings as in §5 (N(0, 0.01²) initialisation, the N(0, I) weight prior, M = 100, L = 1,
Adagrad with the step size chosen per run from {0.01, 0.02, 0.1} on the first samples); MNIST
binarised once (static). MCEM (Appendix E: 10 leapfrog steps per E-step, step size adapted
toward 90% acceptance, 5 M-step updates per minibatch) runs on the small training set only by
default, as in the paper ("could not be run efficiently on the full set"); --mcem-on-full adds
it there. Writes metrics.json, figure3.png, figure3.pdf and runs/N_METHOD/ into --out; the same
command resumes an interrupted sweep.
"""


import paper_common as common
from paper_common import plt

from inference import curves

METHODS = ("aevb", "wake-sleep", "mcem")
STYLE = {"aevb": "tab:red", "wake-sleep": "tab:blue", "mcem": "tab:green"}
NAMES = {"aevb": "AEVB", "wake-sleep": "Wake-Sleep", "mcem": "MCEM"}

parser = common.base_parser(__doc__, out="runs/paper_figure3")
parser.add_argument("--train-sizes", type=int, nargs="+", default=[1000, 50000], help="training-set sizes (panels)")
parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
parser.add_argument("--mcem-on-full", action="store_true", help="also run MCEM on training sets above 1000 points")
parser.add_argument("--budget", type=int, default=1_000_000, help="training samples per run (the paper's x-axis reaches 6·10⁷)")
parser.add_argument("--latent-dim", type=int, default=3, help="Appendix D is valid for Nz < 5")
parser.add_argument("--hidden-dim", type=int, default=100)
parser.add_argument("--eval-points", type=int, default=1000, help="first N training and test points scored (paper: 1000)")
parser.add_argument("--eval-samples", type=int, default=50, help="HMC posterior samples per point (paper: 50)")
parser.add_argument("--ais-points", type=int, default=100, help="points scored by AIS at the end of each run (0: none)")
parser.add_argument("--ais-steps", type=int, default=300, help="AIS annealing steps")
parser.add_argument("--first-eval", type=int, default=10_000, help="samples at the first evaluation")
parser.add_argument("--evals-per-decade", type=int, default=2)
args = parser.parse_args()
common.check_positive(parser, args, ["budget", "latent_dim", "hidden_dim", "eval_points", "eval_samples", "ais_steps", "first_eval",
                                     "evals_per_decade", "lr_search_samples"])
if not 1 <= args.latent_dim < 5:
    parser.error("--latent-dim must be between 1 and 4: Appendix D's estimator is valid for Nz < 5")
if args.eval_samples < 4:
    parser.error("--eval-samples must be at least 4 (half the samples fit the density, half estimate)")
if args.ais_points < 0:
    parser.error("--ais-points must be 0 or more")


def run_name(size, method):
    return f"n{size}_{method}"


def plot(runs, title, stem):
    fig, axes = plt.subplots(1, len(args.train_sizes), figsize=(4.6 * len(args.train_sizes), 3.8), squeeze=False)
    for ax, size in zip(axes[0], args.train_sizes):
        for method in args.methods:
            curve = runs.get(run_name(size, method))
            if not curve or not curve["points"]:
                continue
            for key, style in (("train_ll", "-"), ("test_ll", "--")):
                x, y = curves.load_points(curve, key)
                ax.plot(x, y, style, color=STYLE[method], marker="o", ms=3, label=f"{NAMES[method]} ({key.split('_')[0]})")
            ais = curve.get("final")
            if ais:  # AIS at the end of the run: a cross per split
                last = curve["points"][-1]["examples"]
                ax.plot([last, last], [ais["train_ais"], ais["test_ais"]], "x", color=STYLE[method], ms=7)
        ax.set_xscale("log")
        ax.set_title(f"N_train = {size}")
        ax.set_xlabel("training samples evaluated")
        ax.grid(alpha=0.3, which="both")
    return common.save_panels(fig, axes, "marginal log-likelihood (nats)", title, stem)


def main():
    targets = curves.sample_targets(args.budget, first=args.first_eval, per_decade=args.evals_per_decade)
    sizes = [min(size, args.train_size) if args.train_size else size for size in args.train_sizes]
    plan = [(size, method) for size in sizes for method in args.methods if method != "mcem" or size <= 1000 or args.mcem_on_full]
    sweep = common.Sweep(args, num_runs=len(plan), per_run=args.budget, metrics={
        "figure": 3, "dataset": "mnist",
        "settings": {"budget": args.budget, "targets": targets, "train_sizes": sizes, "eval_points": args.eval_points,
                     "eval_samples": args.eval_samples, "ais_points": args.ais_points, "ais_steps": args.ais_steps,
                     "methods": args.methods},
    })
    base = sweep.base_config("mnist", latent_dim=args.latent_dim, hidden_dim=args.hidden_dim, ll_estimator="appendix-d")
    sweep.metrics["settings"].update(base)
    evaluate = curves.marginal_evaluator(args.eval_points, num_samples=args.eval_samples, seed=args.seed)
    # the final model of each run, checked by AIS on the first --ais-points points
    check = (lambda e, run_dir: curves.ais_check(e, args.ais_points, num_steps=args.ais_steps, seed=args.seed)) if args.ais_points else None
    for size, method in plan:
        sweep.run(run_name(size, method), {**base, "train_size": size, "inference": method}, targets, evaluate, finish=check)
    sweep.close()
    out, runs, metrics, say = sweep.out, sweep.runs, sweep.metrics, sweep.say
    title = (f"Figure 3, MNIST: Nz = {args.latent_dim}, {args.hidden_dim} hidden units, {args.optimizer}, {args.budget:.1e} samples per run\n"
             f"Appendix D on {args.eval_points} points (train solid, test dashed); AIS on {args.ais_points} points at the end (×)")
    paths = plot(runs, title, out / "figure3")
    metrics["final"] = {name: {**{k: v for k, v in curve["points"][-1].items() if k.endswith("_ll")}, **curve.get("final", {})}
                        for name, curve in runs.items()}
    sweep.write()
    for name, final in metrics["final"].items():
        say(f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in final.items() if k.endswith(("_ll", "_ais"))))
    say(f"wrote {out / 'metrics.json'}, {', '.join(map(str, paths))}")


if __name__ == "__main__":
    main()
