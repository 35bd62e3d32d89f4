"""examples/iwae_table1.py (Burda et al.'s Table 1 protocol) on a tiny subset: the schedule as it
runs, the scores, resuming across a stage boundary exactly, and the refusals."""

import json

import pytest
import torch
from conftest import mnist_dir, requires_mnist, run_program

from aevb import burda
from aevb import experiment as exp
from aevb.examples import iwae_table1
from aevb.inference.training.checkpoint import load_checkpoint

#: program-level runs that train: the fast subset (`pytest -m "not slow"`) skips them
pytestmark = [requires_mnist, pytest.mark.slow]
TINY = [
    "--train-size",
    "60",
    "--test-size",
    "30",
    "--eval-samples",
    "20",
    "--train-eval-points",
    "30",
    "--elbo-samples",
    "2",
    "--device",
    "cpu",
    "--quiet",
]


def run(out, *args, check=True):
    return run_program(iwae_table1, "--out", out, *args, *TINY, check=check)


def test_two_stages_of_two_rows_write_the_table_the_schedule_and_the_scores(tmp_path):
    result = run(tmp_path, "--rows", "1:vae:1", "2:iwae:2", "--stages", "2")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    one, two = metrics["rows"]["1layer_vae_k1"], metrics["rows"]["2layer_iwae_k2"]
    # stage 0: one epoch at 1e-3, stage 1: three at 1e-3 * 10^(-1/7); batches of 20
    assert [h["lr"] for h in one["epochs"]] == pytest.approx([1e-3] + [1e-3 * 10 ** (-1 / 7)] * 3, rel=1e-12)
    for record, model in ((one, "mlp"), (two, "hierarchical")):
        c = record["config"]
        assert (c["model"], c["batch_size"], c["optimizer"], c["optimizer_eps"], c["init"], c["binarize"]) == (
            model,
            20,
            "adam",
            1e-4,
            "glorot",
            "dynamic",
        )
    assert (
        one["config"]["hidden_dims"] == [200, 200]
        and one["config"]["latent_dim"] == 50
        and one["config"]["estimator"] == "A"
    )
    assert (two["config"]["inference"], two["config"]["num_particles"]) == ("iwae", 2)
    scored = one["results"]["2"]
    assert (
        scored["epochs"] == 4
        and scored["test_log_likelihood"]["num_samples"] == 20
        and scored["test_log_likelihood"]["num_points"] == 30
    )
    assert scored["latent_sizes"] == {"z": 50} and 0 <= scored["active_units"]["z"] <= 50
    assert two["results"]["2"]["latent_sizes"] == {"z1": 100, "z2": 50}
    # the K-sample bound (K = 2) of the IWAE row is at most its K = 20 importance-sampling estimate on average
    # (Jensen), here on train points
    table = (tmp_path / "table1.md").read_text()
    assert "1 stochastic layer, VAE k = 1 | 2 (4)" in table and "| -86.76 |" in table and table in result.stdout
    for suffix in (".png", ".pdf"):
        assert (tmp_path / f"learning_curves{suffix}").stat().st_size > 1000


def test_resuming_across_a_stage_boundary_is_exact(tmp_path):
    """Stage 1, then the same command with --stages 2 (continuing at the epoch whose step size
    drops), against --stages 2 at once: the same weights, optimiser state and scores."""
    rows = ["--rows", "1:iwae:2"]
    run(tmp_path / "split", *rows, "--stages", "1")
    first = json.loads((tmp_path / "split" / "metrics.json").read_text())["rows"]["1layer_iwae_k2"]
    assert [h["epoch"] for h in first["epochs"]] == [1] and set(first["results"]) == {"1"}
    run(tmp_path / "split", *rows, "--stages", "2")
    run(tmp_path / "whole", *rows, "--stages", "2")
    split, whole = (
        load_checkpoint(tmp_path / f / "runs" / "1layer_iwae_k2" / "checkpoint.pt") for f in ("split", "whole")
    )
    assert split["epoch"] == whole["epoch"] == 4
    assert_same(split["modules"], whole["modules"])
    assert_same(split["optimizer"], whole["optimizer"])  # Adam's moments and step counts, and the step size
    a, b = (
        json.loads((tmp_path / f / "metrics.json").read_text())["rows"]["1layer_iwae_k2"] for f in ("split", "whole")
    )
    assert (
        set(a["results"]) == {"1", "2"}
        and a["results"]["2"]["test_log_likelihood"] == b["results"]["2"]["test_log_likelihood"]
    )
    # asking for fewer stages than the folder holds is refused; the same command again reads the scores back
    result = run(tmp_path / "split", *rows, "--stages", "1", check=False)
    assert result.returncode == 1 and "trained for 4 epochs (2 stages)" in result.stderr
    again = run(tmp_path / "split", *rows, "--stages", "2")
    assert (
        json.loads((tmp_path / "split" / "metrics.json").read_text())["rows"]["1layer_iwae_k2"]["results"]["2"]
        == a["results"]["2"]
    )
    assert "| 1 stochastic layer, IWAE k = 2 | 2 (4) |" in again.stdout
    # other scoring settings score the trained row again (no training); another configuration of the row is refused
    run_program(
        iwae_table1, "--out", tmp_path / "split", *rows, "--stages", "2", *TINY[:4], "--eval-samples", "30", *TINY[6:]
    )
    rescored = json.loads((tmp_path / "split" / "metrics.json").read_text())["rows"]["1layer_iwae_k2"]
    assert rescored["results"]["2"]["test_log_likelihood"]["num_samples"] == 30 and len(rescored["epochs"]) == 4
    result = run(tmp_path / "split", *rows, "--stages", "2", "--batch-size", "30", check=False)
    assert result.returncode == 1 and "cannot resume" in result.stderr and "batch_size" in result.stderr


def assert_same(a, b, where="checkpoint"):
    """Nested dicts/lists of tensors and plain values, equal exactly."""
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


def test_active_units_count_the_dimensions_the_encoder_uses(tmp_path):
    """The score's active units on a trained row whose encoder mean ignores x in all but 3 of its 50
    dimensions (their weights and biases zeroed): 3 active."""
    run(tmp_path, "--rows", "1:vae:1", "--stages", "1")
    trained = exp.load(
        tmp_path / "runs" / "1layer_vae_k1", data_dir=mnist_dir(), device="cpu", log=lambda *a: None, progress=False
    )
    head = trained.guide.encoders["z"].head
    with torch.no_grad():
        head.weight[3:50] = 0.0
        head.bias[3:50] = 0.0
    numbers = iwae_table1.score(trained, burda.Row.parse("1:vae:1"), {"train_eval_points": 30})
    assert numbers["active_units"] == {"z": 3} and numbers["latent_sizes"] == {"z": 50}


@pytest.mark.parametrize("spec", ["3:vae:1", "1:vae:0", "1:elbo:5", "1-vae-5"])
def test_a_row_that_is_not_in_the_table_is_refused_with_one_line(tmp_path, spec):
    result = run(tmp_path, "--rows", spec, check=False)
    assert (
        result.returncode == 1
        and "is not LAYERS:OBJECTIVE:K" in result.stderr
        and len(result.stderr.strip().splitlines()) == 1
    )
