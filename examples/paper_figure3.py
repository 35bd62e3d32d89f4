#!/usr/bin/env python
"""Paper Figure 3: the estimated marginal log-likelihood against training samples evaluated,
AEVB vs wake-sleep vs Monte Carlo EM, MNIST with Nz = 3 and 100 hidden units, for training
sets of 1000 and 50000 points.

    python examples/paper_figure3.py                        # the CPU default budget
    python examples/paper_figure3.py --budget 60000000      # the paper's x-axis (GPU)

Figure 3's own defaults: --budget 1000000, --evals-per-decade 2, --methods aevb wake-sleep mcem.

log p(x) is estimated with Appendix D's estimator (--appendix-d-samples HMC posterior samples,
a density fitted to half of them, the harmonic-mean-type estimate on the other half; no
encoder involved, so the three algorithms are scored alike) on the first --curve-points
training and test points at
log-spaced sample counts. At the end of every run, annealed importance sampling (AIS, from the
prior) on the first --ais-points points checks the Appendix D numbers.

Settings as in §5 (N(0, 0.01²) initialisation, the N(0, I) weight prior, M = 100, L = 1,
Adagrad with the step size chosen per run from {0.01, 0.02, 0.1} on the first samples: by the
running training bound, or for MCEM, which has none, by AIS from the prior on --lr-search-points
held-out training points), with
Nz = 3 and 100 hidden units; MNIST binarised once (static). These settings define the figure and
are not flags; a --config file may change any of them (e.g. ``latent_dim: 4``, ``hidden_dims: [50]``;
Appendix D needs Nz < 5). MCEM (Appendix E: 10 leapfrog steps per E-step, step size adapted
toward 90% acceptance, 5 M-step updates per minibatch) runs on the small training set only by
default, as in the paper ("could not be run efficiently on the full set"); --mcem-on-full adds
it there. Writes metrics.json, figure3.png, figure3.pdf and runs/N_METHOD/ into --out; the same
command resumes an interrupted sweep.
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import sys

from aevb import cli, curves
from aevb import config as cfg
from aevb import paper as common

METHODS = ("aevb", "wake-sleep", "mcem")
BUDGET, EVALS_PER_DECADE = 1_000_000, 2
#: Figure 3's model (§5): Nz = 3 (Appendix D is valid for Nz < 5) and 100 hidden units.
FIGURE_MODEL = {"latent_dim": 3, "hidden_dims": [100]}
STYLE = {"aevb": "tab:red", "wake-sleep": "tab:blue", "mcem": "tab:green"}
NAMES = {"aevb": "AEVB", "wake-sleep": "Wake-Sleep", "mcem": "MCEM"}
#: This program's own options (the shared ones are in aevb.config).
OPTIONS = (
    cfg.Option("train_sizes", [1000, 50000], "Figure 3: training-set sizes (panels)", type=int, many=True, low=1),
    cfg.Option("mcem_on_full", False, "Figure 3: also run MCEM on training sets above 1000 points", type=bool),
    cfg.positive("curve_points", 1000, "Figure 3: first N training and test points scored by Appendix D (paper: 1000)"),
    cfg.Option(
        "appendix_d_samples",
        50,
        "Figure 3: HMC posterior samples per point for Appendix D (paper: 50)",
        type=int,
        low=4,
    ),
    cfg.Option("ais_points", 100, "Figure 3: points scored by AIS at the end of each run (0: none)", type=int, low=0),
)
PROGRAM = cli.Program(
    "paper_figure3",
    __doc__,
    config_keys=cfg.RUN_KEYS,
    keys=(
        "methods",
        "budget",
        "ais_steps",
        "first_eval",
        "evals_per_decade",
        *common.FIGURE_KEYS,
    ),
    options=OPTIONS,
)


def run_name(size, method):
    return f"n{size}_{method}"


def plot(runs, sizes, methods, title, stem):
    fig, axes = common.panels(len(sizes), 4.6, 3.8)
    for ax, size in zip(axes[0], sizes):
        for method in methods:
            curve = runs.get(run_name(size, method))
            if not curve or not curve["points"]:
                continue
            for key, style in (("train_ll", "-"), ("test_ll", "--")):
                x, y = curves.load_points(curve, key)
                ax.plot(
                    x, y, style, color=STYLE[method], marker="o", ms=3, label=f"{NAMES[method]} ({key.split('_')[0]})"
                )
            ais = curve.get("final")
            if ais:  # AIS at the end of the run: a cross per split
                last = curve["points"][-1]["examples"]
                ax.plot([last, last], [ais["train_ais"], ais["test_ais"]], "x", color=STYLE[method], ms=7)
        ax.set_xscale("log")
        ax.set_title(f"N_train = {size}")
        ax.set_xlabel("training samples evaluated")
        ax.grid(alpha=0.3, which="both")
    return common.save_panels(fig, axes, "marginal log-likelihood (nats)", title, stem)


def main(argv=None):
    settings = PROGRAM.parse(argv)
    try:
        draw(settings)
    except KeyboardInterrupt:
        raise cli.Interrupted(
            f"interrupted; finished runs and curve points are kept in {settings['out']}: the same command resumes"
        ) from None


def draw(settings):
    methods = settings["methods"] or list(METHODS)
    if not set(methods) <= set(METHODS):
        raise cli.UsageError(f"--methods: Figure 3 compares {', '.join(METHODS)}, got {methods}")
    budget = settings["budget"] or BUDGET
    targets = curves.sample_targets(
        budget, first=settings["first_eval"], per_decade=settings["evals_per_decade"] or EVALS_PER_DECADE
    )
    cap = settings["train_size"]
    sizes = [min(size, cap) if cap else size for size in settings["train_sizes"]]
    plan = [
        (size, method)
        for size in sizes
        for method in methods
        if method != "mcem" or size <= 1000 or settings["mcem_on_full"]
    ]
    sweep = common.Sweep(
        settings,
        num_runs=len(plan),
        per_run=budget,
        metrics={
            "figure": 3,
            "dataset": "mnist",
            "settings": {
                "budget": budget,
                "targets": targets,
                "train_sizes": sizes,
                "curve_points": settings["curve_points"],
                "appendix_d_samples": settings["appendix_d_samples"],
                "ais_points": settings["ais_points"],
                "ais_steps": settings["ais_steps"],
                "methods": methods,
            },
        },
    )
    with sweep:
        base = {
            **FIGURE_MODEL,
            **sweep.base_config("mnist", ll_estimator="appendix-d"),
        }  # a --config file's latent_dim / hidden_dim win
        sweep.metrics["settings"].update(base)
        PROGRAM.save(settings, sweep.out / "config.yaml")
        seed, ais_points = settings["seed"], settings["ais_points"]
        evaluate = curves.marginal_evaluator(
            settings["curve_points"], num_samples=settings["appendix_d_samples"], seed=seed
        )
        # the final model of each run, checked by AIS on the first --ais-points points
        check = (
            (lambda e, run_dir: curves.ais_check(e, ais_points, num_steps=settings["ais_steps"], seed=seed))
            if ais_points
            else None
        )
        for size, method in plan:
            sweep.run(
                run_name(size, method),
                {**base, "train_size": size, "inference": method},
                targets,
                evaluate,
                finish=check,
            )
        sweep.close()
        out, runs, metrics, say = sweep.out, sweep.runs, sweep.metrics, sweep.say
        title = (
            f"Figure 3, MNIST: Nz = {base['latent_dim']}, {'x'.join(map(str, base['hidden_dims']))} hidden units, "
            f"{base['optimizer']}, {budget:.1e} samples per run\n"
            f"Appendix D on {settings['curve_points']} points (train solid, test dashed); AIS on {ais_points} points "
            "at the end (×)"
        )
        paths = plot(runs, sizes, methods, title, out / "figure3")
        metrics["final"] = {
            name: {
                **{k: v for k, v in curve["points"][-1].items() if k.endswith(("_ll", "_ll_unreliable"))},
                **curve.get("final", {}),
            }
            for name, curve in runs.items()
        }
        sweep.write()
        for name, final in metrics["final"].items():
            say(
                f"{name}: "
                + ", ".join(f"{k} {v:.2f}" for k, v in final.items() if k.endswith(("_ll", "_ais")))
                + "".join(f", {k} {v}" for k, v in final.items() if k.endswith("_unreliable") and v)
            )
        say(f"wrote {out / 'metrics.json'}, {', '.join(map(str, paths))}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
