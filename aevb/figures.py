"""Figures of a run: samples, reconstructions, ELBO curves, the 2-D manifold (Figure 4).

Drawn on :class:`matplotlib.figure.Figure` objects, never through pyplot, so importing this
module leaves a notebook's matplotlib backend alone; image grids are tensors (for files and
for TensorBoard alike).
"""

from pathlib import Path

import torch
from matplotlib.figure import Figure
from torchvision.utils import make_grid, save_image

from .files import atomic_path
from .inference.latents import LatentLayout, observed_mean, prior_draws
from .models.contract import placeholder_rows


def _images(flat: torch.Tensor, image_shape) -> torch.Tensor:
    return flat.detach().float().cpu().clamp(0, 1).reshape(-1, 1, *image_shape)


def sample_grid(model, image_shape, num: int = 64, seed: int = 0) -> torch.Tensor:
    """Decoder means E[x|z] for ``num`` prior draws z ~ N(0, I), as an 8-wide image grid (3, H, W)."""
    return make_grid(_images(prior_sample_means(model, num, seed), image_shape), nrow=8, padding=1)


def save_grid(grid: torch.Tensor, path) -> None:
    """An image grid as a PNG file, written atomically (:func:`aevb.files.atomic_path`)."""
    with atomic_path(path) as tmp:
        save_image(grid, tmp, format="png")


