"""What the paper-figure programs (``paper_figure*.py``) share: the paper's training settings,
the continuous-data choice (Frey Face, else Fashion-MNIST), the machine description that goes
into every ``metrics.json``, one overall progress bar, and saving a figure as PNG and PDF."""

import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

import data  # noqa: E402
from inference import curves  # noqa: E402
from inference import experiment as exp  # noqa: E402

#: §5: one tanh hidden layer, N(0, 0.01²) initialisation, the N(0, I) weight prior (weight decay),
#: M = 100, L = 1, Adagrad with a step size from {0.01, 0.02, 0.1}; estimator B (analytic KL).
PAPER_SETTINGS = {"init": "paper", "map_prior": True, "batch_size": 100, "num_particles": 1, "estimator": "B", "optimizer": "adagrad"}
LR_CANDIDATES = {"adagrad": [0.01, 0.02, 0.1], "adam": [3e-4, 1e-3, 3e-3]}
#: The paper's hidden-layer widths and its decoders per data set.
HIDDEN = {"mnist": 500, "frey": 200, "fashion-mnist": 200}
DATA_SETTINGS = {
    "mnist": {"model": "bernoulli", "binarize": "static"},
    "frey": {"model": "gaussian", "binarize": "none"},
    "fashion-mnist": {"model": "gaussian", "binarize": "none"},
}
LABELS = {"mnist": "MNIST", "frey": "Frey Face", "fashion-mnist": "Fashion-MNIST (stand-in for Frey Face)"}


def resolve_dataset(args, log) -> dict:
    """``{"dataset", "label", "fallback", "hidden"}`` for ``--data mnist`` or ``--data frey``
    (Frey Face, or Fashion-MNIST with the reason when Frey Face cannot be read or downloaded);
    ``hidden`` is ``--hidden-dim`` or the paper's width for that data set."""
    if args.data == "mnist":
        chosen = {"dataset": "mnist", "label": LABELS["mnist"], "fallback": None}
    else:
        reasons = []
        name = data.continuous_dataset(args.data_dir, log=lambda m: (reasons.append(m), log(m)))
        chosen = {"dataset": name, "label": LABELS[name], "fallback": reasons[0] if reasons else None}
    return {**chosen, "hidden": args.hidden_dim or HIDDEN[chosen["dataset"]]}


def say_for(args):
    """Where a program's messages go: between progress bars, or nowhere with --quiet."""
    return (lambda *a: None) if args.quiet else tqdm.write


def machine() -> dict:
    """Where the numbers were measured."""
    return {
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


class Progress:
    """One bar over every training sample of a sweep (step-size trials included)."""

    def __init__(self, total: int, quiet: bool):
        self.bar = tqdm(total=total, desc="sweep", unit="sample", unit_scale=True, disable=quiet, dynamic_ncols=True, position=0)
        self.start = time.perf_counter()

    def run(self, label: str):
        self.bar.set_postfix_str(label)

    def advance(self, n: int) -> None:
        self.bar.update(n)

    def close(self) -> float:
        self.bar.close()
        return time.perf_counter() - self.start


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
        fig.savefig(path, dpi=130)
    plt.close(fig)
    return paths


class WallClock:
    """Wall time spent on an output folder, over every call of the program on it: a call that
    resumes a sweep or only redraws its figure adds its own time to what ``metrics.json`` held."""

    def __init__(self, out: Path):
        self.start = time.perf_counter()
        previous = out / "metrics.json"
        try:
            old = json.loads(previous.read_text()) if previous.is_file() else {}
        except ValueError:
            old = {}
        self.before = old.get("wall_seconds", {}).get("total", 0.0) if isinstance(old.get("wall_seconds"), dict) else 0.0
        self.calls = old.get("wall_seconds", {}).get("calls", 0) + 1 if isinstance(old.get("wall_seconds"), dict) else 1

    def record(self) -> dict:
        now = time.perf_counter() - self.start
        return {"this_call": now, "total": self.before + now, "calls": self.calls}


def write_metrics(out: Path, metrics: dict, clock: WallClock) -> None:
    exp.write_json(out / "metrics.json", {**metrics, "wall_seconds": clock.record()})


class Sweep:
    """One figure program's sweep: the output folder, the step-size search and training curve
    of every run (:mod:`inference.curves`), one progress bar, and ``metrics.json`` rewritten
    after every run with the settings, the machine and the wall time."""

    def __init__(self, args, *, num_runs: int, per_run: int, metrics: dict):
        self.args, self.out = args, Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.say = say_for(args)
        self.candidates = args.lr_candidates or LR_CANDIDATES[args.optimizer]
        self.clock = WallClock(self.out)
        self.progress = Progress(num_runs * (per_run + len(self.candidates) * args.lr_search_samples), args.quiet)
        self.runs, self.searches = {}, {}
        self.metrics = {**metrics, "machine": machine(), "runs": self.runs, "lr_search": self.searches}
        self.metrics["settings"] = {**metrics.get("settings", {}), "lr_candidates": self.candidates,
                                    "lr_search_samples": args.lr_search_samples}

    def base_config(self, dataset: str, **extra) -> dict:
        """The paper's settings for ``dataset`` and this program's flags."""
        return {**PAPER_SETTINGS, **DATA_SETTINGS[dataset], "dataset": dataset, "optimizer": self.args.optimizer,
                "test_size": self.args.test_size, "seed": self.args.seed, **extra}

    def run(self, name: str, config: dict, targets, evaluate, finish=None) -> dict:
        """Choose the run's step size, train its curve (or read both back), record them."""
        a = self.args
        self.progress.run(name)
        run_dir = self.out / "runs" / name
        search = curves.choose_lr(config, self.candidates, a.lr_search_samples, run_dir, data_dir=a.data_dir, device=a.device,
                                  log=self.say, advance=self.progress.advance)
        self.searches[name] = search
        finishing = (lambda e: finish(e, run_dir)) if finish is not None else None
        self.runs[name] = curves.train_curve({**config, "lr": search["chosen"]}, run_dir, targets, evaluate, finish=finishing,
                                             data_dir=a.data_dir, device=a.device, log=self.say, advance=self.progress.advance,
                                             progress=not a.quiet)
        self.write()
        return self.runs[name]

    def write(self, **extra) -> None:
        self.metrics.update(extra)
        write_metrics(self.out, self.metrics, self.clock)

    def close(self) -> None:
        self.progress.close()


def base_parser(doc: str, *, out: str):
    """The flags every figure program has."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimizer", choices=sorted(LR_CANDIDATES), default="adagrad",
                        help="adagrad (the paper's) or adam; the step size is chosen from --lr-candidates")
    parser.add_argument("--lr-candidates", type=float, nargs="+", default=None,
                        help="step sizes tried (default: 0.01 0.02 0.1 for adagrad as in §5; 3e-4 1e-3 3e-3 for adam)")
    parser.add_argument("--lr-search-samples", type=int, default=20_000, help="training samples per step-size trial")
    parser.add_argument("--train-size", type=int, default=None, help="use the first N training points (tests)")
    parser.add_argument("--test-size", type=int, default=None, help="use the first N test points (tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--data-dir", default=None, help="data folder (default: $AEVB_DATA_DIR or .data/)")
    parser.add_argument("--out", default=out, help="output folder; finished runs found there are not redone")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def check_positive(parser, args, names) -> None:
    for name in names:
        value = getattr(args, name)
        if value is not None and not value >= 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
