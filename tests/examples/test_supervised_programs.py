"""The two programs of the paper's §6 (iv): M2 on MNIST with few labels, and the conditional VAE beside its
baseline; tiny runs that train, score, write their tables and continue from their checkpoints."""

import json

import pytest
from conftest import mnist_dir, requires_mnist, run_program

from aevb.examples import conditional_vae, semi_supervised_m2

#: program-level runs that train: the fast subset (`pytest -m "not slow"`) skips them
pytestmark = [pytest.mark.slow, requires_mnist]


def test_m2_trains_with_balanced_labels_reports_errors_and_continues(tmp_path):
    out = tmp_path / "m2"
    small = ["--train-size", "400", "--eval-points", "8", "--eval-samples", "4", "--latent-dim", "4"]
    small += ["--hidden-dims", "16", "--data-dir", mnist_dir(), "--out", out]
    result = run_program(semi_supervised_m2, "--labels", "20", "--seeds", "0", "1", "--epochs", "1", *small)
    assert "| 20 | 2 | 1 |" in result.stdout and "11.97 ± 1.71" not in result.stdout  # 20 labels: no Table 1 row
    run = out / "runs" / "labels20_seed1"
    labelled = json.loads((run / "labelled.json").read_text())["rows"]
    assert len(labelled) == 20 and max(labelled) < 400
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and 0 <= metrics["test_error"] <= 100 and metrics["test_ll"] < 0
    assert metrics["alpha"] == pytest.approx(0.1 * 400 / 20) and (out / "test_error.png").stat().st_size > 1000
    refused = run_program(
        semi_supervised_m2, "--labels", "20", "--seeds", "0", "1", "--epochs", "1", *small, check=False
    )
    assert refused.returncode != 0 and "--resume" in refused.stderr  # the folder holds a protocol
    run_program(semi_supervised_m2, "--labels", "20", "--seeds", "0", "1", "--epochs", "2", "--resume", *small)
    again = json.loads((run / "metrics.json").read_text())
    assert again["epochs"] == 2 and again["history"][0] == metrics["history"][0]  # continued, not retrained
    bad = run_program(semi_supervised_m2, "--labels", "15", "--out", tmp_path / "bad", *small[:-2], check=False)
    assert bad.returncode == 1 and "multiple of the 10 classes" in bad.stderr


def test_cvae_and_baseline_are_scored_on_the_missing_quadrants(tmp_path):
    out = tmp_path / "cvae"
    small = ["--train-size", "300", "--eval-points", "6", "--eval-samples", "5", "--latent-dim", "4"]
    small += ["--hidden-dims", "16", "--data-dir", mnist_dir(), "--out", out]
    result = run_program(conditional_vae, "--seeds", "0", "1", "--epochs", "1", "--baseline-epochs", "1", *small)
    assert "deterministic baseline (NN)" in result.stdout and "IS, K = 5" in result.stdout
    runs = [json.loads((out / "runs" / f"seed{s}" / "metrics.json").read_text()) for s in (0, 1)]
    for m in runs:  # 588 missing pixels: between 0 and 588 log 2 nats for a model barely trained
        assert 0 < m["baseline_nll"] < 600 and 0 < m["cvae_nll_is"] < 600
        assert m["cvae_nll_is"] <= m["cvae_nll_elbo"] + 1.0  # IS tightens the bound (K = 5, up to noise)
    assert (out / "completions.png").stat().st_size > 1000
