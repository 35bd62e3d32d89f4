#!/usr/bin/env python
"""Every estimator and algorithm of the collection against the linear-Gaussian model's exact answers.

    python examples/linear_gaussian_oracle.py [--seed 0] [--oracle-seeds 0 1 2] [--out runs/oracle]

The model p(z) = N(0, I₂), p(x|z) = N(W z + b, 0.5² I₅) has closed forms for log p(x), p(z|x)
and the maximum-likelihood fit (models/linear_gaussian.py). This program prints, and writes
to --out/metrics.json, (1) each log-likelihood estimator's error against the exact log p(x)
on 200 test points, and (2) how far AEVB, wake-sleep and MCEM end from the closed-form ML fit
when they fit the model to 1000 of its own samples. Then the harder oracles, 20 points simulated
from each, at every --oracle-seeds seed: (3) models whose posterior standard deviations span a
factor of 50 (0.9 … 0.018, σ = 0.5, twice as many data dimensions as latents), along the latent
axes and along a random rotation of them (a correlated posterior, as a trained decoder gives):
AIS from the prior and BDMC at Nz = 10, Appendix D at Nz = 4, with the dense mass matrix (the
default at these sizes), a diagonal one, and, on the axis-aligned model, the identity (the
estimators before 2026-11-24); (4) the two-layer model z₂ → z₁ → x on 20 test points with a
trained guide; (5) a two-layer model whose posterior ties z₁ to z₂ (σ₁ = 0.05) along rotated
directions: BDMC and Appendix D, dense against diagonal; (6) the linear-Gaussian state-space model
(5 steps, 2 latents and 3 observations per step, 40 test sequences of 1 to 5 steps), whose
log p(x_{1:T}) the Kalman filter gives exactly, with the structured sequence guide of the deep
Markov model trained on 1000 of its sequences (errors per sequence).
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import math
import sys
import time
from pathlib import Path

import torch

from aevb import cli
from aevb.config import Option
from aevb.data import Split
from aevb.files import write_json
from aevb.folder import RunFolder
from aevb.guides import DiagonalGaussianGuide, SequenceGuide, make_guide
from aevb.guides.exact import ExactPosteriorGuide
from aevb.inference import AEVB, MonteCarloEM, WakeSleep, estimators, fit, make_optimizer
from aevb.inference.estimators.ais import ais_log_likelihood
from aevb.inference.estimators.appendix_d import appendix_d_log_likelihood
from aevb.inference.estimators.bdmc import bdmc, simulate
from aevb.models.linear_gaussian import LinearGaussianModel, TwoLayerLinearGaussian
from aevb.models.state_space import ExactStateSpaceGuide, LinearStateSpace

PROGRAM = cli.Program(
    "linear_gaussian_oracle",
    __doc__,
    keys=("seed", "out", "overwrite"),
    options=(
        Option(
            "oracle_seeds",
            [0, 1, 2],
            "seeds of the anisotropic and correlated oracles (each draws a basis and 20 points)",
            type=int,
            many=True,
            low=0,
        ),
    ),
)
#: Points simulated from each anisotropic or correlated oracle.
ORACLE_POINTS = 20


def results_in(folder: Path):
    """What an earlier call left in ``folder`` (:class:`aevb.folder.RunFolder`), or None."""
    return "the results of an earlier call (metrics.json)" if (folder / "metrics.json").exists() else None


def main(argv=None):
    settings = PROGRAM.parse(argv)
    out = Path(settings["out"])
    with RunFolder(out, holds=results_in, outputs=("metrics.json",), overwrite=settings["overwrite"], resumable=False):
        try:
            compare_with_exact_answers(settings, out)
        except KeyboardInterrupt:
            raise cli.Interrupted("interrupted; nothing was written (metrics.json comes at the end)") from None


def compare_with_exact_answers(settings, out: Path) -> None:
    torch.manual_seed(settings["seed"])
    truth = LinearGaussianModel(5, 2).set_parameters(torch.randn(5, 2), torch.randn(5), 0.5)
    with torch.no_grad():
        x = truth.marginal().sample((1200,))
    train, test = x[:1000], x[1000:]
    exact = truth.log_marginal(test).detach()

    # (1) estimators on the true model
    guide = DiagonalGaussianGuide(5, 2, 32)
    frozen(truth)  # its parameters are not registered for training
    fit(
        AEVB(truth, guide),
        make_optimizer("adam", guide.parameters(), 3e-3),
        Split(train, (1, 5)),
        epochs=40,
        batch_size=50,
        progress=False,
    )
    estimates = {
        "IS, exact posterior as proposal, K=10": estimators.log_likelihood_per_point(
            truth, ExactPosteriorGuide(truth), test, num_samples=10
        ),
        "ELBO of the fitted diagonal guide": estimators.elbo_per_point(truth, guide, test, num_samples=1000),
        "IS, fitted diagonal guide, K=5000": estimators.log_likelihood_per_point(truth, guide, test, num_samples=5000),
        "AIS from the prior, 300 steps, 8 chains": ais_log_likelihood(
            truth, test, num_chains=8, num_steps=300, num_leapfrog=3
        ),
        "Appendix D, 100 HMC samples": appendix_d_log_likelihood(truth, test, num_samples=100),
    }
    rows = mean_errors(estimates, exact)
    print("| estimator | mean error vs exact log p(x) (nats/datapoint) |\n|---|---:|")
    for name, err in rows.items():
        print(f"| {name} | {err:+.4f} |")

    # (2) fitting the model to its own samples
    ml = LinearGaussianModel.maximum_likelihood(train, latent_dim=2).log_marginal(test).mean().item()
    gaps = {}
    for name, (epochs, lr) in {"aevb": (60, 0.01), "wake-sleep": (60, 0.01), "mcem": (40, 3e-3)}.items():
        torch.manual_seed(settings["seed"])
        model = LinearGaussianModel(5, 2)
        if name == "mcem":
            algorithm = MonteCarloEM(model, num_data=len(train), initial_step_size=0.1)
        else:
            algorithm = (AEVB if name == "aevb" else WakeSleep)(model, DiagonalGaussianGuide(5, 2, 32))
        fit(
            algorithm,
            make_optimizer("adam", algorithm.parameters(), lr),
            Split(train, (1, 5)),
            epochs=epochs,
            batch_size=100,
            progress=False,
        )
        gaps[name] = {"epochs": epochs, "lr": lr, "gap": ml - model.log_marginal(test).mean().item()}
    print(f"\nclosed-form ML fit: test log-likelihood {ml:.3f} nats/datapoint\n")
    print(
        "| algorithm | epochs | Adam lr | test log-likelihood below the ML fit (nats/datapoint) |\n|---|---:|---:|---:|"
    )
    for name, g in gaps.items():
        print(f"| {name} | {g['epochs']} | {g['lr']} | {g['gap']:.3f} |")
    anisotropic = anisotropic_errors(settings["oracle_seeds"])
    two_layer = two_layer_errors(settings["seed"])
    correlated = correlated_two_layer_errors(settings["oracle_seeds"])
    state_space = state_space_errors(settings["seed"])
    write_json(
        out / "metrics.json",
        {
            "estimator_errors": rows,
            "ml_test_log_likelihood": ml,
            "fit_gaps": gaps,
            "anisotropic": anisotropic,
            "two_layer": two_layer,
            "correlated_two_layer": correlated,
            "state_space": state_space,
        },
    )
    print(f"\nwrote {out}/metrics.json")


def mean_errors(estimates: dict, exact: torch.Tensor) -> dict:
    """Each estimate's mean error against ``exact``; an estimator's refused points (NaN: Appendix
    D's) are left out of its mean and counted in its name."""
    rows = {}
    for name, est in estimates.items():
        refused = int(est.isnan().sum())
        rows[name + (f" ({refused} of {len(est)} points refused)" if refused else "")] = (est - exact).nanmean().item()
    return rows


def frozen(model):
    model.train(False)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def oracle(latent_dim: int, rotated: bool, seed: int):
    """The anisotropic oracle (spreads 0.9 … 0.018) at ``seed``, frozen, and ORACLE_POINTS points
    (x, z) simulated from it."""
    scales = (0.9 * 50 ** -torch.linspace(0, 1, latent_dim, dtype=torch.float64)).tolist()
    model = frozen(LinearGaussianModel.with_posterior_scales(scales, sigma=0.5, seed=seed, rotated=rotated).float())
    x, z = simulate(model, torch.zeros(ORACLE_POINTS, model.data_dim), seed=seed)
    return model, x, z


#: The mass matrices compared: (name, adapt_mass, dense).
MASSES = (("dense", True, True), ("diagonal", True, False), ("identity", False, None))


def table_rows(results: dict, name: str, errors: dict, seconds: float = None) -> None:
    """Average per-seed rows ``errors[seed] = {"error": (B,), "se": (B,) or None, "refused": int}``
    into ``results[name]`` and print the row, with the estimator's wall time over the seeds."""
    means = [e["error"].nanmean().item() for e in errors.values()]  # NaN for a seed whose points were all refused
    ses = [e["se"][e["error"].isfinite()].mean().item() for e in errors.values() if e.get("se") is not None]
    ses = [v for v in ses if math.isfinite(v)]
    refused = sum(e.get("refused", 0) for e in errors.values())
    estimated = torch.cat([e["error"][e["error"].isfinite()] for e in errors.values()])
    worst = estimated.max().item() if len(estimated) else float("nan")
    finite = [m for m in means if math.isfinite(m)]
    results[name] = {
        "mean_error_per_seed": means,
        "mean_error": sum(finite) / len(finite) if finite else float("nan"),  # over the seeds with estimates
        "largest_error": worst,
        "mean_se": sum(ses) / len(ses) if ses else None,
        "refused": refused,
        "points": ORACLE_POINTS * len(errors),
        "seconds": seconds,
    }
    row = results[name]
    se = "—" if row["mean_se"] is None else f"{row['mean_se']:.3f}"
    print(
        f"| {name} | {signed(row['mean_error'], 3)} ({', '.join(signed(m, 3) for m in means)}) | {signed(worst, 2)} | "
        f"{se} | "
        f"{refused} of {row['points']} | {'' if seconds is None else f'{seconds:.0f}'} |",
        flush=True,
    )


def signed(value: float, digits: int) -> str:
    """A signed number, or "—" for NaN (every point refused)."""
    return "—" if math.isnan(value) else f"{value:+.{digits}f}"


def anisotropic_errors(seeds) -> dict:
    """(3): AIS, BDMC and Appendix D on posteriors whose standard deviations span a factor of 50,
    axis-aligned and rotated, with each mass matrix."""
    results = {}
    print(
        f"\n| anisotropic oracle ({ORACLE_POINTS} points per seed, seeds {list(seeds)}) | mean error vs exact "
        "log p(x) (per seed) | largest error | mean standard error | points refused | seconds |\n"
        "|---|---:|---:|---:|---:|---:|"
    )
    for basis, rotated in (("axis-aligned", False), ("rotated", True)):
        for mass, adapt, dense in MASSES:
            if rotated and not adapt:
                continue  # the identity fails on axis-aligned posteriors already
            forward, reverse, gap, appendix = {}, {}, {}, {}
            took = {"bdmc": 0.0, "appendix_d": 0.0}
            for seed in seeds:
                model, x, z = oracle(10, rotated, seed)
                exact = model.log_marginal(x)
                start = time.perf_counter()
                s = bdmc(model, x, z, num_steps=300, num_chains=16, adapt_mass=adapt, dense=dense, seed=seed)
                took["bdmc"] += time.perf_counter() - start
                forward[seed] = {"error": s.lower - exact, "se": s.lower_error}
                reverse[seed] = {"error": s.upper - exact, "se": s.upper_error}
                gap[seed] = {"error": s.gap}
                model, x, _ = oracle(4, rotated, seed)
                start = time.perf_counter()
                d = appendix_d_log_likelihood(
                    model, x, num_samples=50, adapt_mass=adapt, dense=dense, seed=seed, with_error=True
                )
                took["appendix_d"] += time.perf_counter() - start
                appendix[seed] = {
                    "error": d.value - model.log_marginal(x),
                    "se": d.error,
                    "refused": int(d.value.isnan().sum()),
                }
            prefix = f"{basis}, {mass} mass"
            table_rows(results, f"{prefix}, Nz=10, AIS from the prior, 300 steps, 16 chains", forward)
            table_rows(results, f"{prefix}, Nz=10, BDMC upper bound (reverse AIS)", reverse)
            table_rows(results, f"{prefix}, Nz=10, BDMC gap", gap, took["bdmc"])
            table_rows(results, f"{prefix}, Nz=4, Appendix D, 50 + 50 HMC samples", appendix, took["appendix_d"])
    return results


def correlated_two_layer_errors(seeds) -> dict:
    """(5): BDMC and Appendix D on two-site posteriors with z₁ tied to z₂ along rotated directions."""
    results = {}
    print(
        "\n| correlated two-layer oracle (z1, z2 of 2 each; 20 points per seed) | mean error (per seed) | largest "
        "| mean standard error | points refused | seconds |\n|---|---:|---:|---:|---:|---:|"
    )
    for mass, _, dense in MASSES[:2]:
        forward, gap, appendix = {}, {}, {}
        for seed in seeds:
            model = TwoLayerLinearGaussian.correlated(8, (2, 2), seed=seed).float()
            x, z = simulate(model, torch.zeros(ORACLE_POINTS, 8), seed=seed)
            exact = model.log_marginal(x)
            s = bdmc(model, x, z, num_steps=300, num_chains=16, dense=dense, seed=seed)
            forward[seed] = {"error": s.lower - exact, "se": s.lower_error}
            gap[seed] = {"error": s.gap}
            d = appendix_d_log_likelihood(model, x, num_samples=50, dense=dense, seed=seed, with_error=True)
            appendix[seed] = {"error": d.value - exact, "se": d.error, "refused": int(d.value.isnan().sum())}
        table_rows(results, f"{mass} mass, AIS from the prior, 300 steps, 16 chains", forward)
        table_rows(results, f"{mass} mass, BDMC gap", gap)
        table_rows(results, f"{mass} mass, Appendix D, 50 + 50 HMC samples", appendix)
    return results


def two_layer_errors(seed: int) -> dict:
    """(4): every estimator on the two-layer model z₂ → z₁ → x (z₁ of 2, z₂ of 1, 5 data dimensions)."""
    torch.manual_seed(seed)  # its data and guide do not depend on what the sections before it drew
    g = torch.Generator().manual_seed(seed)
    model = frozen(
        TwoLayerLinearGaussian(5, (2, 1)).set_parameters(
            torch.randn(2, 1, generator=g),
            torch.randn(2, generator=g),
            0.7,
            torch.randn(5, 2, generator=g),
            torch.randn(5, generator=g),
            0.5,
        )
    )
    with torch.no_grad():
        data = model.marginal().sample((1020,))
    train, test = data[:1000], data[1000:]
    exact = model.log_marginal(test)
    guide = make_guide("diag", model)
    fit(
        AEVB(model, guide, estimator="A"),
        make_optimizer("adam", guide.parameters(), 3e-3),
        Split(train, (1, 5)),
        epochs=40,
        batch_size=50,
        progress=False,
    )
    estimates = {
        "IS, trained structured guide q(z1|x) q(z2|z1), K=5000": estimators.log_likelihood_per_point(
            model, guide, test, num_samples=5000
        ),
        "ELBO of that guide": estimators.elbo_per_point(model, guide, test, num_samples=1000),
        "AIS from the prior, 300 steps, 16 chains": ais_log_likelihood(model, test, num_steps=300, num_chains=16),
        "AIS from the trained guide, 100 steps, 16 chains": ais_log_likelihood(
            model, test, guide=guide, num_steps=100, num_chains=16
        ),
        "Appendix D, 100 + 100 HMC samples": appendix_d_log_likelihood(model, test, num_samples=100),
    }
    rows = mean_errors(estimates, exact)
    print("\n| two-layer oracle (20 test points) | mean error vs exact log p(x) |\n|---|---:|")
    for name, err in rows.items():
        print(f"| {name} | {err:+.4f} |")
    return rows


def state_space_errors(seed: int) -> dict:
    """(6): every estimator that applies on the Kalman oracle, with the DMM's sequence guides trained
    on 1000 of its sequences: the structured one (a diagonal Gaussian per step) and the same with
    two IAFs per step (Appendix D refuses: a sequence has 10 latent numbers)."""
    torch.manual_seed(seed)
    model = LinearStateSpace.random(steps=5, width=3, size=2, seed=seed, dtype=torch.float32)
    data = model.simulate(torch.randint(1, 6, (1040,)))
    train, test = data[:1000], data[1000:]
    exact = model.log_marginal(test)
    guides = {}
    for name, flows in (("structured", 0), ("structured + 2 IAFs per step", 2)):
        torch.manual_seed(seed)
        guides[name] = SequenceGuide(model, rnn_dim=64, flow_steps=flows, iaf_dim=32)
        fit(
            AEVB(model, guides[name]),
            make_optimizer("adam", guides[name].parameters(), 3e-3),
            Split(train, (5, 4)),
            epochs=40,
            batch_size=50,
            progress=False,
        )
    estimates = {
        "IS, exact posterior (Kalman smoother) as proposal, K=10": estimators.log_likelihood_per_point(
            model, ExactStateSpaceGuide(model), test, num_samples=10
        ),
        "IS, exact posterior widened 1.3x, K=2000": estimators.log_likelihood_per_point(
            model, ExactStateSpaceGuide(model, widen=1.3), test, num_samples=2000
        ),
    }
    for name, guide in guides.items():
        estimates[f"IS, trained {name} guide, K=5000"] = estimators.log_likelihood_per_point(
            model, guide, test, num_samples=5000
        )
        estimates[f"ELBO of the {name} guide"] = estimators.elbo_per_point(model, guide, test, num_samples=1000)
    estimates["AIS from the prior, 300 steps, 16 chains"] = ais_log_likelihood(
        model, test, num_steps=300, num_chains=16
    )
    estimates["AIS from the trained structured guide, 100 steps, 16 chains"] = ais_log_likelihood(
        model, test, guide=guides["structured"], num_steps=100, num_chains=16
    )
    rows = mean_errors(estimates, exact)
    print("\n| state-space oracle (40 test sequences) | mean error vs exact log p(x_1:T) (nats/sequence) |\n|---|---:|")
    for name, err in rows.items():
        print(f"| {name} | {err:+.4f} |")
    return rows


if __name__ == "__main__":
    sys.exit(cli.run(main))
