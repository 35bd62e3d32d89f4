#!/usr/bin/env python
"""ArviZ diagnostics of a trained checkpoint: NUTS on p(z|x) beside the guide's q(z|x), with verdicts.

    python examples/posterior_diagnostics.py --checkpoint runs/mnist_aevb/checkpoint.pt --indices 0 1 2 --out runs/diag

For the chosen test points (the decoder fixed): NUTS with 4 chains on p(z|x), R-hat, bulk and
tail ESS, MCSE and divergences with a verdict per point; draws from the guide and PSIS k-hat of
its importance weights (good < 0.5 <= usable < 0.7 <= not to be trusted), with the PSIS and
plain IS log-likelihoods. For an MCEM checkpoint (no guide) its own HMC sampler is run as 4
chains instead. Writes posterior.nc, guide.nc, summary.csv, report.md and PNG figures.
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import sys
import warnings
from pathlib import Path

from aevb import cli, figures, runs
from aevb import config as cfg
from aevb import experiment as exp
from aevb.files import atomic_path, write_text
from aevb.folder import RunFolder
from aevb.inference.capabilities import capabilities
from aevb.inference.latents import LatentLayout

#: This program's own options (the shared ones are in aevb.config).
OPTIONS = (
    cfg.Option("indices", [0, 1, 2, 3], "test-set indices of the points", type=int, many=True, low=0),
    cfg.Option("num_chains", 4, "NUTS chains (R-hat compares chains: at least 4)", type=int, low=4),
    cfg.positive("num_samples", 500, "draws per chain after warm-up"),
    cfg.positive("warmup", 500, "NUTS warm-up steps per chain"),
    cfg.positive("guide_samples", 2000, "draws from q(z|x) per point (also for PSIS)"),
)
PROGRAM = cli.Program(
    "posterior_diagnostics",
    __doc__,
    required=("checkpoint",),
    keys=(
        "checkpoint",
        "data_dir",
        "seed",
        "out",
        "overwrite",
        "quiet",
    ),
    options=OPTIONS,
)
OUTPUTS = (
    "report.md",
    "posterior.nc",
    "guide.nc",
    "summary.csv",
    "trace.png",
    "khat.png",
    "pair.png",
    "reconstructions.png",
)


def diagnostics_in(folder: Path):
    """What an earlier call left in ``folder`` (:class:`aevb.folder.RunFolder`), or None."""
    return "the diagnostics of an earlier call (report.md)" if (folder / "report.md").exists() else None


def load(checkpoint, data_dir, progress: bool):
    """The checkpointed run on the CPU (its model, guide and test set), refusing what has no q(z|x)
    for test points."""
    path = runs.checkpoint_path(checkpoint)
    config = exp.stored_config(path)
    needs_guide = capabilities(exp.ALGORITHMS[config["inference"]], "algorithm").needs_guide
    if needs_guide and not capabilities(exp.configured_guide(config), "guide").amortised:
        raise ValueError(
            f"the checkpoint's guide ({config['guide']}) has parameters for training points only: it has no q(z|x) "
            "for test points to diagnose"
        )
    return exp.load(path, data_dir=data_dir, device="cpu", log=lambda *a: None, progress=progress)


def main(argv=None):
    settings = PROGRAM.parse(argv)
    import matplotlib

    matplotlib.use("Agg")  # ArviZ draws through pyplot; this program writes files only
    import matplotlib.pyplot as plt
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # ArviZ 0.23 announces its 1.0 refactor at import
        from aevb.inference.diagnostics import posterior as diag
    # ArviZ 0.23's plots call a matplotlib API that matplotlib 3.11 deprecates: theirs to fix, noise to our users
    warnings.filterwarnings("ignore", message="Passing a dict or None as alias_mapping")
    out = Path(settings["out"])
    with RunFolder(out, holds=diagnostics_in, outputs=OUTPUTS, overwrite=settings["overwrite"], resumable=False):
        try:
            diagnose(settings, out, plt, pd, diag)
        except KeyboardInterrupt:
            written = sorted(p.name for p in out.iterdir() if p.name in OUTPUTS)
            raise cli.Interrupted(
                f"interrupted; {', '.join(written) + ' written' if written else 'nothing was written'}, "
                "report.md comes last: run it again with --overwrite"
            ) from None


def diagnose(settings, out: Path, plt, pd, diag) -> None:
    progress = not settings["quiet"]
    run = load(settings["checkpoint"], settings["data_dir"], progress)
    model, guide, test = run.model.eval(), run.guide, run.test
    indices, seed = settings["indices"], settings["seed"]
    chains, draws, warmup, guide_draws = (
        settings["num_chains"],
        settings["num_samples"],
        settings["warmup"],
        settings["guide_samples"],
    )
    bad = [i for i in indices if not 0 <= i < len(test)]
    if bad:
        raise ValueError(f"indices {bad} out of range: the run's test set has {len(test)} points (0..{len(test) - 1})")
    x = test.x[indices]
    layout = LatentLayout.of(model, x)
    print(
        f"{len(x)} test points, --model {run.config['model']} "
        f"(latent sites {', '.join(f'{n} ({k})' for n, k in zip(layout.sites, layout.sizes))}), "
        f"{run.config['inference']}; sampling p(z|x) with {chains} chains ..."
    )
    sampling = {"num_chains": chains, "num_samples": draws, "warmup_steps": warmup, "seed": seed, "progress": progress}
    if guide is None:
        posterior, divergences = diag.hmc_inference_data(model, x, indices, **sampling), 0
        sampler = "Monte Carlo EM's per-datapoint HMC (10 leapfrog steps)"
    else:
        posterior, divergences = diag.nuts_inference_data(model, x, indices, **sampling)
        sampler = "NUTS (Pyro), all points in one program"
    summary, verdicts = diag.convergence(posterior, divergences)
    with atomic_path(out / "posterior.nc") as tmp:
        posterior.to_netcdf(tmp)
    write_text(out / "summary.csv", summary.to_csv())
    lines = [
        f"# Posterior diagnostics of `{settings['checkpoint']}`",
        "",
        f"Sampler: {sampler}; {chains} chains x {draws} draws after {warmup} warm-up. Divergences: {divergences}.",
        "",
        "## Convergence",
        "",
        "| test point | verdict |",
        "|---:|---|",
    ]
    lines += [f"| {p} | {v} |" for p, v in verdicts.items()]
    lines += [
        "",
        "Per dimension (R-hat rank-normalised; converged means R-hat < 1.01 and bulk ESS > 400 in every dimension):",
        "",
        figures.markdown_table(summary[["mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "r_hat"]]),
        "",
        "![trace](trace.png)",
        "",
    ]
    az = diag.az
    az.plot_trace(posterior, compact=True)
    figures.save_figure(plt.gcf(), out / "trace.png", dpi=80)
    plt.close("all")
    first = layout.sites[0]  # the pair plot shows up to 5 dimensions of the first site
    shown = {f"{first}_dim": list(range(min(layout.sizes[0], 5)))}
    if guide is not None:
        guide_idata = diag.guide_inference_data(guide, x, indices, num_samples=guide_draws, seed=seed)
        with atomic_path(out / "guide.nc") as tmp:
            guide_idata.to_netcdf(tmp)
        result = diag.psis(model, guide, x, num_samples=guide_draws, seed=seed)
        table = pd.DataFrame(
            {
                "test point": indices,
                "k-hat": result["khat"],
                "verdict": [diag.khat_verdict(k) for k in result["khat"]],
                "PSIS log p(x)": result["psis_log_likelihood"],
                "IS log p(x)": result["is_log_likelihood"],
            }
        )
        lines += [
            "## Is q(z|x) any good? PSIS",
            "",
            f"{guide_draws} draws from the guide per point; k-hat < 0.5 good, "
            "0.5-0.7 usable, > 0.7 not to be trusted (Yao et al. 2018).",
            "",
            figures.markdown_table(table, index=False),
            "",
            "![k-hat](khat.png)",
            "",
            "![pair](pair.png)",
            "",
        ]
        az.plot_khat(result["khat"], show_bins=True)
        figures.save_figure(plt.gcf(), out / "khat.png", dpi=80)
        plt.close("all")
        coords = {"point": indices[0], **shown}
        ax = az.plot_pair(
            guide_idata, var_names=[first], coords=coords, kind="scatter", scatter_kwargs={"alpha": 0.15, "color": "C1"}
        )
        az.plot_pair(
            posterior,
            var_names=[first],
            coords=coords,
            kind="scatter",
            scatter_kwargs={"alpha": 0.5, "color": "C0"},
            ax=ax,
        )
        plt.gcf().suptitle(f"test point {indices[0]}: NUTS (blue) and the guide (orange)")
        figures.save_figure(plt.gcf(), out / "pair.png", dpi=80)
        plt.close("all")
        figures.save_reconstructions(
            model, guide, x, out / "reconstructions.png", test.image_shape, num=len(x), per_row=len(x)
        )
        lines += ["![data and reconstructions](reconstructions.png)", ""]
    write_text(out / "report.md", "\n".join(lines))
    for p, v in verdicts.items():
        print(f"point {p}: {v}")
    print(f"wrote {out}/report.md, posterior.nc{', guide.nc' if guide is not None else ''}, summary.csv and figures")


if __name__ == "__main__":
    sys.exit(cli.run(main))
