#!/usr/bin/env python
"""Paper Figures 4 and 5 (Appendix A): the learned 2-D manifold (Nz = 2: the decoder's mean on a
grid of the unit square mapped through the inverse Gaussian CDF) and random samples (decoder
means for z ~ N(0, I)) from models with Nz = 2, 5, 10 and 20, trained with AEVB.

    python examples/paper_figure4_5.py                 # MNIST
    python examples/paper_figure4_5.py --data frey     # Frey Face (Fashion-MNIST offline)

Trained with the paper's settings (§5; see paper_figure2.py) for --budget samples each. Writes
into --out: figure4.png/.pdf (the manifold), figure5.png/.pdf (samples, one panel per Nz),
metrics.json (each model's final train and test bound, step-size trials, settings, machine,
wall time) and runs/nzK/ (checkpoint, curve.json and the decoded images as images.pt); the
same command resumes and reads back finished runs.
"""

from pathlib import Path

import figures
import paper_common as common
import torch
from paper_common import plt

from inference import curves

LATENT_DIMS = [2, 5, 10, 20]

parser = common.base_parser(__doc__, out="runs/paper_figure4_5")
parser.add_argument("--data", choices=["mnist", "frey"], default="mnist",
                    help="mnist, or frey (Frey Face; Fashion-MNIST when Frey Face cannot be had)")
parser.add_argument("--latent-dims", type=int, nargs="+", default=LATENT_DIMS, help="2 gives the manifold (Figure 4)")
parser.add_argument("--budget", type=int, default=1_000_000, help="training samples per model")
parser.add_argument("--hidden-dim", type=int, default=None, help="default: 500 for MNIST, 200 for Frey Face / Fashion-MNIST")
parser.add_argument("--grid", type=int, default=20, help="manifold grid size (grid × grid images)")
parser.add_argument("--samples", type=int, default=100, help="random samples per model (a square number fills the panel)")
parser.add_argument("--train-eval-points", type=int, default=10_000, help="training points the final train bound is computed on")
args = parser.parse_args()
common.check_positive(parser, args, ["budget", "grid", "samples", "train_eval_points", "lr_search_samples"])


def decode_images(experiment, run_dir: Path) -> dict:
    """The run's manifold (Nz = 2) and samples, kept in ``images.pt`` for the figures."""
    model = experiment.model.eval()
    images = {"samples": figures.prior_sample_means(model, args.samples, seed=args.seed).cpu()}
    if model.latent_dim == 2:
        images["manifold"] = figures.manifold_means(model, args.grid).cpu()
    torch.save(images, run_dir / "images.pt")
    return {"images": sorted(images), "image_shape": list(experiment.train.image_shape)}


def plot_manifold(images, image_shape, title, stem):
    fig, ax = plt.subplots(figsize=(7, 7 * image_shape[0] / image_shape[1]))
    ax.imshow(figures.image_grid(images, image_shape, nrow=args.grid, padding=0), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return common.save_figure(fig, stem)


def plot_samples(panels, image_shape, title, stem):
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.7), squeeze=False)
    per_row = max(1, round(args.samples ** 0.5))
    for ax, (nz, images) in zip(axes[0], panels):
        ax.imshow(figures.image_grid(images, image_shape, nrow=per_row), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"Nz = {nz}")
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return common.save_figure(fig, stem)


def main():
    say = common.say_for(args)
    chosen = common.resolve_dataset(args, say)
    dataset, hidden = chosen["dataset"], chosen["hidden"]
    sweep = common.Sweep(args, num_runs=len(args.latent_dims), per_run=args.budget, metrics={
        "figures": [4, 5], "data": args.data, "dataset": dataset, "dataset_label": chosen["label"], "fallback": chosen["fallback"],
        "settings": {"budget": args.budget, "latent_dims": args.latent_dims, "grid": args.grid, "samples": args.samples},
    })
    base = sweep.base_config(dataset, hidden_dim=hidden, train_size=args.train_size, inference="aevb")
    sweep.metrics["settings"].update(base)
    evaluate = curves.bound_evaluator(args.train_eval_points, seed=args.seed)
    panels, image_shape = [], None
    for nz in args.latent_dims:
        curve = sweep.run(f"nz{nz}", {**base, "latent_dim": nz}, [args.budget], evaluate, finish=decode_images)
        image_shape = tuple(curve["final"]["image_shape"])
        panels.append((nz, torch.load(sweep.out / "runs" / f"nz{nz}" / "images.pt")))
    sweep.close()
    out, runs, metrics = sweep.out, sweep.runs, sweep.metrics
    label = f"{chosen['label']}, AEVB, {hidden} hidden units, {args.budget:.1e} samples"
    paths = []
    manifold = [images["manifold"] for nz, images in panels if "manifold" in images]
    if manifold:
        paths += plot_manifold(manifold[0], image_shape, f"Figure 4: learned 2-D manifold\n{label}", out / "figure4")
    paths += plot_samples([(nz, images["samples"]) for nz, images in panels], image_shape,
                          f"Figure 5: random samples (decoder means), {label}", out / "figure5")
    metrics["final"] = {name: {k: v for k, v in curve["points"][-1].items()} for name, curve in runs.items()}
    sweep.write()
    for name, final in metrics["final"].items():
        say(f"{name}: train bound {final['train_bound']:.2f}, test bound {final['test_bound']:.2f}")
    say(f"wrote {out / 'metrics.json'}, {', '.join(map(str, paths))}")


if __name__ == "__main__":
    main()
