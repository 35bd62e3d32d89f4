#!/usr/bin/env python
"""Bidirectional Monte Carlo on trained runs: how far AIS can be from log p(x) (Grosse et al. 2015).

    python benchmarks/bdmc.py --run-dirs runs/models/mlp2_aevb --points 100 --ais-steps 300

For each run folder: --points points simulated from its trained model, (z, x) ~ p(z) p(x|z),
each scored by forward AIS from the prior (a stochastic lower bound on log p(x)) and by reverse
AIS started at the z that generated it (a stochastic upper bound), 16 chains each way after 4
pilot chains, --ais-steps annealing steps (Figure 3's AIS: 300). The mean gap bounds the error
of AIS with these settings on these points. For models with at most 4 latent numbers per point
(Appendix D's range) Appendix D's estimate (50 + 50 HMC samples) on the same simulated points
follows; last, AIS on the first --points real test points, and Appendix D on the same test
points where it applies. Means over points, with the mean standard error (jackknife across
chains for AIS, over blocks of the estimating chain for Appendix D), and the points flagged
unreliable (effective sample size below 5, or Appendix D's chains not mixing: those are refused
and left out of its mean).

Every model is scored with the mass matrix its latent size gets (dense up to 16 numbers per
point) and, where that is dense, again with the diagonal one the estimators used before
2026-12-07, in the same run: old and new side by side. Per point in --out/bdmc.csv (simulated
points) and --out/test_points.csv (test points).
"""

import sys
import time
from pathlib import Path

from aevb import cli
from aevb import experiment as exp
from aevb.files import write_text
from aevb.inference import LL_ESTIMATORS
from aevb.inference.estimators import summary
from aevb.inference.estimators.ais import ais_log_likelihood
from aevb.inference.estimators.appendix_d import appendix_d_log_likelihood
from aevb.inference.estimators.bdmc import bdmc, simulate
from aevb.inference.estimators.mass import dense_for
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
        "| run | model | inference | mass | forward AIS (lower) | reverse AIS (upper) | gap | unreliable | "
        "Appendix D ± SE (refused) | AIS on test points (unreliable) | Appendix D on test points (refused) | time |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = ["run,mass,point,lower,lower_se,lower_ess,upper,upper_se,upper_ess,appendix_d,appendix_d_se"]
    test_rows = ["run,mass,point,ais,ais_se,ais_ess,appendix_d,appendix_d_se"]
    for folder in settings["run_dirs"]:
        run = exp.load(
            folder, data_dir=settings["data_dir"], device=settings["device"], log=lambda *a: None, progress=False
        )
        test = run.test.x[:points]
        x, z = simulate(run.model, test, seed=settings["seed"])
        size = LatentLayout.of(run.model, test).size
        masses = [("dense", True), ("diagonal", False)] if dense_for(size) else [("diagonal", False)]
        for mass, dense in masses:
            start = time.perf_counter()
            s = bdmc(
                run.model,
                x,
                z,
                num_steps=steps,
                num_chains=CHAINS,
                pilot_chains=PILOTS,
                dense=dense,
                seed=settings["seed"],
                progress=f"BDMC {folder} ({mass})",
            )
            appendix_d = test_d = None
            if size <= LL_ESTIMATORS["appendix-d"].max_latent_size:
                appendix_d = appendix_d_log_likelihood(
                    run.model, x, dense=dense, seed=settings["seed"], with_error=True, progress=f"Appendix D {folder}"
                )
                test_d = appendix_d_log_likelihood(
                    run.model, test, dense=dense, seed=settings["seed"], with_error=True, progress="Appendix D test"
                )
            ais = ais_log_likelihood(
                run.model,
                test,
                num_steps=steps,
                num_chains=CHAINS,
                pilot_chains=PILOTS,
                dense=dense,
                seed=settings["seed"],
                with_error=True,
                progress=f"AIS {folder} ({mass})",
            )
            took = time.perf_counter() - start
            print(
                f"| {folder} | {run.config['model']} | {run.config['inference']} | {mass} | "
                f"{s.lower.mean():.2f} ± {s.lower_error.mean():.2f} | "
                f"{s.upper.mean():.2f} ± {s.upper_error.mean():.2f} | {s.gap.mean():.2f} | "
                f"{int((~s.reliable).sum())} of {len(x)} | {shown(appendix_d)} | "
                f"{ais.value.mean():.2f} ± {ais.error.mean():.2f} ({int((~ais.reliable).sum())}) | {shown(test_d)} | "
                f"{took / 60:.1f} min |",
                flush=True,
            )
            columns = [s.lower, s.lower_error, s.lower_ess, s.upper, s.upper_error, s.upper_ess]
            columns += [] if appendix_d is None else [appendix_d.value, appendix_d.error]
            for i, values in enumerate(zip(*(c.tolist() for c in columns))):
                cells = [f"{v:.4f}" for v in values] + [""] * (8 - len(values))  # no Appendix D: two empty cells
                rows.append(",".join([folder, mass, str(i)] + cells))
            columns = [ais.value, ais.error, ais.ess] + ([] if test_d is None else [test_d.value, test_d.error])
            for i, values in enumerate(zip(*(c.tolist() for c in columns))):
                cells = [f"{v:.4f}" for v in values] + [""] * (5 - len(values))
                test_rows.append(",".join([folder, mass, str(i)] + cells))
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "bdmc.csv", "\n".join(rows) + "\n")
    write_text(out / "test_points.csv", "\n".join(test_rows) + "\n")
    print(f"\nwrote {out}/bdmc.csv and {out}/test_points.csv")


def shown(points) -> str:
    """An Appendix D cell: mean over the points it estimated ± their mean error (refused points)."""
    if points is None:
        return "—"
    result = summary(points)
    return f"{result['value']:.2f} ± {points.error[points.value.isfinite()].mean():.2f} ({result['refused']})"


if __name__ == "__main__":
    sys.exit(cli.run(main))
