"""Fitting the linear-Gaussian model to its own samples: each algorithm against the closed-form ML fit."""

import pytest
import torch
from conftest import linear_gaussian_problem

from aevb.data import Split
from aevb.guides import DiagonalGaussianGuide
from aevb.inference import AEVB, fit, make_optimizer
from aevb.inference.algorithms.mcem import MonteCarloEM
from aevb.inference.algorithms.wake_sleep import WakeSleep
from aevb.models.linear_gaussian import LinearGaussianModel

# Budgets: AEVB and wake-sleep 60 epochs at lr 0.01; MCEM needs a smaller step (at 0.01 its stale
# per-point samples make it drift away) and gets 40 epochs at 3e-3. Gaps to the ML solution
# measured by this test for initialisation seeds 0, 1, 2 (2026-11-24): AEVB 0.061, 0.045, 0.019;
# wake-sleep 0.112, 0.068, 0.054; MCEM 0.068, 0.024, 0.023. Each tolerance is about twice the largest.
SETTINGS = {"aevb": (60, 0.01), "wake-sleep": (60, 0.01), "mcem": (40, 3e-3)}
TOLERANCE = {"aevb": 0.12, "wake-sleep": 0.22, "mcem": 0.13}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_reaches_the_maximum_likelihood_solution(name, capsys):
    _, train, test = linear_gaussian_problem()
    ml = LinearGaussianModel.maximum_likelihood(train.double(), latent_dim=2).log_marginal(test.double()).mean().item()
    torch.manual_seed(0)
    model = LinearGaussianModel(5, 2)
    start = model.log_marginal(test).mean().item()
    if name == "mcem":
        algorithm = MonteCarloEM(model, num_data=len(train), initial_step_size=0.1)
    else:
        algorithm = {"aevb": AEVB, "wake-sleep": WakeSleep}[name](model, DiagonalGaussianGuide(5, 2, 32))
    epochs, lr = SETTINGS[name]
    fit(
        algorithm,
        make_optimizer("adam", algorithm.parameters(), lr),
        Split(train, (1, 5)),
        epochs=epochs,
        batch_size=100,
        progress=False,
    )
    gap = ml - model.log_marginal(test).mean().item()
    with capsys.disabled():
        print(f"\n{name}: test log-likelihood {gap:.3f} nats/datapoint below the ML solution (start: {ml - start:.2f})")
    assert ml - start > 1.0  # the starting point is far: reaching the ML fit is not trivial
    assert (
        -0.02 < gap < TOLERANCE[name]
    )  # the ML fit maximises the training likelihood: test gaps are near zero or above
