"""Fitting the linear-Gaussian model to its own samples: each algorithm against the closed-form ML fit."""

import pytest
import torch

from conftest import linear_gaussian_problem
from aevb.data import Split
from aevb.guides import DiagonalGaussianGuide
from aevb.inference import AEVB, fit, make_optimizer
from aevb.inference.mcem import MonteCarloEM
from aevb.inference.wake_sleep import WakeSleep
from aevb.models.linear_gaussian import LinearGaussianModel

# Budgets measured here: AEVB and wake-sleep get within 0.06 nats of the ML solution in 60
# epochs at lr 0.01; MCEM needs a smaller step (at 0.01 its stale per-point samples make it
# drift away), and gets within 0.02-0.08 nats at 3e-3 in 30-60 epochs.
SETTINGS = {"aevb": (60, 0.01), "wake-sleep": (60, 0.01), "mcem": (40, 3e-3)}


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
    fit(algorithm, make_optimizer("adam", algorithm.parameters(), lr), Split(train, (1, 5)), epochs=epochs, batch_size=100, progress=False)
    gap = ml - model.log_marginal(test).mean().item()
    with capsys.disabled():
        print(f"\n{name}: test log-likelihood {gap:.3f} nats/datapoint below the ML solution (start: {ml - start:.2f})")
    assert ml - start > 1.0  # the starting point is far: reaching the ML fit is not trivial
    if name == "wake-sleep":  # the issue asks to report its gap, whatever it is; it must at least learn
        assert gap < (ml - start) / 2
    else:
        assert abs(gap) < 0.5
