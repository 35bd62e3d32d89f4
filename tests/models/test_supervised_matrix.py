"""docs/models.md's matrix of the supervised models (M2 and the CVAE): every algorithm × estimator run
here on small random data (one epoch, four points scored) or refused with its declared reason; the
page's ✓ and ✗ must match what happens."""

import math
import re

import pytest
import torch
from conftest import ROOT

from aevb import config as cfg
from aevb.data.labelled import labelled_rows
from aevb.guides import make_guide
from aevb.guides.semi_supervised import M2Guide
from aevb.inference import ALGORITHMS, LL_ESTIMATORS, fit
from aevb.inference.capabilities import capabilities
from aevb.inference.rules import CombinationError
from aevb.models.conditional import ConditionalVAE, quadrant_mask
from aevb.models.semi_supervised import M2

PAGE = ROOT / "docs" / "models.md"
MODELS = ("m2", "cvae")
SAMPLES = {"is": 10, "appendix-d": 50, "ais": 5}


def page_rows() -> dict:
    rows, estimators = {}, list(LL_ESTIMATORS)
    for line in PAGE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 + len(estimators) and cells[0] in MODELS and cells[1].strip("`") in ALGORITHMS:
            rows[(cells[0], cells[1].strip("`"))] = {n: c.startswith("✓") for n, c in zip(estimators, cells[2:])}
    return rows


def test_the_page_lists_every_cell():
    assert set(page_rows()) == {(m, a) for m in MODELS for a in ALGORITHMS}


def pair(name: str):
    """A small model, its guide and 60 random binary rows (M2's: 12 labelled)."""
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((60, 16), 0.3), generator=g)
    if name == "m2":
        model = M2(data_dim=16, classes=3, latent_dim=2, hidden=8)
        y = torch.randint(0, 3, (60,), generator=g)
        return model, M2Guide(model, hidden=8, alpha=1.0), labelled_rows(x, y, torch.arange(12), 3)
    model = ConditionalVAE(latent_dim=2, hidden_dims=(8,), given=quadrant_mask(4))
    return model, make_guide("diag", model), x


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
@pytest.mark.parametrize("name", MODELS)
def test_every_cell_runs_or_is_refused_with_its_reason(name, algorithm):
    expected = page_rows()[(name, algorithm)]
    torch.manual_seed(0)
    model, guide, rows = pair(name)
    config = {**cfg.DEFAULTS, "estimator": "auto", "num_particles": 2}
    declared = capabilities(ALGORITHMS[algorithm], "algorithm")
    try:
        fitted = ALGORITHMS[algorithm].from_config(model, guide if declared.needs_guide else None, config, len(rows))
    except CombinationError as refusal:
        assert not any(expected.values()), f"{name} × {algorithm} is refused ({refusal}); the page says it runs"
        assert re.search(r"declares|does not declare", str(refusal)), refusal
        return
    optimizer = torch.optim.Adam(fitted.parameters(), lr=1e-3)
    fit(fitted, optimizer, rows, epochs=1, batch_size=20, progress=False)
    point = capabilities(fitted, "algorithm").point_model
    scoring = point() if point is not None else model
    for estimator, runs in expected.items():
        try:
            value = LL_ESTIMATORS[estimator].estimate(
                scoring, guide if declared.needs_guide else None, rows[:4], num_samples=SAMPLES[estimator]
            )
        except CombinationError as refusal:
            assert not runs, f"{name} × {algorithm} × {estimator} is refused ({refusal}); the page says it runs"
            assert re.search(r"declares|does not declare", str(refusal)), refusal
            continue
        assert runs, f"{name} × {algorithm} × {estimator} runs but the page says it cannot"
        assert all(math.isfinite(v) and -100 < v < 0 for v in value.tolist()), (name, algorithm, estimator, value)