def save_figure(fig, path, dpi: int = 120) -> None:
    """A matplotlib figure as a file of the format its suffix names (png, pdf), written atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix[1:], dpi=dpi)


def save_samples(model, path, image_shape, num: int = 64, seed: int = 0) -> None:
    """:func:`sample_grid` as an image file."""
    save_grid(sample_grid(model, image_shape, num, seed), path)


@torch.no_grad()
def reconstruction_grid(model, guide, x, image_shape, num: int = 32, per_row: int = 8) -> torch.Tensor:
    """Rows of data (odd rows) above the decoder means at the guide's point summary of q(z|x)
    (the posterior mean; for flows the base mean pushed through the flow) (even rows), as an
    image grid (3, H, W)."""
    per_row = min(per_row, len(x))
    x = x[: min(num, len(x)) // per_row * per_row]
    recon = observed_mean(model, x, guide.code(x))
    rows = torch.stack([x.reshape(-1, per_row, x.shape[-1]), recon.reshape(-1, per_row, x.shape[-1])], 1).reshape(
        -1, x.shape[-1]
    )
    return make_grid(_images(rows, image_shape), nrow=per_row, padding=1)


def save_reconstructions(model, guide, x, path, image_shape, num: int = 32, per_row: int = 8) -> None:
    """:func:`reconstruction_grid` as an image file."""
    save_grid(reconstruction_grid(model, guide, x, image_shape, num, per_row), path)


def markdown_table(frame, floatfmt: str = ".3f", index: bool = True) -> str:
    """A pandas DataFrame as a Markdown table (without pandas' optional tabulate dependency)."""

    def cell(v):
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    columns = ([frame.index.name or ""] if index else []) + [str(c) for c in frame.columns]
    rows = [
        ([str(i)] if index else []) + [cell(v) for v in row]
        for i, row in zip(frame.index, frame.itertuples(index=False))
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def has_manifold(model) -> bool:
    """Whether the model's local latents are two numbers per datapoint (Figure 4's manifold)."""
    return LatentLayout.of(model, placeholder_rows(model, 1)).size == 2


@torch.no_grad()
def manifold_means(model, steps: int = 20) -> torch.Tensor:
    """Paper Figure 4: E[x | z] on a grid in the unit square mapped through the inverse Gaussian
    CDF to the model's two latent numbers, row by row from the top: shape (steps², D)."""
    x = placeholder_rows(model, steps * steps)
    layout = LatentLayout.of(model, x)
    if layout.size != 2:
        raise ValueError(f"the manifold figure needs two latent numbers per datapoint, the model has {layout.size}")
    grid = torch.linspace(0.5 / steps, 1 - 0.5 / steps, steps)
    normal = torch.distributions.Normal(0.0, 1.0)
    zy, zx = torch.meshgrid(normal.icdf(grid).flip(0), normal.icdf(grid), indexing="ij")
    z = torch.stack([zx.reshape(-1), zy.reshape(-1)], -1).to(x)
    return observed_mean(model, x, layout.unflatten(z))


@torch.no_grad()
def prior_sample_means(model, num: int = 100, seed: int = 0) -> torch.Tensor:
    """E[x | z] for ``num`` draws of every latent site from the model's prior (the paper's "random
    samples"), drawn in a forked RNG seeded with ``seed``."""
    x = placeholder_rows(model, num)
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(seed)
        values = prior_draws(model, x)
    return observed_mean(model, x, values)


def save_manifold(model, path, image_shape, steps: int = 20) -> None:
    """Paper Figure 4 as an image file: :func:`manifold_means` as a steps × steps grid."""
    save_grid(make_grid(_images(manifold_means(model, steps), image_shape), nrow=steps, padding=0), path)


def image_grid(flat: torch.Tensor, image_shape, nrow: int, padding: int = 1):
    """Images (N, D) as one grey-level array for ``imshow`` (``nrow`` images per row)."""
    return make_grid(_images(flat, image_shape), nrow=nrow, padding=padding, pad_value=1.0)[0].numpy()


def save_elbo_curves(history, path, title: str = "", per: str = "datapoint", bottom=None) -> None:
    """Train and test ELBO (nats per datapoint, or ``per`` time step..., larger is better) against
    epochs; for an algorithm without a bound (MCEM) its train metric (log p(x, z) at its samples)
    instead. ``bottom`` clips the y axis (the first epochs of a long run dwarf the rest)."""
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    train_key = next((k for k in history[0] if k.startswith("train_")), "train_elbo") if history else "train_elbo"
    ax.plot(
        epochs, [h[train_key] for h in history], "-o", ms=3, label=f"{train_key.replace('_', ' ')} (running estimate)"
    )
    if all("test_elbo" in h for h in history):
        ax.plot(epochs, [h["test_elbo"] for h in history], "--o", ms=3, label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"ELBO per {per} (nats, higher is better)")
    if bottom is not None:
        ax.set_ylim(bottom=bottom)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def save_score_histograms(panels, path, title: str = "") -> None:
    """Histograms of scores: ``panels`` is a list of rows, each a list of panels ``(axis label,
    {set name: scores}, legend title)``, the sets overlaid in each panel (e.g. in- and
    out-of-distribution points' log p(x), and their complexity-corrected scores)."""
    rows, columns = len(panels), max(len(row) for row in panels)
    fig = Figure(figsize=(5.2 * columns, 3.6 * rows + 0.4))
    axes = fig.subplots(rows, columns, squeeze=False)
    for row, row_axes in zip(panels, axes):
        for ax, (label, sets, note) in zip(row_axes, row):
            values = {name: torch.as_tensor(v).double().cpu() for name, v in sets.items()}
            values = {name: v[torch.isfinite(v)] for name, v in values.items()}
            everything = torch.cat(list(values.values()))
            edges = torch.linspace(everything.min().item(), everything.max().item(), 51).tolist()
            for name, v in values.items():
                ax.hist(v.numpy(), bins=edges, alpha=0.55, density=True, label=f"{name} ({len(v)})")
            ax.set_xlabel(label)
            ax.set_ylabel("density of points")
            ax.legend(fontsize=8, title=note, title_fontsize=8)
            ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def save_piano_rolls(rows: torch.Tensor, width: int, path, titles=(), title: str = "") -> None:
    """Packed sequences (:mod:`aevb.data.sequences`; keys' values or probabilities) as piano rolls,
    one panel each: time across, keys up (lowest at the bottom), each to its own length."""
    from aevb.data.sequences import unpack

    values, present = unpack(rows.detach().float().cpu(), width)
    fig = Figure(figsize=(10, 1.7 * len(values)))
    for number, (roll, inside) in enumerate(zip(values, present)):
        ax = fig.add_subplot(len(values), 1, number + 1)
        length = int(inside.sum())
        ax.imshow(roll[:length].T, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
        ax.set_ylabel("key")
        if number < len(titles):
            ax.set_title(titles[number], fontsize=9, loc="left")
    ax.set_xlabel("quarter-note step")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
