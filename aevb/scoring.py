"""Per-point scores of any data under a trained run: log p(x) with its error, the ELBO, bits per
dimension and the input's complexity, for outlier detection and for looking at single points::

    import aevb
    from aevb.scoring import score

    run = aevb.load("runs/fashion")
    scores = score(run, "mnist")                   # MNIST's test split, prepared as the run's data
    scores = score(run, "new_points.npz", split="all", num_samples=5000)
    scores.summary()                               # the averages, as metrics.json holds them

The rows are read and prepared as the run's own test set is (:func:`aevb.data.scored_rows`), and
every number comes from the computation the run's final evaluation uses
(:meth:`aevb.experiment.Experiment.estimate`, same seed), so scoring the run's own test points
gives per-point numbers whose mean is the run's reported test log-likelihood.
"""

import csv
import io
import math
import os
from dataclasses import dataclass, fields
from typing import Optional

import torch

from . import data as data_module
from .data.complexity import compressed_bits
from .inference.estimators import summary as estimates_summary
from .inference.estimators.uncertainty import PointEstimates
from .models import LIKELIHOODS
from .ood import corrected_bits, detection


@dataclass
class Scores:
    """One value per scored point (tensors of length N on the CPU): its ``index`` in the scored
    rows, its ``label`` (-1 without labels), log p(x) (``log_p``, nats) with ``standard_error``,
    ``ess`` and ``reliable`` (:mod:`aevb.inference.estimators.uncertainty`), the ``elbo`` (NaN
    for a run without a guide), ``bits_per_dim`` = −log p(x) / (D ln 2), the input's
    ``complexity_bits`` L(x) and the complexity-corrected score ``corrected_bits`` = log₂ p(x) + L(x)
    (:mod:`aevb.ood`). ``about`` says what was scored and how."""

    index: torch.Tensor
    label: torch.Tensor
    log_p: torch.Tensor
    standard_error: torch.Tensor
    ess: torch.Tensor
    reliable: torch.Tensor
    elbo: torch.Tensor
    bits_per_dim: torch.Tensor
    complexity_bits: torch.Tensor
    corrected_bits: torch.Tensor
    about: dict

    #: the per-point columns, in the order a CSV holds them: every field but ``about`` (set below)
    COLUMNS = ()

    def __len__(self):
        return len(self.log_p)

    def point_estimates(self) -> PointEstimates:
        return PointEstimates(self.log_p, self.standard_error, self.ess, self.reliable)

    def rows(self) -> list:
        """One dict per point (integers as ints, the flag as a bool, numbers as floats)."""
        columns = {name: getattr(self, name).tolist() for name in self.COLUMNS}
        return [dict(zip(columns, values)) for values in zip(*columns.values())]

    def summary(self) -> dict:
        """``about`` with the log-likelihood's summary
        (:func:`aevb.inference.estimators.uncertainty.summary`: the mean over points not refused, its
        standard error, the counts of unreliable and refused points) and the means of the ELBO, the
        bits per dimension, the complexity and the corrected score (each over the points it has a
        value for)."""

        def mean(values):  # over the points where the column has a value (a refused point has no log p(x))
            values = values[torch.isfinite(values)]
            return values.mean().item() if len(values) else None

        return {
            **self.about,
            "log_likelihood": estimates_summary(self.point_estimates()),
            "elbo": mean(self.elbo),
            "bits_per_dim": mean(self.bits_per_dim),
            "complexity_bits": mean(self.complexity_bits),
            "corrected_bits": mean(self.corrected_bits),
        }


Scores.COLUMNS = tuple(f.name for f in fields(Scores) if f.name != "about")


def check_shape(split: data_module.Split, run) -> None:
    """The rows must be what the run's model was trained on: the same number of values per row (one
    line naming both shapes otherwise)."""
    have, want = split.x.shape[1], run.train.x.shape[1]
    if have != want:
        shape = "x".join(map(str, split.image_shape))
        trained = "x".join(map(str, run.train.image_shape))
        raise data_module.DataError(
            f"the data have {have} values per row (images {shape}), but the checkpoint's model was trained on "
            f"{want} (images {trained}, data set {run.config['dataset']!r})"
        )


#: ``split`` of a scoring call: ``auto`` (the test split of the run's own data set and of a
#: registered one, every row of any other data), or one of :data:`aevb.data.SPLITS`.
SPLITS = ("auto", *data_module.SPLITS)


def resolved_split(run, data, split: str) -> str:
    """``split`` with ``auto`` resolved (:data:`SPLITS`)."""
    if split not in SPLITS:
        raise data_module.DataError(f"split must be one of {SPLITS}, got {split!r}")
    if split != "auto":
        return split
    named = data is None or (isinstance(data, str) and data in (run.config["dataset"], *data_module.DATASETS))
    return "test" if named else "all"


