#!/usr/bin/env python
"""Paper Figures 4 and 5 (Appendix A): the learned 2-D manifold (Nz = 2: the decoder's mean on a
grid of the unit square mapped through the inverse Gaussian CDF) and random samples (decoder
means for z ~ N(0, I)) from models with Nz = 2, 5, 10 and 20, trained with AEVB.

    python examples/paper_figure4_5.py                 # MNIST
    python examples/paper_figure4_5.py --data frey     # Frey Face (Fashion-MNIST offline)

Trained with the paper's settings (§5; see paper_figure2.py) for --budget samples each (the
figures' own default: 1000000; --latent-dims default 2 5 10 20). Writes
into --out: figure4.png/.pdf (the manifold), figure5.png/.pdf (samples, one panel per Nz),
metrics.json (each model's final train and test bound, step-size trials, settings, machine,
wall time) and runs/nzK/ (checkpoint, curve.json and the decoded images as images.pt); the
same command resumes and reads back finished runs.
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import sys
from pathlib import Path

import torch

from aevb import cli, curves, figures
from aevb import config as cfg
from aevb import paper as common
from aevb.files import save_torch

LATENT_DIMS, BUDGET = [2, 5, 10, 20], 1_000_000
#: This program's own options (the shared ones are in aevb.config).
OPTIONS = (
    cfg.positive("grid", 20, "Figure 4: manifold grid size (grid x grid images)"),
    cfg.positive("sample_images", 100, "Figure 5: random samples per model (a square number fills the panel)"),
)
PROGRAM = cli.Program(
    "paper_figure4_5",
    __doc__,
    config_keys=cfg.RUN_KEYS,
    keys=(
        "data",
        "latent_dims",
        "budget",
        "hidden_dims",
        "train_eval_points",
        "bound_samples",
        *common.FIGURE_KEYS,
    ),
    options=OPTIONS,
)


def decode_images(experiment, run_dir: Path, settings) -> dict:
    """The run's manifold (Nz = 2) and samples, kept in ``images.pt`` for the figures."""
    model = experiment.model.eval()
    images = {"samples": figures.prior_sample_means(model, settings["sample_images"], seed=settings["seed"]).cpu()}
    if model.latent_dim == 2:
        images["manifold"] = figures.manifold_means(model, settings["grid"]).cpu()
    save_torch(images, run_dir / "images.pt")
    return {"images": sorted(images), "image_shape": list(experiment.train.image_shape)}


def plot_manifold(images, image_shape, grid, title, stem):
    fig, axes = common.panels(1, 7, 7 * image_shape[0] / image_shape[1])
    ax = axes[0][0]
    ax.imshow(figures.image_grid(images, image_shape, nrow=grid, padding=0), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return common.save_figure(fig, stem)


def plot_samples(panels, image_shape, num_images, title, stem):
    fig, axes = common.panels(len(panels), 3.4, 3.7)
    per_row = max(1, round(num_images**0.5))
    for ax, (nz, images) in zip(axes[0], panels):
        ax.imshow(figures.image_grid(images, image_shape, nrow=per_row), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"Nz = {nz}")
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return common.save_figure(fig, stem)


def main(argv=None):
    settings = PROGRAM.parse(argv)
    try:
        draw(settings)
    except KeyboardInterrupt:
        raise cli.Interrupted(
            f"interrupted; finished runs are kept in {settings['out']}: the same command resumes"
        ) from None


def draw(settings):
    say = common.say_for(settings)
    chosen = common.resolve_dataset(settings, say)
    dataset, hidden = chosen["dataset"], chosen["hidden"]
    budget, latent_dims = settings["budget"] or BUDGET, settings["latent_dims"] or LATENT_DIMS
    sweep = common.Sweep(
        settings,
        num_runs=len(latent_dims),
        per_run=budget,
        metrics={
            "figures": [4, 5],
            "data": settings["data"],
            "dataset": dataset,
            "dataset_label": chosen["label"],
            "fallback": chosen["fallback"],
            "settings": {
                "budget": budget,
                "latent_dims": latent_dims,
                "grid": settings["grid"],
                "sample_images": settings["sample_images"],
            },
        },
    )
    with sweep:
        base = sweep.base_config(dataset, hidden_dims=hidden, inference="aevb")
        sweep.metrics["settings"].update(base)
        PROGRAM.save(settings, sweep.out / "config.yaml")
        evaluate = curves.bound_evaluator(
            settings["train_eval_points"], num_samples=settings["bound_samples"], seed=settings["seed"]
        )
        panels, image_shape = [], None
        for nz in latent_dims:
            curve = sweep.run(
                f"nz{nz}",
                {**base, "latent_dim": nz},
                [budget],
                evaluate,
                finish=lambda experiment, run_dir: decode_images(experiment, run_dir, settings),
            )
            image_shape = tuple(curve["final"]["image_shape"])
            panels.append((nz, torch.load(sweep.out / "runs" / f"nz{nz}" / "images.pt")))
        sweep.close()
        out, runs, metrics = sweep.out, sweep.runs, sweep.metrics
        label = f"{chosen['label']}, AEVB, {'x'.join(map(str, hidden))} hidden units, {budget:.1e} samples"
        paths = []
        manifold = [images["manifold"] for nz, images in panels if "manifold" in images]
        if manifold:
            paths += plot_manifold(
                manifold[0], image_shape, settings["grid"], f"Figure 4: learned 2-D manifold\n{label}", out / "figure4"
            )
        paths += plot_samples(
            [(nz, images["samples"]) for nz, images in panels],
            image_shape,
            settings["sample_images"],
            f"Figure 5: random samples (decoder means), {label}",
            out / "figure5",
        )
        metrics["final"] = {name: {k: v for k, v in curve["points"][-1].items()} for name, curve in runs.items()}
        sweep.write()
        for name, final in metrics["final"].items():
            say(f"{name}: train bound {final['train_bound']:.2f}, test bound {final['test_bound']:.2f}")
        say(f"wrote {out / 'metrics.json'}, {', '.join(map(str, paths))}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
