#!/usr/bin/env python
"""Active units of trained runs (Burda, Grosse & Salakhutdinov 2015, §5.2), site by site.

    python benchmarks/active_units.py --run-dirs runs/models/mlp2_aevb runs/models/hier_aevb --points 10000

For each run folder: its guide's posterior means E_q[u|x] (100 joint draws per point) on the
first --points test points, and per local latent site how many dimensions have a variance over
those points above 0.01 (the unit is *active*; an inactive one encodes nothing about x and its
posterior stays at the prior). A model that leaves most of its latent units inactive has fewer
latent dimensions in effect than it was given, the usual reason a deeper model scores no better.
"""

import sys

from aevb import cli
from aevb import experiment as exp
from aevb.inference.capabilities import capabilities
from aevb.inference.diagnostics.active_units import ACTIVE_UNIT_THRESHOLD, active_units

PROGRAM = cli.Program(
    "active_units", __doc__, required=("run_dirs",), keys=("run_dirs", "points", "data_dir", "device")
)
#: Draws from q per point for its mean (Burda et al. use 100).
DRAWS = 100


def main(argv=None):
    settings = PROGRAM.parse(argv)
    print(
        f"active units (variance over the first {settings['points']} test points of E_q[u|x] > "
        f"{ACTIVE_UNIT_THRESHOLD:g}, "
        f"{DRAWS} draws per point)\n"
    )
    print("| run | model | inference | site | active units |")
    print("|---|---|---|---|---:|")
    for folder in settings["run_dirs"]:
        run = exp.load(
            folder, data_dir=settings["data_dir"], device=settings["device"], log=lambda *a: None, progress=False
        )
        if not capabilities(run.guide, "guide").amortised:  # the built guide declares it
            raise ValueError(
                f"{folder}: its run has no q(z|x) for test points (--inference {run.config['inference']}, "
                f"--guide {run.config['guide']})"
            )
        variances = active_units(run.guide, run.test.x[: settings["points"]], num_samples=DRAWS)
        for site, v in variances.items():
            print(
                f"| {folder} | {run.config['model']} | {run.config['inference']} | `{site}` | "
                f"{int((v > ACTIVE_UNIT_THRESHOLD).sum())} of {len(v)} |",
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(cli.run(main))
