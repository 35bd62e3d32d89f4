"""Training curves against the number of training samples evaluated (the paper's Figures 2 and 3).

A run is trained in segments that end at chosen sample counts (:func:`sample_targets`, log
spaced like the paper's x-axis) through the one training loop's ``max_examples`` budget, and
evaluated after each. Every point is written to ``curve.json`` beside the run's checkpoint as
soon as it is measured, so an interrupted sweep resumes where it stopped, and a finished run
is read back instead of trained again. The paper's step-size choice ("from {0.01, 0.02, 0.1}
by performance on the training set in the first iterations", §5) is :func:`choose_lr`.
"""

import math
import shutil
import time
from pathlib import Path

from . import data
from . import experiment as exp
from .files import read_json, write_json
from .inference import ALGORITHMS, LL_ESTIMATORS
from .inference.capabilities import capabilities
from .inference.estimators import summary
from .inference.estimators.elbo import elbo_per_point
from .inference.training.checkpoint import CheckpointError
from .inference.training.stops import TrainingDiverged


def sample_targets(budget: int, *, first: int = 10_000, per_decade: int = 5, batch_size: int = 100) -> list:
    """Sample counts at which to evaluate: log-spaced from ``first`` to ``budget`` with
    ``per_decade`` points per decade, rounded up to whole minibatches, ending at ``budget``."""
    if not isinstance(budget, int) or budget < batch_size:
        raise ValueError(f"the budget must be an integer of at least one minibatch ({batch_size}), got {budget!r}")
    first = min(max(first, batch_size), budget)
    count = max(1, math.ceil(per_decade * math.log10(budget / first)))
    targets = {budget}
    for i in range(count):
        value = first * (budget / first) ** (i / count)
        targets.add(min(budget, math.ceil(value / batch_size) * batch_size))
    return sorted(targets)


#: AIS annealing steps (16 chains, from the prior) scoring a step-size trial on held-out points
HELD_OUT_AIS_STEPS = 100


def held_out_points(config: dict, num_points: int, *, data_dir=None, device="cpu", log=print):
    """The ``num_points`` training points just after the run's training subset (its first
    ``train_size`` points), which the run never trains on, binarised once as scored points are."""
    split, _ = data.load_dataset(
        config["dataset"],
        data_dir,
        binarize_mode=config["binarize"],
        seed=config["seed"],
        device=device,
        test_size=1,
        log=log,
    )
    start = config["train_size"]
    if start is None or start + num_points > len(split):
        raise ValueError(
            f"--inference {config['inference']} has no training bound, so its step size is chosen on {num_points} "
            "held-out "
            f"training points; the training set ({len(split)} points) has only "
            f"{len(split) - (start or len(split))} beyond --train-size {start}: set a smaller --train-size"
        )
    x = split.x[start : start + num_points]
    return data.binarize.bernoulli_draw(x, data.binarize.TEST_BINARIZATION_SEED) if split.dynamic else x


