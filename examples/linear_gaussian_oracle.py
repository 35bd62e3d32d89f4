#!/usr/bin/env python
"""Every estimator and algorithm of the collection against the linear-Gaussian model's exact answers.

    python examples/linear_gaussian_oracle.py [--seed 0] [--out runs/oracle]

The model p(z) = N(0, I₂), p(x|z) = N(W z + b, 0.5² I₅) has closed forms for log p(x), p(z|x)
and the maximum-likelihood fit (models/linear_gaussian.py). This program prints, and writes
to --out/metrics.json, (1) each log-likelihood estimator's error against the exact log p(x)
on 200 test points, and (2) how far AEVB, wake-sleep and MCEM end from the closed-form ML fit
when they fit the model to 1000 of its own samples. Then the harder oracles: (3) a model whose
posterior standard deviations span a factor of 50 (0.9 … 0.018 along the latent axes, σ = 0.5,
twice as many data dimensions as latents): AIS from the prior, BDMC and Appendix D against the
exact answer, each with the HMC mass-matrix adaptation and without it (the estimators as they
were before 2026-11-24), on 100 points; (4) the two-layer model z₂ → z₁ → x on 20 test points.
"""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import sys
from pathlib import Path

import torch

from aevb import cli
from aevb.data import Split
from aevb.files import write_json
from aevb.folder import RunFolder
from aevb.guides import DiagonalGaussianGuide, make_guide
from aevb.guides.exact import ExactPosteriorGuide
from aevb.inference import AEVB, MonteCarloEM, WakeSleep, estimators, fit, make_optimizer
from aevb.inference.estimators.ais import ais_log_likelihood
from aevb.inference.estimators.appendix_d import appendix_d_log_likelihood
from aevb.inference.estimators.bdmc import bdmc, simulate
from aevb.models.linear_gaussian import LinearGaussianModel, TwoLayerLinearGaussian

PROGRAM = cli.Program("linear_gaussian_oracle", __doc__, keys=("seed", "out", "overwrite"))


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
    rows = {name: (est - exact).mean().item() for name, est in estimates.items()}
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
    anisotropic = anisotropic_errors(settings["seed"])
    two_layer = two_layer_errors(settings["seed"])
    write_json(
        out / "metrics.json",
        {
            "estimator_errors": rows,
            "ml_test_log_likelihood": ml,
            "fit_gaps": gaps,
            "anisotropic": anisotropic,
            "two_layer": two_layer,
        },
    )
    print(f"\nwrote {out}/metrics.json")


def frozen(model):
    model.train(False)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def anisotropic_errors(seed: int) -> dict:
    """(3): AIS, BDMC and Appendix D on posteriors whose standard deviations span a factor of 50."""
    results = {}
    print(
        "\n| anisotropic oracle (100 points) | mass matrix | mean error vs exact log p(x) | mean standard error "
        "|\n|---|---|---:|---:|"
    )
    for latent_dim in (10, 4):
        scales = (0.9 * 50 ** -torch.linspace(0, 1, latent_dim, dtype=torch.float64)).tolist()
        model = frozen(LinearGaussianModel.with_posterior_scales(scales, sigma=0.5, seed=seed).float())
        x, z = simulate(model, torch.zeros(100, model.data_dim), seed=seed)
        exact = model.log_marginal(x)
        for adapt in (True, False):
            mass = "adapted" if adapt else "identity"
            if latent_dim == 10:
                s = bdmc(
                    model, x, z, num_steps=300, num_chains=16, adapt_mass=adapt, seed=seed
                )  # its forward half is AIS from the prior
                rows = {
                    "Nz=10, AIS from the prior, 300 steps, 16 chains": (s.lower - exact, s.lower_error),
                    "Nz=10, BDMC upper bound (reverse AIS)": (s.upper - exact, s.upper_error),
                    "Nz=10, BDMC gap": (s.gap, None),
                }
            else:
                d, d_se = appendix_d_log_likelihood(
                    model, x, num_samples=50, adapt_mass=adapt, seed=seed, with_error=True
                )
                rows = {"Nz=4, Appendix D, 50 + 50 HMC samples": (d - exact, d_se)}
            for name, (error, se) in rows.items():
                results[f"{name}, {mass} mass"] = {
                    "mean_error": error.mean().item(),
                    "mean_se": None if se is None else se.mean().item(),
                }
                print(
                    f"| {name} | {mass} | {error.mean().item():+.3f} | "
                    f"{'—' if se is None else f'{se.mean().item():.3f}'} |",
                    flush=True,
                )
    return results


def two_layer_errors(seed: int) -> dict:
    """(4): every estimator on the two-layer model z₂ → z₁ → x (z₁ of 2, z₂ of 1, 5 data dimensions)."""
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
    rows = {name: (est - exact).mean().item() for name, est in estimates.items()}
    print("\n| two-layer oracle (20 test points) | mean error vs exact log p(x) |\n|---|---:|")
    for name, err in rows.items():
        print(f"| {name} | {err:+.4f} |")
    return rows


if __name__ == "__main__":
    sys.exit(cli.run(main))
