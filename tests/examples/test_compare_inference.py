import csv
import subprocess
import sys

from conftest import ROOT, mnist_dir, requires_mnist

SCRIPT = ROOT / "examples" / "compare_inference.py"


@requires_mnist
def test_grid_runs_every_pair_reports_failures_and_resumes(tmp_path):
    args = [sys.executable, str(SCRIPT), "--guides", "diag", "meanfield", "--inference", "aevb", "iwae:3", "wake-sleep",
            "--epochs", "2", "--train-size", "300", "--test-size", "100", "--latent-dim", "3", "--hidden-dim", "30",
            "--eval-samples", "20", "--eval-points", "50", "--gap-points", "30", "--refine-steps", "10", "--batch-size", "50",
            "--data-dir", mnist_dir(), "--device", "cpu", "--out", tmp_path, "--quiet"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "results.csv") as f:
        rows = {(r["guide"], r["inference"]): r for r in csv.DictReader(f)}
    assert len(rows) == 6
    assert "amortised guide" in rows[("meanfield", "wake-sleep")]["error"]
    for key, row in rows.items():
        if key == ("meanfield", "wake-sleep"):
            continue
        assert row["error"] == "" and -800 < float(row["test_elbo"]) < 0
        assert float(row["test_log_likelihood"]) > float(row["test_elbo"]) - 5  # IS is at least about as tight
        assert int(row["examples"]) == 600 and int(row["epochs"]) == 2  # the same budget for every pair
        assert (row["amortisation_gap"] == "") == (key[0] == "meanfield")
    assert rows[("diag", "iwae")]["num_particles"] == "3"
    table = (tmp_path / "results.md").read_text()
    assert table.count("\n| ") == 7 and "amortised guide" in table
    assert (tmp_path / "comparison.png").stat().st_size > 0

    again = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    with open(tmp_path / "results.csv") as f:
        assert {(r["guide"], r["inference"]): r["test_elbo"] for r in csv.DictReader(f)} == {k: r["test_elbo"] for k, r in rows.items()}