def choose_lr(
    config: dict,
    candidates,
    samples: int,
    out_dir,
    *,
    held_out: int = 100,
    data_dir=None,
    device="auto",
    log=print,
    advance=None,
) -> dict:
    """Train ``config`` for ``samples`` examples with each step size in ``candidates`` (same seed,
    same initialisation and data order) and pick the one with the best score; a step size that
    diverges scores None. The score is the running training bound over the trial's last epoch
    where the algorithm's training metric is one (``train_metric_is_bound``); otherwise (MCEM,
    whose log p(x, z) at its chains' states rewards large steps) it is AIS from the prior
    (:data:`HELD_OUT_AIS_STEPS` steps) averaged over ``held_out`` training points outside the
    run's training subset (:func:`held_out_points`). The result, with every candidate's value,
    is kept in ``out_dir/lr_search.json`` and read back on a second call."""
    config = {
        k: v for k, v in exp.resolve_run_config(config).items() if k != "lr"
    }  # canonical: every key, defaults resolved
    out_dir = Path(out_dir)
    record_path = out_dir / "lr_search.json"
    done = read_json(record_path)
    declared = capabilities(ALGORITHMS[config["inference"]], "algorithm")
    by_bound = declared.train_metric_is_bound
    metric = declared.train_metric if by_bound else "held_out_ais"
    same_points = by_bound or (done or {}).get("held_out", {}).get("points") == held_out
    if (
        done is not None
        and done.get("candidates") == list(candidates)
        and done.get("samples") == samples
        and done.get("metric") == metric
        and same_points
    ):
        if done.get("config") != config:
            raise CheckpointError(
                f"{out_dir} holds a step-size search for another configuration; use another --out or delete it"
            )
        if advance is not None:
            advance(samples * len(candidates))
        return done
    x_held = (
        None
        if by_bound
        else held_out_points(config, held_out, data_dir=data_dir, device=exp.resolve_device(device), log=log)
    )
    scores = {}
    for lr in candidates:
        trial_dir = out_dir / f"lr_{lr:g}"
        trial_dir.mkdir(parents=True, exist_ok=True)
        experiment = exp.build({**config, "lr": lr}, data_dir=data_dir, device=device, log=log)
        experiment.config["epochs"] = math.ceil(samples / len(experiment.train))
        try:
            state = exp.train_in(experiment, trial_dir, max_examples=samples, evaluate=False, progress=False)
            if by_bound:  # the bound over the trial's last epoch (running average of the per-step estimates)
                value = state.history[-1][metric]
            else:
                model, _ = experiment.scoring_pair(x_held)
                value = (
                    LL_ESTIMATORS["ais"]
                    .estimate(model, None, x_held, num_samples=HELD_OUT_AIS_STEPS, seed=0)
                    .mean()
                    .item()
                )
        except TrainingDiverged:
            value = math.nan
        scores[f"{lr:g}"] = value if math.isfinite(value) else None
        shutil.rmtree(trial_dir)  # a trial's checkpoint is not worth its disk space
        if advance is not None:
            advance(samples)
    finite = {k: v for k, v in scores.items() if v is not None}
    if not finite:
        raise TrainingDiverged(
            f"every step size diverged in the first {samples} samples: {scores}; try smaller --lr-candidates"
        )
    best = max(finite, key=finite.get)
    chosen = next(lr for lr in candidates if f"{lr:g}" == best)
    result = {
        "config": config,
        "candidates": list(candidates),
        "samples": samples,
        "metric": metric,
        "scores": scores,
        "chosen": chosen,
    }
    if not by_bound:
        result["held_out"] = {"first": config["train_size"], "points": held_out, "ais_steps": HELD_OUT_AIS_STEPS}
    write_json(record_path, result)
    log(f"step size {best} chosen from {list(candidates)} ({metric} after {samples} samples: {scores})")
    return result


def scored_points(experiment, split: str, num_points=None):
    """The first ``num_points`` points of ``split`` ("train" or "test") as they are scored:
    dynamically binarised training data on one fixed binarisation."""
    x = getattr(experiment, split).x[:num_points]
    if split == "train" and experiment.train.dynamic:
        x = data.binarize.bernoulli_draw(x, data.binarize.TEST_BINARIZATION_SEED)
    return x


def bound_evaluator(train_points: int, num_samples: int = 1, seed: int = 0):
    """``evaluate(experiment) -> {"train_bound", "test_bound"}``: the variational bound per
    datapoint (the same estimator for every algorithm, :mod:`aevb.inference.estimators`) on the first
    ``train_points`` training points and on the whole test set."""

    def evaluate(experiment):
        x_train = scored_points(experiment, "train", train_points)
        model, guide = experiment.scoring_pair(x_train)
        train = (
            elbo_per_point(
                model,
                guide,
                x_train,
                num_samples=num_samples,
                seed=seed,
                progress=experiment.progress and "train bound",
            )
            .mean()
            .item()
        )
        model, guide = experiment.scoring_pair(experiment.test.x)
        test = (
            elbo_per_point(
                model,
                guide,
                experiment.test.x,
                num_samples=num_samples,
                seed=seed,
                progress=experiment.progress and "test bound",
            )
            .mean()
            .item()
        )
        return {"train_bound": train, "test_bound": test}

    return evaluate


def _per_split(experiment, num_points: int, suffix: str, name: str, num_samples: int, seed: int) -> dict:
    """``{"train_SUFFIX", "test_SUFFIX"}``: the registered log-likelihood estimator ``name``
    (:data:`aevb.inference.LL_ESTIMATORS`, encoder-free here: every algorithm is scored alike)
    per datapoint, averaged over the first ``num_points`` points of each split, and
    ``{split}_SUFFIX_unreliable``, the points flagged (:func:`aevb.inference.estimators.summary`:
    points an estimator refuses are left out of the average)."""
    values = {}
    for split in ("train", "test"):
        x = scored_points(experiment, split, num_points)
        model, _ = experiment.scoring_pair(x)
        points = LL_ESTIMATORS[name].estimate(
            model,
            None,
            x,
            num_samples=num_samples,
            seed=seed,
            progress=experiment.progress and f"{split} {suffix}",
            with_error=True,
        )
        result = summary(points)
        values[f"{split}_{suffix}"] = result["value"]
        values[f"{split}_{suffix}_unreliable"] = result["unreliable"]
    return values


