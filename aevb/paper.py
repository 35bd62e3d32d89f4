"""What the paper-figure programs (``examples/paper_figure*.py``) share: the paper's training
settings, the continuous-data choice (Frey Face, else Fashion-MNIST), the machine description
that goes into every ``metrics.json``, one overall progress report, and saving a figure as PNG
and PDF.

The paper's settings (:data:`PAPER_SETTINGS`, :data:`DATA_SETTINGS`) define the figures, so
the figure programs do not offer them as flags (a flag has one default in every program,
:mod:`aevb.config`); a ``--config`` file may still set any run key, applied over them.
"""

import os
import platform
import time
from pathlib import Path

import torch
from matplotlib.figure import Figure

from . import config as cfg
from . import data, figures
from .curves import choose_lr, train_curve
from .files import read_json, write_json
from .folder import RunFolder
from .inference import progress as progress_module

#: §5: one tanh hidden layer, N(0, 0.01²) initialisation, the N(0, I) weight prior (weight decay),
#: M = 100, L = 1, Adagrad with a step size from {0.01, 0.02, 0.1}; estimator B (analytic KL).
PAPER_SETTINGS = {
    "init": "paper",
    "map_prior": True,
    "batch_size": 100,
    "num_particles": 1,
    "estimator": "B",
    "optimizer": "adagrad",
}
LR_CANDIDATES = {"adagrad": [0.01, 0.02, 0.1], "adam": [3e-4, 1e-3, 3e-3]}
#: The paper's decoders per data set (the hidden width is the table's default, :data:`aevb.config.PAPER_HIDDEN`).
DATA_SETTINGS = {
    "mnist": {"likelihood": "bernoulli", "binarize": "static"},
    "frey": {"likelihood": "gaussian", "binarize": "none"},
    "fashion-mnist": {"likelihood": "gaussian", "binarize": "none"},
}
LABELS = {"mnist": "MNIST", "frey": "Frey Face", "fashion-mnist": "Fashion-MNIST (stand-in for Frey Face)"}
#: The flags every figure program offers (besides its own sweep keys); a ``--config`` file may
#: also set any run key (:data:`aevb.config.RUN_KEYS`).
FIGURE_KEYS = (
    "lr_candidates",
    "lr_search_samples",
    "lr_search_points",
    "train_size",
    "test_size",
    "seed",
    "device",
    "data_dir",
    "out",
    "overwrite",
    "quiet",
)


def resolve_dataset(settings, log) -> dict:
    """``{"dataset", "label", "fallback", "hidden"}`` for ``--data mnist`` or ``--data frey``
    (Frey Face, or Fashion-MNIST with the reason when Frey Face cannot be read or downloaded);
    ``hidden`` is ``hidden_dims`` when set, else the paper's one layer for that data set."""
    if settings["data"] == "mnist":
        chosen = {"dataset": "mnist", "label": LABELS["mnist"], "fallback": None}
    else:
        reasons = []
        name = data.continuous_dataset(settings["data_dir"], log=lambda m: (reasons.append(m), log(m)))
        chosen = {"dataset": name, "label": LABELS[name], "fallback": reasons[0] if reasons else None}
    hidden = settings.run_keys(explicit_only=True).get("hidden_dims")
    return {**chosen, "hidden": list(hidden or cfg.PAPER_HIDDEN[chosen["dataset"]])}


def say_for(settings):
    """Where a program's messages go: between progress bars, or nowhere with --quiet."""
    return (lambda *a: None) if settings["quiet"] else progress_module.write


