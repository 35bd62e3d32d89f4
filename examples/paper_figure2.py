#!/usr/bin/env python
"""Paper Figure 2: AEVB against wake-sleep, the variational lower bound per datapoint (train
solid, test dashed) against training samples evaluated, one panel per latent size.

    python examples/paper_figure2.py                       # MNIST, Nz = 3, 5, 10, 20, 200
    python examples/paper_figure2.py --data frey           # Frey Face (Fashion-MNIST offline)
    python examples/paper_figure2.py --budget 100000000    # the paper's 10⁸ samples per run (GPU)

Figure 2's own defaults: --budget 1500000 (fits the MNIST panels in about half an hour on 2 CPU
cores), --evals-per-decade 5, --latent-dims 3 5 10 20 200 (MNIST) or 2 5 10 20 (Frey Face),
--methods aevb wake-sleep.

The paper's settings (§5): one tanh hidden layer of 500 units (MNIST) or 200 (Frey Face, with
the Gaussian decoder), every parameter initialised from N(0, 0.01²), the N(0, I) weight prior
(weight decay), M = 100, L = 1, and Adagrad with the step size chosen from {0.01, 0.02, 0.1}
by the training bound after the first --lr-search-samples samples, separately for every run.
MNIST is binarised once (static), so a gap between the train and test curves is over-fitting.
These settings define the figure and are not flags; a --config file may change any of them
(e.g. ``optimizer: adam``).

Both methods are scored with the same estimator: the ELBO with --bound-samples draws from
q(z|x) per point, on the first --train-eval-points training points and on the whole test set,
at log-spaced sample counts; the final models again with 10 draws per test point, and AEVB
minus wake-sleep per Nz as a paired mean over the test points with its standard error. Writes into --out:
metrics.json (every curve's points, the step-size trials,
settings, machine and wall time), figure2.png and figure2.pdf, and runs/NZ_METHOD/ with each
run's checkpoint and curve.json; running the same command again resumes an interrupted sweep
and reads back finished runs.
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import math
import sys

import torch

from aevb import cli, curves
from aevb import config as cfg
from aevb import paper as common
from aevb.files import save_torch
from aevb.inference.estimators.elbo import elbo_per_point

METHODS = ("aevb", "wake-sleep")
LATENT_DIMS = {"mnist": [3, 5, 10, 20, 200], "frey": [2, 5, 10, 20]}
BUDGET, EVALS_PER_DECADE = 1_500_000, 5
STYLE = {"aevb": "tab:red", "wake-sleep": "tab:blue"}
PROGRAM = cli.Program(
    "paper_figure2",
    __doc__,
    config_keys=cfg.RUN_KEYS,
    keys=(
        "data",
        "latent_dims",
        "methods",
        "budget",
        "hidden_dims",
        "train_eval_points",
        "bound_samples",
        "first_eval",
        "evals_per_decade",
        *common.FIGURE_KEYS,
    ),
)


def run_name(nz, method):
    return f"nz{nz}_{method}"


#: Draws per test point for the final bound, and the paired comparison of the two methods.
FINAL_SAMPLES = 10


def final_test_bound(experiment, run_dir):
    """The final model's test bound with :data:`FINAL_SAMPLES` draws per point; the per-point
    values are kept in ``test_bound_per_point.pt`` for the paired comparison."""
    model, guide = experiment.scoring_pair(experiment.test.x)
    per_point = elbo_per_point(
        model,
        guide,
        experiment.test.x,
        num_samples=FINAL_SAMPLES,
        seed=experiment.config["seed"],
        progress=experiment.progress and "final test bound",
    ).cpu()
    save_torch(per_point, run_dir / "test_bound_per_point.pt")
    return {"test_bound": per_point.mean().item(), "samples_per_point": FINAL_SAMPLES}


def paired_difference(out, nz) -> dict:
    """Mean over test points of AEVB's bound minus wake-sleep's, and its standard error: the
    same points and seeds for both, so the pairing removes the points' own spread."""
    a, w = (torch.load(out / "runs" / run_name(nz, m) / "test_bound_per_point.pt") for m in ("aevb", "wake-sleep"))
    diff = a - w
    return {"mean": diff.mean().item(), "standard_error": (diff.std() / len(diff) ** 0.5).item(), "points": len(diff)}