def marginal_evaluator(num_points: int, num_samples: int = 50, seed: int = 0):
    """``evaluate(experiment) -> {"train_ll", "test_ll"}``: Appendix D's estimate of log p(x) per
    datapoint (HMC posterior samples, no encoder involved, so every algorithm is scored the
    same way) on the first ``num_points`` training and test points."""

    def evaluate(experiment):
        return _per_split(experiment, num_points, "ll", "appendix-d", num_samples, seed)

    return evaluate


def ais_check(experiment, num_points: int, num_steps: int = 500, seed: int = 0) -> dict:
    """AIS from the prior (:func:`aevb.inference.estimators.ais.ais_log_likelihood`) on the first
    ``num_points`` training and test points: ``{"train_ais", "test_ais"}`` per datapoint."""
    return _per_split(experiment, num_points, "ais", "ais", num_steps, seed)


def train_curve(
    config: dict,
    out_dir,
    targets,
    evaluate,
    *,
    finish=None,
    data_dir=None,
    device="auto",
    log=print,
    advance=None,
    progress=True,
) -> dict:
    """Train the run ``config`` in ``out_dir``, evaluating ``evaluate(experiment) -> dict`` when
    the count of training samples reaches each of ``targets``; return the curve
    ``{"config", "targets", "points": [{"examples", "train_seconds", "eval_seconds", ...}], "complete"}``.

    ``finish(experiment) -> dict``, when given, runs once on the final model (e.g. a costlier
    estimator) and its result is kept under ``"final"`` with its ``"seconds"``.
    ``curve.json`` is rewritten after every point; a complete run is returned as it is, a
    partial one continues from its checkpoint. ``advance(n)`` is told of every n samples
    trained (or found already done) for an overall progress bar.
    """
    config = exp.resolve_run_config(config)  # canonical: every key, defaults resolved
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    curve_path, checkpoint = out_dir / "curve.json", out_dir / "checkpoint.pt"
    targets = sorted(targets)
    curve = read_json(curve_path)
    if curve is not None and (curve.get("config") != config or curve.get("targets") != targets):
        raise CheckpointError(
            f"{out_dir} holds a run with another configuration or budget; use another --out or delete it"
        )
    curve = curve or {"config": config, "targets": targets, "points": [], "complete": False}
    done = curve["points"][-1]["examples"] if curve["points"] else 0
    if advance is not None:
        advance(done)
    if curve["complete"] and (finish is None or "final" in curve):
        return curve
    experiment = exp.build(config, data_dir=data_dir, device=device, log=log, progress=progress)
    # enough epochs for the budget, with one more per segment: each segment may end mid-epoch
    experiment.config["epochs"] = targets[-1] // len(experiment.train) + len(targets) + 1
    resume = checkpoint.is_file() and bool(curve["points"])
    state = None  # after the first segment, the next continues from memory, not from the checkpoint on disk
    for target in targets:
        if target <= done:
            continue
        state = exp.train_in(experiment, out_dir, resume=resume, state=state, max_examples=target, evaluate=False)
        examples = state.history[-1]["examples"] if state.history else 0
        start = time.perf_counter()
        values = evaluate(experiment)
        point = {
            "examples": examples,
            "train_seconds": sum(h["seconds"] for h in state.history),
            "eval_seconds": time.perf_counter() - start,
            **values,
        }
        if not all(math.isfinite(v) for v in values.values()):
            log(f"warning: non-finite values at {examples} samples in {out_dir}: {values}")
        curve["points"].append(point)
        curve["complete"] = target == targets[-1]
        write_json(curve_path, curve)
        if advance is not None:
            advance(examples - done)
        done = examples
    curve["complete"] = True
    if finish is not None and "final" not in curve:
        if state is None:  # complete before this call: load the final model, training nothing
            exp.train_in(experiment, out_dir, resume=True, max_examples=max(done, 1), evaluate=False, progress=False)
        start = time.perf_counter()
        curve["final"] = {**finish(experiment), "seconds": time.perf_counter() - start}
    write_json(curve_path, curve)
    return curve


def load_points(curve: dict, key: str):
    """(samples, values) of one quantity of a curve, as lists."""
    pts = [p for p in curve["points"] if key in p]
    return [p["examples"] for p in pts], [p[key] for p in pts]


__all__ = [
    "ais_check",
    "bound_evaluator",
    "choose_lr",
    "held_out_points",
    "load_points",
    "marginal_evaluator",
    "sample_targets",
    "scored_points",
    "train_curve",
]
