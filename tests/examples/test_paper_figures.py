"""Each paper-figure program end to end on a tiny budget and subset: metrics.json's content,
the figures, and resuming without redoing finished runs."""

import json
import math

import numpy as np
import pytest
import torch
import yaml
from conftest import mnist_dir, requires_mnist, run_program
from scipy.io import savemat

from aevb.examples import paper_figure2, paper_figure3, paper_figure4_5

#: program-level runs that train: the fast subset (`pytest -m "not slow"`) skips them
pytestmark = pytest.mark.slow

TINY = ["--lr-search-samples", "100", "--device", "cpu", "--quiet"]


def run(program, *args, check=True):
    return run_program(program, *args, *TINY, check=check)


def config_file(folder, **values):
    """A --config file setting run keys the figure programs pin to the paper's values."""
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def finite(values):
    return all(isinstance(v, float) and math.isfinite(v) for v in values)


def check_figures(out, *stems):
    for stem in stems:
        for suffix in (".png", ".pdf"):
            assert (out / f"{stem}{suffix}").stat().st_size > 1000


def check_curves(metrics, names, targets, keys, candidates):
    assert set(metrics["runs"]) == set(names)
    for name in names:
        curve = metrics["runs"][name]
        assert curve["complete"]
        assert [p["examples"] for p in curve["points"]] == targets  # samples counted exactly, minibatch by minibatch
        for key in keys:
            assert finite([p[key] for p in curve["points"]]), (name, key)
        search = metrics["lr_search"][name]
        assert search["chosen"] in candidates and set(search["scores"]) == {f"{c:g}" for c in candidates}


@requires_mnist
def test_figure2_mnist_every_panel_and_method_then_resume(tmp_path):
    args = [
        "--budget",
        600,
        "--first-eval",
        200,
        "--evals-per-decade",
        3,
        "--train-size",
        300,
        "--test-size",
        100,
        "--hidden-dims",
        20,
        "--train-eval-points",
        150,
        "--data-dir",
        mnist_dir(),
        "--out",
        tmp_path,
    ]
    run(paper_figure2, "--latent-dims", 2, *args)
    first = json.loads((tmp_path / "metrics.json").read_text())
    stamp = (tmp_path / "runs" / "nz2_aevb" / "curve.json").stat().st_mtime_ns

    run(paper_figure2, "--latent-dims", 2, 3, *args)  # nz2 is read back, nz3 is trained
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (tmp_path / "runs" / "nz2_aevb" / "curve.json").stat().st_mtime_ns == stamp
    assert metrics["runs"]["nz2_aevb"] == first["runs"]["nz2_aevb"]
    assert metrics["settings"]["targets"] == [200, 400, 600]
    check_curves(
        metrics,
        ["nz2_aevb", "nz2_wake-sleep", "nz3_aevb", "nz3_wake-sleep"],
        [200, 400, 600],
        ["train_bound", "test_bound"],
        [0.01, 0.02, 0.1],
    )
    assert metrics["dataset"] == "mnist" and metrics["fallback"] is None
    assert (
        metrics["settings"]["likelihood"] == "bernoulli"
        and metrics["settings"]["init"] == "paper"
        and metrics["settings"]["map_prior"]
    )
    assert set(metrics["aevb_above_wake_sleep_on_test"]) == {"nz2", "nz3"}
    for nz in ("nz2", "nz3"):  # the paired comparison, from the final models' per-point bounds
        paired = metrics["aevb_minus_wake_sleep_on_test"][nz]
        finals = metrics["final_test_bound"][nz]
        assert paired["points"] == 100 and paired["standard_error"] > 0
        assert abs(paired["mean"] - (finals["aevb"] - finals["wake-sleep"])) < 1e-3
        assert metrics["aevb_above_wake_sleep_on_test"][nz] == (paired["mean"] > 0)
    for nz, finals in metrics["final_test_bound"].items():  # against the curve's own last evaluation
        for method, value in finals.items():
            name = f"{nz}_{method}"
            per_point = torch.load(tmp_path / "runs" / name / "test_bound_per_point.pt")
            last = metrics["runs"][name]["points"][-1]["test_bound"]  # the same final model and test points
            assert abs(value - last) < 3 * per_point.std().item() / len(per_point) ** 0.5, (name, value, last)
            assert abs(value - per_point.mean().item()) < 1e-4
    check_figures(tmp_path, "figure2")


