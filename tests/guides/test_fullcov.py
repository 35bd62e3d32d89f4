"""The full-covariance guide: its registered KL, and exactness on the linear-Gaussian model."""

import pyro
import pyro.distributions as dist
import torch
from conftest import binary_data, correlated_linear_gaussian
from torch.distributions import kl_divergence

from aevb.guides import make_guide
from aevb.inference import AEVB
from aevb.inference.estimators.elbo import elbo_per_point


def test_scale_tril_is_lower_triangular_with_positive_diagonal():
    guide = make_guide("fullcov", data_dim=6, latent_dim=4, hidden_dim=8)
    q = guide.posterior(binary_data(5, 6))
    L = q.scale_tril
    assert L.shape == (5, 4, 4)
    assert torch.equal(L, L.tril()) and (L.diagonal(dim1=-2, dim2=-1) > 0).all()
    assert L.tril(-1).abs().sum() == 0  # it starts as the diagonal guide
    with torch.no_grad():
        guide.encoders["z"].head.bias[8:].fill_(0.5)
    q = guide.posterior(binary_data(5, 6))
    sigma = q.scale_tril.diagonal(dim1=-2, dim2=-1)
    torch.testing.assert_close(
        q.scale_tril.tril(-1), 0.5 * torch.ones(4, 4).tril(-1) * sigma.unsqueeze(-2)
    )  # (I + A) diag(σ)


def test_registered_kl_matches_torch_mvn_kl_and_monte_carlo():
    guide = make_guide("fullcov", data_dim=6, latent_dim=3, hidden_dim=8)
    with torch.no_grad():
        guide.encoders["z"].head.bias[6:].copy_(torch.tensor([0.7, -0.4, 0.3]))  # correlated q
    q = guide.posterior(binary_data(4, 6))
    assert (q.scale_tril.tril(-1) != 0).sum() == 4 * 3  # every strictly-lower entry of every point
    p = dist.Normal(torch.tensor([0.3, -0.2, 0.1]), torch.tensor([1.0, 0.5, 2.0])).to_event(1)
    ours = kl_divergence(q, p)
    as_mvn = dist.MultivariateNormal(p.base_dist.loc, scale_tril=torch.diag(p.base_dist.scale))
    torch.testing.assert_close(ours, kl_divergence(q, as_mvn))
    z = q.rsample((200_000,))
    log_ratio = q.log_prob(z) - p.log_prob(z)
    mc, se = log_ratio.mean(0), log_ratio.std(0) / 200_000**0.5
    assert ((mc - ours).abs() < 4 * se).all()


def fit_guide(truth, guide, x, steps=1500, lr=3e-2):
    """Full-batch estimator B on the guide alone (the model is the truth), cosine-decayed Adam."""
    algorithm = AEVB(truth, guide, estimator="B")
    optimizer = torch.optim.Adam(guide.parameters(), lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    with pyro.validation_enabled(False):
        for _ in range(steps):
            optimizer.zero_grad()
            algorithm.step(x, num_data=len(x))[0].backward()
            optimizer.step()
            schedule.step()


def test_fullcov_reaches_the_exact_posterior_and_diag_keeps_the_analytic_gap(capsys):
    """Issue 4: after fitting, the full-covariance ELBO equals log p(x) within 0.02 nats per
    datapoint, while the diagonal guide stays below it by KL(best diagonal ‖ exact posterior) =
    ½ (log|Σ| + Σᵢ log Λᵢᵢ) (Λ = Σ⁻¹: the best diagonal has variances 1/Λᵢᵢ), also within 0.02.
    Budget measured here: 1500 full-batch steps leave 0.006 (fullcov) and 0.011 (diag)."""
    truth, train, test = correlated_linear_gaussian()
    cov = truth.posterior(test[:1]).covariance_matrix[0]
    analytic_gap = 0.5 * (torch.logdet(cov) + torch.linalg.inv(cov).diagonal().log().sum()).item()
    assert analytic_gap > 0.5  # the correlation matters: the check could fail
    log_p = truth.log_marginal(test).mean().item()
    gaps = {}
    for name in ("fullcov", "diag"):
        torch.manual_seed(0)
        guide = make_guide(name, data_dim=5, latent_dim=2, hidden_dim=64)
        fit_guide(truth, guide, train)
        gaps[name] = log_p - elbo_per_point(truth, guide, test, num_samples=200).mean().item()
    with capsys.disabled():
        print(
            f"\nlog p(x) - ELBO: fullcov {gaps['fullcov']:.4f}, diag {gaps['diag']:.4f} (analytic {analytic_gap:.4f})"
        )
    assert abs(gaps["fullcov"]) < 0.02
    assert abs(gaps["diag"] - analytic_gap) < 0.02
