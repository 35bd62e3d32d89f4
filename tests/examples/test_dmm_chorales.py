import json
import math

import pytest
import torch
from conftest import built_chorales, run_program
from PIL import Image

from aevb.examples import dmm_chorales

pytest.importorskip("music21")
#: program-level runs that train: the fast subset (`pytest -m "not slow"`) skips them
pytestmark = pytest.mark.slow

SMALL = ["--latent-dim", "4", "--eval-samples", "8", "--elbo-samples", "2", "--batch-size", "2", "--quiet"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return built_chorales(tmp_path_factory, 6)


def timeless(epochs):
    """The epochs' records without their wall times."""
    return [{k: v for k, v in e.items() if k not in ("seconds", "examples_per_second")} for e in epochs]


def run(*args, check=True):
    return run_program(dmm_chorales, *args, check=check)


def test_trains_scores_per_step_and_resumes_exactly_with_annealing(tmp_path, data_dir):
    a, b = tmp_path / "a", tmp_path / "b"
    anneal = ["--kl-anneal-epochs", "3", "--kl-anneal-start", "0.4"]
    run("--epochs", "3", "--out", a, "--data-dir", data_dir, *anneal, *SMALL)
    metrics = json.loads((a / "metrics.json").read_text())
    assert [e["kl_weight"] for e in metrics["epochs"]] == pytest.approx([0.4, 0.6, 0.8])
    steps = metrics["steps"]
    for e in metrics["epochs"]:  # per step: the per-sequence numbers over the steps of the split
        assert e["train_elbo_per_step"] == pytest.approx(e["train_elbo"] * 4 / steps["train"])
        assert -100 < e["test_elbo_per_step"] < 0
    ll = metrics["test_log_likelihood"]
    assert math.isfinite(ll["per_step"]) and ll["per_step"] == pytest.approx(ll["value"] / steps["test"])
    with Image.open(a / "samples.png") as im:
        assert im.size[0] > 400
    assert (a / "elbo.png").stat().st_size > 0

    # two epochs, then --resume to three: the annealed weight and every number as uninterrupted
    run("--epochs", "2", "--out", b, "--data-dir", data_dir, *anneal, *SMALL)
    run("--epochs", "3", "--out", b, "--data-dir", data_dir, "--resume", *anneal, *SMALL)
    resumed = json.loads((b / "metrics.json").read_text())
    assert timeless(resumed["epochs"]) == timeless(metrics["epochs"])
    assert resumed["test_log_likelihood"]["value"] == ll["value"]
    model_a = torch.load(a / "checkpoint.pt", weights_only=True)["modules"]["model"]
    model_b = torch.load(b / "checkpoint.pt", weights_only=True)["modules"]["model"]
    assert all(torch.equal(model_a[k], model_b[k]) for k in model_a)


def test_a_model_without_time_steps_is_refused_in_one_line(tmp_path, data_dir):
    result = run(
        "--model",
        "mlp",
        "--guide",
        "diag",
        "--epochs",
        "1",
        "--out",
        tmp_path / "m",
        "--data-dir",
        data_dir,
        *SMALL,
        check=False,
    )
    assert result.returncode != 0 and "not a sequence model" in result.stderr
