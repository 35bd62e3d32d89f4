import pyro
import pytest
import torch
from conftest import binary_data, tiny_model_and_guide

from aevb.inference import AEVB


def _losses(algorithm, x, num_data, n):
    with torch.no_grad():
        return torch.tensor([algorithm.loss(x, num_data=num_data).item() for _ in range(n)])


def test_estimators_agree_in_expectation_and_b_has_lower_variance():
    """Each loss below averages L = 20 vectorised draws, so its variance is the single-draw
    estimator's divided by 20: the comparison of variances is unchanged, and it is faster."""
    model, guide = tiny_model_and_guide(data_dim=10, latent_dim=3, hidden_dim=16)
    x = binary_data(20, 10)
    a = _losses(AEVB(model, guide, estimator="A", num_particles=20), x, 20, 300)
    b = _losses(AEVB(model, guide, estimator="B", num_particles=20), x, 20, 300)
    se = (a.var() / len(a) + b.var() / len(b)).sqrt()
    assert (a.mean() - b.mean()).abs() < 4 * se
    assert b.var() < a.var() / 1.5  # an F-test at 300 draws each rejects equal variances far below this ratio


def test_num_particles_average_reduces_variance_without_bias():
    model, guide = tiny_model_and_guide(data_dim=10, latent_dim=3, hidden_dim=16)
    x = binary_data(20, 10)
    one = _losses(AEVB(model, guide, estimator="A", num_particles=1), x, 20, 1000)
    ten = _losses(AEVB(model, guide, estimator="A", num_particles=10), x, 20, 1000)
    assert (one.mean() - ten.mean()).abs() < 4 * (one.var() / 1000 + ten.var() / 1000).sqrt()
    assert ten.var() < one.var() / 5


@pytest.mark.parametrize("estimator", ["A", "B"])
def test_gradients_reach_theta_and_phi_and_nothing_else(estimator):
    """Every parameter of the model and the guide gets a gradient from the loss, and a module that
    shares the param store but plays no part in the model/guide pair gets none (it is registered
    with Pyro, so a loss that gathered all of the store's parameters would reach it)."""
    model, guide = tiny_model_and_guide()
    bystander = torch.nn.Linear(2, 2)
    pyro.module("bystander", bystander)  # in the param store, beside the pair's parameters
    algorithm = AEVB(model, guide, estimator=estimator)
    x = binary_data(8, 6).requires_grad_(False)
    algorithm.loss(x, num_data=80).backward()
    for name, p in list(model.named_parameters()) + list(guide.named_parameters()):
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in bystander.parameters())
    assert set(map(id, algorithm.parameters())) == set(map(id, list(model.parameters()) + list(guide.parameters())))


def test_minibatch_estimate_is_unbiased_for_the_full_data_bound():
    """(N/M) Σ_minibatch L̃ᵢ (eq. 8, the plate's scale) has the full-data bound as its expectation."""
    model, guide = tiny_model_and_guide(data_dim=10, latent_dim=2, hidden_dim=16)
    n, m = 40, 10
    x = binary_data(n, 10, seed=3)
    algorithm = AEVB(model, guide, estimator="B")
    full = _losses(algorithm, x, n, 500)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        mini = torch.tensor(
            [algorithm.loss(x[torch.randperm(n, generator=generator)[:m]], num_data=n).item() for _ in range(3000)]
        )
    se = (full.var() / len(full) + mini.var() / len(mini)).sqrt()
    assert (full.mean() - mini.mean()).abs() < 4 * se
    # The same minibatch without the plate's N is a factor N/M smaller: the check above could fail.
    assert (full.mean() - mini.mean() * m / n).abs() > 20 * se


def test_bad_arguments():
    model, guide = tiny_model_and_guide()
    with pytest.raises(ValueError, match="estimator"):
        AEVB(model, guide, estimator="C")
    with pytest.raises(ValueError, match="num_particles"):
        AEVB(model, guide, num_particles=0)