def test_figure2_frey_face_with_the_gaussian_decoder(tmp_path):
    ff = np.random.default_rng(0).integers(0, 256, size=(560, 300), dtype=np.uint8)  # a stand-in Frey Face file
    savemat(tmp_path / "frey_rawface.mat", {"ff": ff})
    out = tmp_path / "out"
    run(
        paper_figure2,
        "--data",
        "frey",
        "--latent-dims",
        2,
        "--budget",
        400,
        "--first-eval",
        200,
        "--evals-per-decade",
        1,
        "--hidden-dims",
        10,
        "--config",
        config_file(tmp_path, optimizer="adam"),
        "--data-dir",
        tmp_path,
        "--out",
        out,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "frey" and metrics["fallback"] is None and metrics["dataset_label"] == "Frey Face"
    assert metrics["settings"]["likelihood"] == "gaussian" and metrics["settings"]["optimizer"] == "adam"
    check_curves(metrics, ["nz2_aevb", "nz2_wake-sleep"], [200, 400], ["train_bound", "test_bound"], [3e-4, 1e-3, 3e-3])
    check_figures(out, "figure2")


@requires_mnist
def test_figure3_methods_and_training_sets_with_appendix_d_and_ais(tmp_path):
    run(
        paper_figure3,
        "--train-sizes",
        200,
        1200,
        "--budget",
        400,
        "--first-eval",
        200,
        "--evals-per-decade",
        1,
        "--test-size",
        100,
        "--config",
        config_file(tmp_path, hidden_dims=[20]),
        "--curve-points",
        20,
        "--appendix-d-samples",
        8,
        "--ais-points",
        5,
        "--ais-steps",
        10,
        "--data-dir",
        mnist_dir(),
        "--out",
        tmp_path / "out",
    )
    tmp_path = tmp_path / "out"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    names = [
        "n200_aevb",
        "n200_wake-sleep",
        "n200_mcem",
        "n1200_aevb",
        "n1200_wake-sleep",
    ]  # MCEM on the small set only
    check_curves(metrics, names, [200, 400], ["train_ll", "test_ll"], [0.01, 0.02, 0.1])
    assert (
        metrics["settings"]["hidden_dims"] == [20] and metrics["settings"]["latent_dim"] == 3
    )  # the file's key over the figure's 100 units
    assert metrics["lr_search"]["n200_mcem"]["metric"] == "held_out_ais"  # MCEM has no training bound
    for name in names:
        final = metrics["runs"][name]["final"]
        assert finite([final["train_ais"], final["test_ais"]]) and final["train_ais"] < 0
    check_figures(tmp_path, "figure3")


@requires_mnist
def test_figure4_5_manifold_and_samples(tmp_path):
    run(
        paper_figure4_5,
        "--latent-dims",
        2,
        3,
        "--budget",
        300,
        "--train-size",
        300,
        "--test-size",
        100,
        "--hidden-dims",
        20,
        "--grid",
        5,
        "--sample-images",
        9,
        "--train-eval-points",
        100,
        "--data-dir",
        mnist_dir(),
        "--out",
        tmp_path,
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    check_curves(metrics, ["nz2", "nz3"], [300], ["train_bound", "test_bound"], [0.01, 0.02, 0.1])
    images = torch.load(tmp_path / "runs" / "nz2" / "images.pt")
    assert images["manifold"].shape == (25, 784) and images["samples"].shape == (9, 784)
    assert set(torch.load(tmp_path / "runs" / "nz3" / "images.pt")) == {"samples"}  # a manifold needs Nz = 2
    check_figures(tmp_path, "figure4", "figure5")


@pytest.mark.parametrize(
    "program, args, message",
    [
        (paper_figure2, ["--budget", "0"], "--budget must be at least 1, got 0"),
        (paper_figure2, ["--methods", "mcem"], "Figure 2 compares aevb and wake-sleep"),
        (paper_figure3, ["--appendix-d-samples", "2"], "--appendix-d-samples must be at least 4"),
        (paper_figure3, ["--optimizer", "adam"], "unrecognized arguments: --optimizer adam"),
        (paper_figure4_5, ["--latent-dims"], "expected at least one argument"),
    ],
)
def test_bad_input_exits_with_one_line(tmp_path, program, args, message):
    result = run(program, "--out", tmp_path, *args, check=False)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1, (
        result.stderr
    )


def test_config_file_errors_are_one_line(tmp_path):
    """A configuration file with an unknown key, a wrong type, or bad YAML is refused before any work."""
    cases = {
        "unknown": ("guides: [diag]\n", "unknown key 'guides'"),
        "type": ("hidden_dims: many\n", "hidden_dims must be an integer"),
        "yaml": ("hidden_dims: [1\n", "is not valid YAML"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        result = run(paper_figure3, "--config", path, "--out", tmp_path / "o", check=False)
        assert result.returncode == 1 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1, (
            name,
            result.stderr,
        )
