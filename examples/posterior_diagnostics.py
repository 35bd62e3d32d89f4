#!/usr/bin/env python
"""ArviZ diagnostics of a trained checkpoint: NUTS on p(z|x) beside the guide's q(z|x), with verdicts.

    python examples/posterior_diagnostics.py --checkpoint runs/mnist_aevb/checkpoint.pt --indices 0 1 2 --out runs/diag

For the chosen test points (the decoder fixed): NUTS with 4 chains on p(z|x), R-hat, bulk and
tail ESS, MCSE and divergences with a verdict per point; draws from the guide and PSIS k-hat of
its importance weights (good < 0.5 <= usable < 0.7 <= not to be trusted), with the PSIS and
plain IS log-likelihoods. For an MCEM checkpoint (no guide) its own HMC sampler is run as 4
chains instead. Writes posterior.nc, guide.nc, summary.csv, report.md and PNG figures.
"""

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.simplefilter("ignore", FutureWarning)

import figures  # noqa: E402  (examples/figures.py; sets the Agg backend)
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import data  # noqa: E402
from guides import GUIDE_CLASSES, make_guide  # noqa: E402
from inference import CheckpointError, diagnostics as diag, load_checkpoint  # noqa: E402
from inference.experiment import GUIDE_FREE  # noqa: E402
from models import MODELS  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--checkpoint", required=True)
parser.add_argument("--indices", type=int, nargs="+", default=[0, 1, 2, 3], help="test-set indices of the points")
parser.add_argument("--num-chains", type=int, default=4)
parser.add_argument("--num-samples", type=int, default=500, help="draws per chain after warm-up")
parser.add_argument("--warmup", type=int, default=500)
parser.add_argument("--guide-samples", type=int, default=2000, help="draws from q(z|x) per point (also for PSIS)")
parser.add_argument("--data-dir", default=None)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default="runs/diagnostics")
args = parser.parse_args()


def load(checkpoint_path):
    """The checkpoint's model and guide (None for MCEM), weights loaded, on the CPU."""
    ck = load_checkpoint(checkpoint_path)
    cfg = ck.get("config", {})
    try:
        dims = {"data_dim": 784, "latent_dim": cfg["latent_dim"], "hidden_dim": cfg["hidden_dim"]}
        model = MODELS[cfg["model"]](**dims)
        model.load_state_dict(ck["modules"]["model"])
        guide = None
        if cfg["inference"] not in GUIDE_FREE:
            if not GUIDE_CLASSES[cfg["guide"]].amortised:
                raise ValueError(f"the checkpoint's guide ({cfg['guide']}) has parameters for training points only: it has no q(z|x) for test points to diagnose")
            spec = {k: cfg[k] for k in ("flow_steps", "flow_type") if k in cfg}
            guide = make_guide(cfg["guide"], **dims, **spec)
            guide.load_state_dict(ck["modules"]["guide"])
    except (KeyError, RuntimeError, TypeError) as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{checkpoint_path} is not a checkpoint of an MNIST model of this collection ({first})") from None
    return cfg, model.eval(), guide


def main():
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg, model, guide = load(args.checkpoint)
    _, test = data.load_mnist(args.data_dir, binarize_mode=cfg["binarize"], seed=cfg["seed"])
    bad = [i for i in args.indices if not 0 <= i < len(test)]
    if bad:
        raise ValueError(f"indices {bad} out of range: the test set has {len(test)} points (0..{len(test) - 1})")
    x = test.x[args.indices]
    print(f"{len(x)} test points, {cfg['latent_dim']}-d latent, {cfg['inference']}; sampling p(z|x) with 4+ chains ...")
    if guide is None:
        posterior, divergences = diag.hmc_inference_data(model, x, args.indices, num_chains=args.num_chains,
                                                         num_samples=args.num_samples, warmup_steps=args.warmup, seed=args.seed), 0
        sampler = "Monte Carlo EM's per-datapoint HMC (10 leapfrog steps)"
    else:
        posterior, divergences = diag.nuts_inference_data(model, x, args.indices, num_chains=args.num_chains,
                                                          num_samples=args.num_samples, warmup_steps=args.warmup, seed=args.seed, progress=True)
        sampler = "NUTS (Pyro), all points in one program"
    summary, verdicts = diag.convergence(posterior, divergences)
    posterior.to_netcdf(out / "posterior.nc")
    summary.to_csv(out / "summary.csv")
    lines = [f"# Posterior diagnostics of `{args.checkpoint}`", "",
             f"Sampler: {sampler}; {args.num_chains} chains x {args.num_samples} draws after {args.warmup} warm-up. "
             f"Divergences: {divergences}.", "", "## Convergence", "", "| test point | verdict |", "|---:|---|"]
    lines += [f"| {p} | {v} |" for p, v in verdicts.items()]
    lines += ["", "Per dimension (R-hat rank-normalised; converged means R-hat < 1.01 and bulk ESS > 400 in every dimension):", "",
              figures.markdown_table(summary[["mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "r_hat"]]), "",
              "![trace](trace.png)", ""]
    az = diag.az
    az.plot_trace(posterior, var_names=["z"], compact=True)
    plt.gcf().savefig(out / "trace.png", dpi=80)
    plt.close("all")
    shown = {"latent": list(range(min(model.latent_dim, 5)))}
    if guide is not None:
        guide_idata = diag.guide_inference_data(guide, x, args.indices, num_samples=args.guide_samples, seed=args.seed)
        guide_idata.to_netcdf(out / "guide.nc")
        result = diag.psis(model, guide, x, num_samples=args.guide_samples, seed=args.seed)
        table = pd.DataFrame({"test point": args.indices, "k-hat": result["khat"], "verdict": [diag.khat_verdict(k) for k in result["khat"]],
                              "PSIS log p(x)": result["psis_log_likelihood"], "IS log p(x)": result["is_log_likelihood"]})
        lines += ["## Is q(z|x) any good? PSIS", "", f"{args.guide_samples} draws from the guide per point; k-hat < 0.5 good, "
                  "0.5-0.7 usable, > 0.7 not to be trusted (Yao et al. 2018).", "", figures.markdown_table(table, index=False), "",
                  "![k-hat](khat.png)", "", "![pair](pair.png)", ""]
        az.plot_khat(result["khat"], show_bins=True)
        plt.gcf().savefig(out / "khat.png", dpi=80)
        plt.close("all")
        first = {"point": args.indices[0], **shown}
        ax = az.plot_pair(guide_idata, var_names=["z"], coords=first, kind="scatter", scatter_kwargs={"alpha": 0.15, "color": "C1"})
        az.plot_pair(posterior, var_names=["z"], coords=first, kind="scatter", scatter_kwargs={"alpha": 0.5, "color": "C0"}, ax=ax)
        plt.gcf().suptitle(f"test point {args.indices[0]}: NUTS (blue) and the guide (orange)")
        plt.gcf().savefig(out / "pair.png", dpi=80)
        plt.close("all")
        figures.save_reconstructions(model, guide, x, out / "reconstructions.png", (28, 28), num=len(x), per_row=len(x))
        lines += ["![data and reconstructions](reconstructions.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
    for p, v in verdicts.items():
        print(f"point {p}: {v}")
    print(f"wrote {out}/report.md, posterior.nc{', guide.nc' if guide is not None else ''}, summary.csv and figures")


if __name__ == "__main__":
    try:
        main()
    except (data.DataError, CheckpointError, ValueError) as e:
        sys.exit(f"error: {e}")
