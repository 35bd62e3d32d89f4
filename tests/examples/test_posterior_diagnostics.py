import arviz as az
import pandas as pd
import pytest
from conftest import mnist_dir, requires_mnist, run_program

from aevb.examples import mnist_aevb, posterior_diagnostics
from aevb.inference import load_checkpoint, save_checkpoint

#: program-level runs that train: the fast subset (`pytest -m "not slow"`) skips them
pytestmark = pytest.mark.slow

SCRIPT, TRAIN = posterior_diagnostics, mnist_aevb


def run(program, *args):
    return run_program(program, *args, check=False)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    result = run(
        TRAIN,
        "--epochs",
        "1",
        "--latent-dim",
        "2",
        "--hidden-dims",
        "20",
        "--train-size",
        "300",
        "--test-size",
        "20",
        "--eval-samples",
        "10",
        "--quiet",
        "--device",
        "cpu",
        "--out",
        out,
        "--data-dir",
        mnist_dir(),
    )
    assert result.returncode == 0, result.stderr
    return out / "checkpoint.pt"


@requires_mnist
def test_program_writes_every_file_with_the_right_content(checkpoint, tmp_path):
    result = run(
        SCRIPT,
        "--checkpoint",
        checkpoint,
        "--indices",
        "3",
        "5",
        "--num-samples",
        "40",
        "--warmup",
        "40",
        "--guide-samples",
        "200",
        "--out",
        tmp_path,
        "--data-dir",
        mnist_dir(),
    )
    assert result.returncode == 0, result.stderr
    posterior = az.from_netcdf(tmp_path / "posterior.nc")
    guide = az.from_netcdf(tmp_path / "guide.nc")
    assert {"posterior", "sample_stats"} <= set(posterior.groups())
    assert posterior.posterior["z"].dims == ("chain", "draw", "point", "z_dim")
    assert posterior.posterior["z"].shape == (4, 40, 2, 2) and list(posterior.posterior["point"].values) == [3, 5]
    assert guide.posterior["z"].shape == (1, 200, 2, 2) and list(guide.posterior["point"].values) == [3, 5]
    summary = pd.read_csv(tmp_path / "summary.csv", index_col=0)
    assert {"mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"} <= set(summary.columns)
    assert list(summary.index) == ["z[3, 0]", "z[3, 1]", "z[5, 0]", "z[5, 1]"]
    report = (tmp_path / "report.md").read_text()
    assert "| 3 |" in report and "| 5 |" in report and "k-hat" in report and "PSIS log p(x)" in report
    for name in ("trace.png", "pair.png", "khat.png", "reconstructions.png"):
        assert (tmp_path / name).stat().st_size > 1000


@requires_mnist
@pytest.mark.parametrize("case", ["missing", "index", "incompatible"])
def test_bad_input_gives_one_line(checkpoint, tmp_path, case):
    path, indices = checkpoint, ["0"]
    if case == "missing":
        path = tmp_path / "nope.pt"
    elif case == "index":
        indices = ["10000"]
    else:
        state = load_checkpoint(checkpoint)
        state["config"]["hidden_dims"] = [99]
        path = tmp_path / "other.pt"
        save_checkpoint(path, {k: v for k, v in state.items() if k != "format"})
    result = run(
        SCRIPT, "--checkpoint", path, "--indices", *indices, "--out", tmp_path / "o", "--data-dir", mnist_dir()
    )
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert {
        "missing": "checkpoint not found",
        "index": "out of range",
        "incompatible": "does not match this model/guide/optimiser",
    }[case] in result.stderr


@requires_mnist
def test_active_units_program_reports_every_site_and_refuses_a_run_without_an_encoder(checkpoint, tmp_path):
    """benchmarks/active_units.py: one row per run and site with a count out of the site's size;
    a mean-field run (no q(z|x) for test points) exits with one line saying why."""
    from conftest import ROOT, load_script

    program = load_script(ROOT / "benchmarks" / "active_units.py")
    result = run(program, "--run-dirs", checkpoint.parent, "--points", "20", "--data-dir", mnist_dir())
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith(f"| {checkpoint.parent} |")]
    assert len(rows) == 1 and rows[0].endswith(" of 2 |") and "| mlp | aevb | `z` |" in rows[0]
    meanfield = tmp_path / "meanfield"
    trained = run(
        TRAIN,
        "--epochs",
        "1",
        "--latent-dim",
        "2",
        "--hidden-dims",
        "20",
        "--train-size",
        "100",
        "--test-size",
        "20",
        "--guide",
        "meanfield",
        "--ll-estimator",
        "ais",
        "--eval-samples",
        "5",
        "--quiet",
        "--device",
        "cpu",
        "--out",
        meanfield,
        "--data-dir",
        mnist_dir(),
    )
    assert trained.returncode == 0, trained.stderr
    refused = run(program, "--run-dirs", meanfield, "--points", "20", "--data-dir", mnist_dir())
    assert refused.returncode == 1 and "has no q(z|x) for test points" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
