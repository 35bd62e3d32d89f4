import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch
from conftest import binary_data, tiny_model_and_guide
from torch.distributions import kl_divergence

from aevb.guides import DiagonalGaussianGuide, make_guide


def test_samples_the_model_site_in_the_same_plate():
    model, guide = tiny_model_and_guide()
    x = binary_data(5, 6)
    g = poutine.trace(guide).get_trace(x, num_data=50)
    m = poutine.trace(model).get_trace(x, num_data=50)
    assert g.nodes["z"]["value"].shape == m.nodes["z"]["value"].shape == (5, 2)
    assert g.nodes["z"]["scale"] == m.nodes["z"]["scale"] == pytest.approx(10.0)
    assert type(make_guide("diag", data_dim=6, latent_dim=2)) is DiagonalGaussianGuide


def test_scale_is_positive_and_finite_for_extreme_outputs():
    guide = DiagonalGaussianGuide(data_dim=6, latent_dim=2, hidden_dim=8)
    with torch.no_grad():
        guide.encoders["z"].head.bias.fill_(1e4)
        q = guide.posterior(binary_data(3, 6))
    assert torch.isfinite(q.base_dist.scale).all() and (q.base_dist.scale > 0).all()


def test_analytic_kl_matches_appendix_b_and_monte_carlo():
    guide = DiagonalGaussianGuide(data_dim=6, latent_dim=3, hidden_dim=8)
    q = guide.posterior(binary_data(4, 6))
    p = dist.Normal(torch.zeros(3), 1.0).to_event(1)
    mu, var = q.base_dist.loc, q.base_dist.scale**2
    appendix_b = -0.5 * (1 + var.log() - mu**2 - var).sum(-1)
    torch.testing.assert_close(kl_divergence(q, p), appendix_b)
    z = q.rsample((200_000,))
    log_ratio = q.log_prob(z) - p.log_prob(z)
    mc, se = log_ratio.mean(0), log_ratio.std(0) / 200_000**0.5
    assert ((mc - appendix_b).abs() < 4 * se).all()


def test_rejects_wrong_input_shape():
    guide = DiagonalGaussianGuide(data_dim=6, latent_dim=2, hidden_dim=8)
    with pytest.raises(ValueError, match=r"shape \(batch, 6\)"):
        guide(torch.zeros(3, 5), num_data=3)
