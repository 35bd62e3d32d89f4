"""The oracle program end to end, at one oracle seed: every section runs and says what it should."""

import json
import math

import pytest
from conftest import run_program

from aevb.examples import linear_gaussian_oracle

#: program-level runs: the fast subset (`pytest -m "not slow"`) skips them
pytestmark = pytest.mark.slow


def test_the_oracle_program_writes_every_section(tmp_path):
    """One oracle seed (the program's default is three): the estimators on the easy oracle within
    0.05 nats, the fits near the ML solution, and on the rotated oracle the diagonal mass's gap
    larger than the dense one's and Appendix D's points refused with the diagonal, none with the
    dense mass."""
    run_program(linear_gaussian_oracle, "--oracle-seeds", "0", "--out", tmp_path / "out")
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert all(abs(v) < 0.05 for k, v in metrics["estimator_errors"].items() if not k.startswith("ELBO"))
    assert all(0 < g["gap"] < 0.3 for g in metrics["fit_gaps"].values())
    a = metrics["anisotropic"]
    dense, diagonal = (a[f"rotated, {m} mass, Nz=10, BDMC gap"]["mean_error"] for m in ("dense", "diagonal"))
    assert dense < 0.5 < diagonal, (dense, diagonal)
    assert a["rotated, dense mass, Nz=4, Appendix D, 50 + 50 HMC samples"]["refused"] == 0
    assert a["rotated, diagonal mass, Nz=4, Appendix D, 50 + 50 HMC samples"]["refused"] >= 15
    assert abs(a["rotated, dense mass, Nz=4, Appendix D, 50 + 50 HMC samples"]["mean_error"]) < 0.1
    assert math.isnan(a["axis-aligned, identity mass, Nz=4, Appendix D, 50 + 50 HMC samples"]["mean_error"])
    c = metrics["correlated_two_layer"]
    assert c["dense mass, BDMC gap"]["mean_error"] < 0.2 < c["diagonal mass, BDMC gap"]["mean_error"]
    assert all(abs(v) < 0.1 for k, v in metrics["two_layer"].items() if not k.startswith("ELBO"))
    s = metrics["state_space"]  # the Kalman oracle: IS within 0.05 nats per sequence, AIS within 0.15
    assert abs(s["IS, exact posterior (Kalman smoother) as proposal, K=10"]) < 1e-4
    assert abs(s["IS, exact posterior widened 1.3x, K=2000"]) < 0.05
    assert abs(s["IS, trained structured + 2 IAFs per step guide, K=5000"]) < 0.05
    assert all(abs(v) < 0.15 for k, v in s.items() if k.startswith("AIS"))
    for name in ("structured", "structured + 2 IAFs per step"):  # the bound below IS, IS not above log p
        assert s[f"ELBO of the {name} guide"] < s[f"IS, trained {name} guide, K=5000"] < 0.05