def plot(runs, latent_dims, methods, title, stem):
    fig, axes = common.panels(len(latent_dims), 3.4, 3.4)
    for ax, nz in zip(axes[0], latent_dims):
        finals = []
        for method in methods:
            curve = runs.get(run_name(nz, method))
            if not curve or not curve["points"]:
                continue
            for key, style in (("train_bound", "-"), ("test_bound", "--")):
                x, y = curves.load_points(curve, key)
                ax.plot(
                    x,
                    y,
                    style,
                    color=STYLE[method],
                    marker="o",
                    ms=2.5,
                    label=f"{'AEVB' if method == 'aevb' else 'Wake-Sleep'} ({key.split('_')[0]})",
                )
                finals.append(y[-1])
        ax.set_xscale("log")
        ax.set_title(f"Nz = {nz}")
        ax.set_xlabel("training samples evaluated")
        ax.grid(alpha=0.3, which="both")
        if finals:  # the range the paper shows: the converged values and some way below them
            top, bottom = max(finals), min(finals)
            span = max(top - bottom, 0.05 * abs(top), 5.0)
            ax.set_ylim(bottom - 2.0 * span, top + 0.3 * span)
    return common.save_panels(fig, axes, "lower bound per datapoint (nats)", title, stem)


def main(argv=None):
    settings = PROGRAM.parse(argv)
    try:
        draw(settings)
    except KeyboardInterrupt:
        raise cli.Interrupted(
            f"interrupted; finished runs and curve points are kept in {settings['out']}: the same command resumes"
        ) from None


def draw(settings):
    say = common.say_for(settings)
    methods = settings["methods"] or list(METHODS)
    if not set(methods) <= set(METHODS):
        raise cli.UsageError(f"--methods: Figure 2 compares {' and '.join(METHODS)}, got {methods}")
    budget = settings["budget"] or BUDGET
    chosen = common.resolve_dataset(settings, say)
    dataset, hidden = chosen["dataset"], chosen["hidden"]
    latent_dims = settings["latent_dims"] or LATENT_DIMS[settings["data"]]
    targets = curves.sample_targets(
        budget, first=settings["first_eval"], per_decade=settings["evals_per_decade"] or EVALS_PER_DECADE
    )
    plan = [(nz, method) for nz in latent_dims for method in methods]
    sweep = common.Sweep(
        settings,
        num_runs=len(plan),
        per_run=budget,
        metrics={
            "figure": 2,
            "data": settings["data"],
            "dataset": dataset,
            "dataset_label": chosen["label"],
            "fallback": chosen["fallback"],
            "settings": {
                "budget": budget,
                "targets": targets,
                "train_eval_points": settings["train_eval_points"],
                "bound_samples": settings["bound_samples"],
                "latent_dims": latent_dims,
                "methods": methods,
            },
        },
    )
    with sweep:
        base = sweep.base_config(dataset, hidden_dims=hidden)
        sweep.metrics["settings"].update(base)
        PROGRAM.save(settings, sweep.out / "config.yaml")
        evaluate = curves.bound_evaluator(
            settings["train_eval_points"], num_samples=settings["bound_samples"], seed=settings["seed"]
        )
        for nz, method in plan:
            sweep.run(
                run_name(nz, method),
                {**base, "latent_dim": nz, "inference": method},
                targets,
                evaluate,
                finish=final_test_bound,
            )
        sweep.close()
        out, runs = sweep.out, sweep.runs
        title = (
            f"Figure 2, {chosen['label']}: AEVB vs wake-sleep\n{'x'.join(map(str, hidden))} hidden units, "
            f"{base['optimizer']}, "
            f"{budget:.1e} samples per run; train solid, test dashed"
        )
        paths = plot(runs, latent_dims, methods, title, out / "figure2")
        verdict = {}
        for nz in latent_dims:
            finals = {m: runs[run_name(nz, m)]["final"]["test_bound"] for m in methods}
            verdict[f"nz{nz}"] = finals
            if not all(math.isfinite(v) for v in finals.values()):
                say(f"warning: Nz = {nz} has non-finite final bounds: {finals}")
        metrics = sweep.metrics
        metrics["final_test_bound"] = verdict
        if set(METHODS) <= set(methods):
            metrics["aevb_minus_wake_sleep_on_test"] = {f"nz{nz}": paired_difference(out, nz) for nz in latent_dims}
            metrics["aevb_above_wake_sleep_on_test"] = {
                k: v["mean"] > 0 for k, v in metrics["aevb_minus_wake_sleep_on_test"].items()
            }
        sweep.write()
        for nz, finals in verdict.items():
            line = f"{nz}: final test bound ({FINAL_SAMPLES} draws per point) " + ", ".join(
                f"{m} {v:.2f}" for m, v in finals.items()
            )
            if "aevb_minus_wake_sleep_on_test" in metrics:
                d = metrics["aevb_minus_wake_sleep_on_test"][nz]
                line += f"; AEVB − wake-sleep {d['mean']:+.2f} ± {d['standard_error']:.2f} (paired s.e.)"
            say(line)
        say(f"wrote {out / 'metrics.json'}, {', '.join(map(str, paths))}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
