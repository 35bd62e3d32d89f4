#!/usr/bin/env python
"""Where Appendix D's posterior chains start, and why it matters (docs/results.md, Figure 3).

    python benchmarks/appendix_d_start.py --run-dir runs/paper_figure3/runs/n1000_aevb --points 100

Loads a trained run of examples/paper_figure3.py (or any run folder with curve.json and
checkpoint.pt) and estimates log p(x) on its first --points training points with Appendix D's
estimator, each point's HMC chain started at one prior draw (init_draws = 0, also with 10×
the burn-in) or at the best of K prior draws, beside AIS from the prior on the same points,
which is a stochastic lower bound on log p(x) (in expectation).
"""

import sys
import time
from pathlib import Path

from aevb import cli
from aevb import config as cfg
from aevb import experiment as exp
from aevb.curves import scored_points
from aevb.files import read_json
from aevb.inference.estimators import summary
from aevb.inference.estimators.ais import ais_log_likelihood
from aevb.inference.estimators.appendix_d import appendix_d_log_likelihood
from aevb.inference.estimators.uncertainty import flag_note
from aevb.inference.training.checkpoint import load_checkpoint

#: This program's own options (the shared ones are in aevb.config).
OPTIONS = (
    cfg.Option(
        "run_dir", "runs/paper_figure3/runs/n1000_aevb", "a run folder with curve.json and checkpoint.pt", metavar="DIR"
    ),
)
PROGRAM = cli.Program("appendix_d_start", __doc__, keys=("points", "data_dir"), options=OPTIONS)


def main(argv=None):
    settings = PROGRAM.parse(argv)
    run = Path(settings["run_dir"])
    curve = read_json(run / "curve.json")
    if curve is None:
        raise ValueError(f"{run} holds no curve.json: pass --run-dir a run folder of examples/paper_figure3.py")
    experiment = exp.build(curve["config"], data_dir=settings["data_dir"], device="cpu", log=lambda *a: None)
    experiment.model.load_state_dict(load_checkpoint(run / "checkpoint.pt")["modules"]["model"])
    x = scored_points(experiment, "train", settings["points"])
    print(f"{run}: first {len(x)} training points, log p(x) per datapoint (nats)")
    rows = [
        (
            "AIS from the prior, 300 steps, 16 chains",
            lambda: ais_log_likelihood(experiment.model, x, num_steps=300, with_error=True),
        )
    ]
    rows += [
        (
            f"Appendix D, one prior draw, burn-in {b}",
            lambda b=b: appendix_d_log_likelihood(experiment.model, x, init_draws=0, burn_in=b, with_error=True),
        )
        for b in (100, 1000)
    ]
    rows += [
        (
            f"Appendix D, best of {k} prior draws, burn-in 100",
            lambda k=k: appendix_d_log_likelihood(experiment.model, x, init_draws=k, with_error=True),
        )
        for k in (30, 100, 300, 1000)
    ]
    for label, estimate in rows:  # the mean over the points estimated; Appendix D refuses chains that do not mix
        start = time.perf_counter()
        result = summary(estimate())
        print(
            f"| {label} | {result['value']:.2f}{flag_note(result)} | {time.perf_counter() - start:.1f} s |", flush=True
        )


if __name__ == "__main__":
    sys.exit(cli.run(main))