def rows_for(run, data=None, *, split: str = "auto", data_dir=None, log=print) -> data_module.Split:
    """The rows ``split`` (:data:`SPLITS`) of ``data`` (default: the run's own data set; anything
    :func:`aevb.data.scored_rows` reads) prepared as the run's test set is, checked against the
    run's model. The run's own data set is read with its configuration's sizes and split."""
    c = run.config
    own = data is None or (isinstance(data, str) and data == c["dataset"])
    split = resolved_split(run, data, split)
    sizes = {"train_size": c["train_size"], "test_size": c["test_size"]} if own else {}
    rows = data_module.scored_rows(
        c["dataset"] if data is None else data,
        data_dir,
        split=split,
        binarize_mode=c["binarize"],
        binary_data=LIKELIHOODS[c["likelihood"]].binary,
        device=run.train.device,
        test_fraction=c["test_fraction"],
        split_seed=c["split_seed"],
        image_size=c["image_size"],
        log=log,
        **sizes,
    )
    check_shape(rows, run)
    return rows


def score(
    run,
    data=None,
    *,
    split: str = "auto",
    estimator: Optional[str] = None,
    num_samples: Optional[int] = None,
    points: Optional[int] = None,
    elbo_samples: Optional[int] = None,
    complexity: str = "png",
    data_dir=None,
    log=print,
) -> Scores:
    """:class:`Scores` of the first ``points`` rows (default: all) of ``split`` of ``data`` (default:
    the run's own data set; a registered name, a ``.npy``/``.npz`` file, an image folder, an array,
    or a :class:`aevb.data.Split` used as it is; ``split`` :data:`SPLITS`, by default the test split
    of the run's own or a registered data set, every row of other data) under the trained ``run``
    (:func:`aevb.experiment.load`), log p(x) by ``estimator`` with ``num_samples`` (default: the
    run's ``ll_estimator`` and ``eval_samples``), the ELBO with ``elbo_samples`` draws (default:
    the run's), the complexity by the ``complexity`` compressor (:mod:`aevb.data.complexity`)."""
    given = isinstance(data, data_module.Split)
    if given:
        rows = data
        check_shape(rows, run)
    else:
        split = resolved_split(run, data, split)
        rows = rows_for(run, data, split=split, data_dir=data_dir, log=log)
    if points is not None and not 1 <= points <= len(rows):
        raise ValueError(f"points must be between 1 and {len(rows)} (the rows scored), got {points}")
    x = rows.head(points)
    pair = run.scoring_pair(x)
    c = run.config
    estimator, num_samples = estimator or c["ll_estimator"], num_samples or c["eval_samples"]
    estimates = run.estimate(pair, x, estimator, num_samples)
    log_p = estimates.value.cpu()
    elbo = run.elbo(pair, x, elbo_samples).cpu() if pair[1] is not None else torch.full_like(log_p, math.nan)
    bits = compressed_bits(x, rows.image_shape, complexity)
    label = rows.y[: len(x)].cpu() if rows.y is not None else torch.full((len(x),), -1, dtype=torch.long)
    return Scores(
        index=torch.arange(len(x)),
        label=label,
        log_p=log_p,
        standard_error=estimates.error.cpu(),
        ess=estimates.ess.cpu(),
        reliable=estimates.reliable.cpu(),
        elbo=elbo,
        bits_per_dim=-log_p.double() / (x.shape[1] * math.log(2)),
        complexity_bits=bits,
        corrected_bits=corrected_bits(log_p, bits),
        about={
            "data": c["dataset"]
            if data is None
            else str(data)
            if isinstance(data, (str, os.PathLike))
            else "in-memory",
            "split": "given" if given else split,
            "num_points": len(x),
            "data_dim": x.shape[1],
            "estimator": estimator,
            "num_samples": num_samples,
            "complexity": complexity,
        },
    )


def detect(inside: Scores, outside: Scores) -> dict:
    """How well each score tells ``outside`` (out-of-distribution) from ``inside``: AUROC and AUPR
    (:func:`aevb.ood.detection`) of the raw log p(x) (``"raw"``) and of the complexity-corrected
    score (``"corrected"``); points whose estimate was refused (NaN) are left out and counted."""
    result = {}
    for name, column in (("raw", "log_p"), ("corrected", "corrected_bits")):
        a, b = getattr(inside, column), getattr(outside, column)
        result[name] = detection(a[torch.isfinite(a)], b[torch.isfinite(b)])
    result["refused"] = {
        "inside": int((~torch.isfinite(inside.log_p)).sum()),
        "outside": int((~torch.isfinite(outside.log_p)).sum()),
    }
    return result


def csv_text(scored: dict) -> str:
    """Plain CSV of every point of ``scored`` ({set name: :class:`Scores`}), a ``set`` column first."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=("set", *Scores.COLUMNS), lineterminator="\n")
    writer.writeheader()
    for name, scores in scored.items():
        for row in scores.rows():
            writer.writerow({"set": name, **row})
    return buffer.getvalue()
