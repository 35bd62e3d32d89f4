"""Dense and diagonal mass matrices: the momentum, the kinetic energy, the curvature they come from."""

import torch
from conftest import rotated_linear_gaussian

from aevb.inference.estimators.hmc import PerPointHMC, packed_log_joint
from aevb.inference.estimators.mass import Mass, covariance_from_precision, curvature, relative_scale
from aevb.inference.latents import LatentLayout


def random_covariances(batch, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, size, size, generator=g, dtype=torch.float64)
    return a @ a.mT + 0.1 * torch.eye(size, dtype=torch.float64)


def test_a_dense_mass_draws_momenta_from_its_inverse_and_moves_by_it():
    """r ~ N(0, M) with M = (M⁻¹)⁻¹, dz/dt = M⁻¹ r, kinetic ½ rᵀ M⁻¹ r."""
    torch.manual_seed(0)
    inv_mass = random_covariances(2, 3)
    z = torch.zeros(200_000, 2, 3, dtype=torch.float64)
    mass = Mass(inv_mass.expand(200_000, 2, 3, 3), z)
    r = mass.momentum(z)
    empirical = torch.einsum("nbi,nbj->bij", r, r) / len(r)
    torch.testing.assert_close(empirical, torch.linalg.inv(inv_mass), rtol=0.03, atol=0.03)
    r = torch.randn(5, 2, 3, dtype=torch.float64)
    mass = Mass(inv_mass.expand(5, 2, 3, 3), r)
    torch.testing.assert_close(mass.velocity(r), torch.einsum("bij,nbj->nbi", inv_mass, r))
    torch.testing.assert_close(mass.kinetic(r), 0.5 * torch.einsum("nbi,bij,nbj->nb", r, inv_mass, r))


def test_a_diagonal_held_densely_gives_the_diagonal_numbers():
    diagonal = torch.rand(4, 3, dtype=torch.float64) + 0.5
    r = torch.randn(4, 3, dtype=torch.float64)
    dense, diag = Mass(torch.diag_embed(diagonal), r), Mass(diagonal, r)
    torch.testing.assert_close(dense.velocity(r), diag.velocity(r))
    torch.testing.assert_close(dense.kinetic(r), diag.kinetic(r))
    new = torch.rand(4, 3, dtype=torch.float64) + 0.5
    torch.testing.assert_close(
        relative_scale(torch.diag_embed(diagonal), torch.diag_embed(new), r), relative_scale(diagonal, new, r)
    )


def test_the_curvature_of_a_gaussian_posterior_is_its_precision_anywhere():
    """On a rotated linear-Gaussian oracle the negative Hessian of log p(x, z) is the posterior's
    precision at any z, and the covariance made from it is the posterior's, spreads of 50 apart."""
    model, x = rotated_linear_gaussian(latent_dim=4, num_points=5, seed=0)
    model = model.double()
    x = x.double()
    layout = LatentLayout.of(model, x)
    z = torch.randn(5, 4, dtype=torch.float64) * 3
    covariance = covariance_from_precision(curvature(packed_log_joint(model, x, layout), z))
    torch.testing.assert_close(covariance, model.posterior(x).covariance_matrix, rtol=1e-6, atol=1e-9)


def test_hmc_with_a_dense_mass_samples_a_correlated_gaussian():
    """With the target's covariance as the inverse mass, draws of 500 transitions on 200 points
    match the correlated target's covariance."""
    torch.manual_seed(0)
    cov = random_covariances(1, 3, seed=1)[0]
    target = torch.distributions.MultivariateNormal(torch.zeros(3, dtype=torch.float64), covariance_matrix=cov)
    kernel = PerPointHMC(target.log_prob, num_leapfrog=5)
    z = torch.zeros(200, 3, dtype=torch.float64)
    step = torch.full((200,), 0.3, dtype=torch.float64)
    inv_mass = cov.expand(200, 3, 3)
    draws = []
    for i in range(500):
        z, _, step = kernel(z, step, adapt=i < 100, inv_mass=inv_mass)
        if i >= 100:
            draws.append(z)
    draws = torch.stack(draws).reshape(-1, 3)
    torch.testing.assert_close(torch.cov(draws.T), cov, rtol=0.1, atol=0.05)