def machine() -> dict:
    """Where the numbers were measured."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def panels(count: int, width: float, height: float):
    """A figure with one row of ``count`` panels: (figure, axes as a 1 × count array)."""
    fig = Figure(figsize=(width * count, height))
    return fig, fig.subplots(1, count, squeeze=False)


def save_panels(fig, axes, ylabel: str, title: str, stem: Path) -> list:
    """Finish a one-row figure of curve panels (label, legend and title on the first) and save it."""
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, stem)


def save_figure(fig, stem: Path) -> list:
    """Write ``stem.png`` and ``stem.pdf``; returns their paths."""
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        figures.save_figure(fig, path, dpi=130)
    return paths


class WallClock:
    """Wall time spent on an output folder, over every call of the program on it: a call that
    resumes a sweep or only redraws its figure adds its own time to what ``metrics.json`` held."""

    def __init__(self, out: Path):
        self.start = time.perf_counter()
        try:
            old = read_json(out / "metrics.json") or {}
        except ValueError:
            old = {}
        wall = old.get("wall_seconds") if isinstance(old.get("wall_seconds"), dict) else {}
        self.before, self.calls = wall.get("total", 0.0), wall.get("calls", 0) + 1

    def record(self) -> dict:
        now = time.perf_counter() - self.start
        return {"this_call": now, "total": self.before + now, "calls": self.calls}


class Sweep:
    """One figure program's sweep, used as ``with Sweep(...) as sweep:``: the output folder, owned
    by this program while it runs (:class:`aevb.folder.RunFolder`; ``--overwrite`` starts afresh),
    the step-size search and training curve of every run (:mod:`aevb.curves`), one progress
    report over every training sample, and ``metrics.json`` rewritten after every run with the
    settings, the machine and the wall time. A sweep folder resumes by design: the same command
    reads finished runs back and continues unfinished ones; a run of another configuration or
    budget is refused (:func:`aevb.curves.train_curve`).

    :param settings: the program's :class:`aevb.cli.Settings`.
    """

    OUTPUTS = ("runs", "metrics.json", "config.yaml", "figure*.png", "figure*.pdf")

    def __init__(self, settings, *, num_runs: int, per_run: int, metrics: dict):
        self.settings, self.out = settings, Path(settings["out"])
        self.folder = RunFolder(self.out, outputs=self.OUTPUTS, overwrite=settings["overwrite"])
        self.say = say_for(settings)
        self.overrides = settings.run_keys(explicit_only=True)  # run keys the user set (flags or --config)
        optimizer = self.overrides.get("optimizer", PAPER_SETTINGS["optimizer"])
        self.candidates = settings["lr_candidates"] or LR_CANDIDATES[optimizer]
        self.total = num_runs * (per_run + len(self.candidates) * settings["lr_search_samples"])
        self.runs, self.searches = {}, {}
        self.metrics = {**metrics, "machine": machine(), "runs": self.runs, "lr_search": self.searches}
        self.metrics["settings"] = {
            **metrics.get("settings", {}),
            "lr_candidates": self.candidates,
            "lr_search_samples": settings["lr_search_samples"],
            "lr_search_points": settings["lr_search_points"],
        }
        self.progress = None

    def __enter__(self):
        self.folder.__enter__()
        self.clock = WallClock(self.out)
        self.progress = progress_module.progress(
            self.total, "sweep", unit="samples", enabled=not self.settings["quiet"], unit_scale=True, position=0
        )
        return self

    def __exit__(self, *exc):
        self.close()
        self.folder.__exit__(*exc)

    def base_config(self, dataset: str, **sweep) -> dict:
        """A run's configuration: the paper's settings for ``dataset``, then the run keys the user
        set, then this sweep's own values (``sweep``: latent size, method, training-set size)."""
        return {**PAPER_SETTINGS, **DATA_SETTINGS[dataset], **self.overrides, "dataset": dataset, **sweep}

    def run(self, name: str, config: dict, targets, evaluate, finish=None) -> dict:
        """Choose the run's step size, train its curve (or read both back), record them."""
        s = self.settings
        self.progress.set_postfix_str(name)
        run_dir = self.out / "runs" / name
        common = {"data_dir": s["data_dir"], "device": s["device"], "log": self.say, "advance": self.progress.update}
        search = choose_lr(
            config, self.candidates, s["lr_search_samples"], run_dir, held_out=s["lr_search_points"], **common
        )
        self.searches[name] = search
        finishing = (lambda e: finish(e, run_dir)) if finish is not None else None
        self.runs[name] = train_curve(
            {**config, "lr": search["chosen"]},
            run_dir,
            targets,
            evaluate,
            finish=finishing,
            progress=not s["quiet"],
            **common,
        )
        self.write()
        return self.runs[name]

    def write(self, **extra) -> None:
        self.metrics.update(extra)
        write_json(self.out / "metrics.json", {**self.metrics, "wall_seconds": self.clock.record()})

    def close(self) -> None:
        """End the progress report (the folder stays owned until the ``with`` block ends)."""
        if self.progress is not None:
            self.progress.close()
            self.progress = None
