#!/usr/bin/env python
"""Bidirectional Monte Carlo on trained runs: how far AIS can be from log p(x) (Grosse et al. 2015).

    python benchmarks/bdmc.py --run-dirs runs/models/mlp2_aevb --points 100 --ais-steps 300

For each run folder: --points points simulated from its trained model, (z, x) ~ p(z) p(x|z),
each scored by forward AIS from the prior (a stochastic lower bound on log p(x)) and by reverse
AIS started at the z that generated it (a stochastic upper bound), 16 chains each way after 4
pilot chains, --ais-steps annealing steps (Figure 3's AIS: 300). The mean gap bounds the error
of AIS with these settings on these points. For models with at most 4 latent numbers per point
(Appendix D's range) Appendix D's estimate (50 + 50 HMC samples) on the same simulated points
follows, with its mean standard error; last, AIS on the first --points real test points, and
Appendix D on the same test points where it applies. Means over points, with the mean standard
error (across chains for AIS, along the estimating chain for Appendix D); per point in
--out/bdmc.csv (simulated points) and --out/test_points.csv (test points).
"""

import sys
import time
from pathlib import Path

from aevb import cli
from aevb import experiment as exp
from aevb.files import write_text
from aevb.inference import LL_ESTIMATORS
from aevb.inference.estimators.ais import ais_log_likelihood
from aevb.inference.estimators.appendix_d import appendix_d_log_likelihood
from aevb.inference.estimators.bdmc import bdmc, simulate
from aevb.inference.latents import LatentLayout

PROGRAM = cli.Program(
    "bdmc",
    __doc__,
    required=("run_dirs",),
    keys=("run_dirs", "points", "ais_steps", "seed", "out", "data_dir", "device"),
)
#: Chains each way and pilot chains: Figure 3's AIS setting.
CHAINS, PILOTS = 16, 4


def main(argv=None):
    settings = PROGRAM.parse(argv)
    out = Path(settings["out"])
    steps, points = settings["ais_steps"], settings["points"]
    print(
        f"BDMC on {points} points simulated from each model: {steps} steps, {CHAINS} chains each way, {PILOTS} pilot "
        "chains\n"
    )
    print(
        "| run | model | inference | forward AIS (lower) | reverse AIS (upper) | gap | Appendix D ± SE | AIS on "
        "test points | "
        "Appendix D on test points | time |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = ["run,point,lower,lower_se,upper,upper_se,appendix_d,appendix_d_se"]
    test_rows = ["run,point,ais,ais_se,appendix_d,appendix_d_se"]
    for folder in settings["run_dirs"]:
        run = exp.load(
            folder, data_dir=settings["data_dir"], device=settings["device"], log=lambda *a: None, progress=False
        )
        test = run.test.x[:points]
        x, z = simulate(run.model, test, seed=settings["seed"])
        start = time.perf_counter()
        s = bdmc(
            run.model,
            x,
            z,
            num_steps=steps,
            num_chains=CHAINS,
            pilot_chains=PILOTS,
            seed=settings["seed"],
            progress=f"BDMC {folder}",
        )
        appendix_d = appendix_d_error = test_d = None
        if LatentLayout.of(run.model, test).size <= LL_ESTIMATORS["appendix-d"].max_latent_size:
            appendix_d, appendix_d_error = appendix_d_log_likelihood(
                run.model, x, seed=settings["seed"], with_error=True, progress=f"Appendix D {folder}"
            )
            test_d = appendix_d_log_likelihood(
                run.model, test, seed=settings["seed"], with_error=True, progress=f"Appendix D {folder} test"
            )
        ais, ais_error = ais_log_likelihood(
            run.model,
            test,
            num_steps=steps,
            num_chains=CHAINS,
            pilot_chains=PILOTS,
            seed=settings["seed"],
            with_error=True,
            progress=f"AIS {folder}",
        )
        took = time.perf_counter() - start
        shown = "—" if appendix_d is None else f"{appendix_d.mean():.2f} ± {appendix_d_error.mean():.2f}"
        shown_test = "—" if test_d is None else f"{test_d[0].mean():.2f} ± {test_d[1].mean():.2f}"
        print(
            f"| {folder} | {run.config['model']} | {run.config['inference']} | {s.lower.mean():.2f} ± "
            f"{s.lower_error.mean():.2f} | "
            f"{s.upper.mean():.2f} ± {s.upper_error.mean():.2f} | {s.gap.mean():.2f} | {shown} | {ais.mean():.2f} ± "
            f"{ais_error.mean():.2f} | "
            f"{shown_test} | {took / 60:.1f} min |",
            flush=True,
        )
        columns = [s.lower, s.lower_error, s.upper, s.upper_error] + (
            [] if appendix_d is None else [appendix_d, appendix_d_error]
        )
        for i, values in enumerate(zip(*(c.tolist() for c in columns))):
            cells = [f"{v:.4f}" for v in values] + [""] * (6 - len(values))  # no Appendix D: two empty cells
            rows.append(",".join([folder, str(i)] + cells))
        columns = [ais, ais_error] + ([] if test_d is None else list(test_d))
        for i, values in enumerate(zip(*(c.tolist() for c in columns))):
            test_rows.append(",".join([folder, str(i)] + [f"{v:.4f}" for v in values] + [""] * (4 - len(values))))
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "bdmc.csv", "\n".join(rows) + "\n")
    write_text(out / "test_points.csv", "\n".join(test_rows) + "\n")
    print(f"\nwrote {out}/bdmc.csv and {out}/test_points.csv")


if __name__ == "__main__":
    sys.exit(cli.run(main))
