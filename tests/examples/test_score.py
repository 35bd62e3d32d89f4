"""examples/score.py and examples/ood_pair.py as a user runs them: per-point scores that are the run's
own evaluation, out-of-distribution detection with its files, and the two-data-set comparison."""

import csv
import json

import numpy as np
import pytest
from conftest import mnist_dir, requires_mnist, run_program

from aevb.examples import mnist_aevb, ood_pair
from aevb.examples import score as score_program

#: program-level runs that train: the fast subset (`pytest -m "not slow"`) skips them
pytestmark = pytest.mark.slow


def run(program, *args):
    return run_program(program, *args, check=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    result = run(
        mnist_aevb,
        *("--epochs", "3", "--latent-dim", "2", "--hidden-dims", "20", "--train-size", "1000", "--lr", "3e-3"),
        *("--test-size", "60", "--eval-points", "40", "--eval-samples", "25", "--elbo-samples", "4"),
        *("--quiet", "--device", "cpu", "--out", out, "--data-dir", mnist_dir()),
    )
    assert result.returncode == 0, result.stderr
    return out


def read_scores(folder):
    with open(folder / "scores.csv") as f:
        return list(csv.DictReader(f))


@requires_mnist
def test_scores_of_the_runs_test_points_average_to_its_reported_evaluation(trained, tmp_path):
    metrics = json.loads((trained / "metrics.json").read_text())
    reported, last_epoch = metrics["test_log_likelihood"], metrics["epochs"][-1]
    out = tmp_path / "own"
    result = run(score_program, "--checkpoint", trained, "--eval-points", "40", "--out", out, "--data-dir", mnist_dir())
    assert result.returncode == 0, result.stderr
    rows = read_scores(out)
    assert len(rows) == 40 and {r["set"] for r in rows} == {"in"}
    assert np.mean([float(r["log_p"]) for r in rows]) == pytest.approx(reported["value"], abs=1e-4)
    summary = json.loads((out / "metrics.json").read_text())["sets"]["in"]
    assert summary["estimator"] == "is" and summary["num_samples"] == 25  # the run's own, by default
    assert summary["log_likelihood"]["unreliable"] == reported["unreliable"]
    # every test point: the ELBO column averages to the last epoch's test ELBO
    out = tmp_path / "all"
    assert run(score_program, "--checkpoint", trained / "checkpoint.pt", "--out", out).returncode == 0
    rows = read_scores(out)
    assert len(rows) == 60 and np.mean([float(r["elbo"]) for r in rows]) == pytest.approx(last_epoch["test_elbo"], 1e-4)
    # a folder holding scores is not overwritten by surprise
    again = run(score_program, "--checkpoint", trained, "--out", out)
    assert again.returncode == 1 and "--overwrite" in again.stderr and len(again.stderr.strip().splitlines()) == 1


@requires_mnist
def test_outliers_get_detection_numbers_and_a_histogram_and_bad_data_one_line(trained, tmp_path):
    noise = tmp_path / "noise.npy"
    np.save(noise, (np.random.default_rng(0).random((30, 28, 28)) > 0.5).astype(np.float32))
    out = tmp_path / "ood"
    result = run(
        score_program,
        *("--checkpoint", trained, "--ood-dataset", noise, "--eval-points", "30"),
        *("--eval-samples", "10", "--complexity", "zlib", "--out", out, "--data-dir", mnist_dir()),
    )
    assert result.returncode == 0, result.stderr
    assert "raw score: AUROC 1.000" in result.stdout  # binary noise is nothing like a digit
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["sets"]) == {"in", "out"} and metrics["sets"]["in"]["num_samples"] == 10
    assert metrics["sets"]["in"]["split"] == "test" and metrics["sets"]["in"]["num_points"] == 30
    assert set(metrics["detection"]) == {"raw", "corrected", "refused"}
    assert (out / "histogram.png").stat().st_size > 0 and len(read_scores(out)) == 60
    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((4, 20, 28), dtype=np.float32))
    bad = run(score_program, "--checkpoint", trained, "--dataset", wide, "--split", "all", "--out", tmp_path / "bad")
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "560 values per row (images 20x28), but the checkpoint's model was trained on 784" in bad.stderr


def test_the_pair_program_trains_scores_and_compares_both_ways_and_resumes(tmp_path):
    """Two small data sets of different sparsity, each the other's outliers, as --datasets PATHS."""
    rng = np.random.default_rng(0)
    for name, density in (("sparse", 0.1), ("dense", 0.6)):
        np.savez(tmp_path / f"{name}.npz", x=(rng.random((220, 6, 6)) < density).astype(np.float32))
    out = tmp_path / "pair"
    args = (
        *("--datasets", tmp_path / "sparse.npz", tmp_path / "dense.npz", "--epochs", "3", "--hidden-dims", "8"),
        *(
            "--latent-dim",
            "2",
            "--batch-size",
            "50",
            "--lr",
            "0.01",
            "--eval-points",
            "20",
            "--eval-samples",
            "10",
            "--quiet",
        ),
        *("--device", "cpu", "--out", out),
    )
    result = run(ood_pair, *args)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    rows = {(r["trained on"].rsplit("/", 1)[-1], r["score"]): r for r in metrics["detection"]}
    assert len(rows) == 6 and all(0 <= r["auroc"] <= 1 for r in rows.values())
    assert rows[("sparse.npz", "log p(x)")]["auroc"] > 0.9  # dense binary images are unlikely under a sparse model
    for name in ("table.md", "detection.csv", "scores.csv", "ood.png", "config.yaml"):
        assert (out / name).stat().st_size > 0, name
    assert len((out / "scores.csv").read_text().splitlines()) == 1 + 4 * 20
    trained = {p.name: json.loads((p / "metrics.json").read_text())["epochs"] for p in (out / "runs").iterdir()}
    assert set(trained) == {"sparse", "dense"} and all(len(h) == 3 for h in trained.values())
    # --resume continues the trained models (nothing retrained) and scores again, the same numbers
    again = run(ood_pair, *args, "--resume")
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "metrics.json").read_text())["detection"] == metrics["detection"]
    assert run(ood_pair, *args).returncode == 1  # neither --resume nor --overwrite: refused
    assert run(ood_pair, "--datasets", "mnist", "--out", tmp_path / "one").returncode == 2
