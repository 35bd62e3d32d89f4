import torch
from conftest import linear_gaussian_problem

from aevb.guides.exact import ExactPosteriorGuide
from aevb.inference.algorithms.mcem import MonteCarloEM


def test_e_step_adapts_to_90_percent_and_leaves_the_exact_posterior_invariant():
    model, _, x = linear_gaussian_problem(num_test=1)
    chains = 4000
    xs = x.expand(chains, -1).contiguous()  # many chains on one point
    mcem = MonteCarloEM(model, num_data=chains)
    index = torch.arange(chains)
    exact = model.posterior(x[:1])
    with torch.no_grad():
        mcem.latents.copy_(exact.sample((chains,)).squeeze(1))
    accept = []
    for t in range(250):  # adaptation (from a step size of 0.05, ×1.02 at most per transition)
        mcem.e_step(xs, index)
        accept.append(mcem.accept_prob.mean().item())
    assert abs(sum(accept[-20:]) / 20 - 0.9) < 0.05
    with torch.no_grad():
        mcem.latents.copy_(exact.sample((chains,)).squeeze(1))
    for _ in range(10):  # frozen step sizes: the transitions must keep p(z|x) invariant
        mcem.e_step(xs, index, adapt=False)
    z = mcem.latents
    mean, cov = exact.loc[0].detach(), exact.covariance_matrix[0].detach()
    se = (cov.diagonal() / chains).sqrt()
    assert ((z.mean(0) - mean).abs() < 4 * se).all()
    sample_cov = torch.cov(z.T)
    # standard error of a covariance entry ≈ sqrt((Σᵢᵢ Σⱼⱼ + Σᵢⱼ²) / n)
    cov_se = ((cov.diagonal()[:, None] * cov.diagonal()[None, :] + cov**2) / chains).sqrt()
    assert ((sample_cov - cov).abs() < 4 * cov_se).all()


def test_mcem_refuses_a_guide_and_keeps_its_state_in_the_state_dict():
    model, _, _ = linear_gaussian_problem()
    try:
        MonteCarloEM(model, ExactPosteriorGuide(model), num_data=10)
        raised = False
    except ValueError as e:
        raised = "no encoder" in str(e)
    assert raised
    mcem = MonteCarloEM(model, num_data=10)
    assert set(mcem.state_dict()) == {"latents", "step_size", "accept_prob"}
    assert [id(p) for p in mcem.parameters()] == [id(p) for p in model.parameters()]


def test_the_e_step_moves_every_latent_site_and_keeps_the_two_site_posterior_invariant():
    """Two sites packed per point (z₂, then z₁, the model's order): chains started at exact draws of
    p(z₁, z₂ | x) are still distributed so after frozen-step transitions (means within 4
    standard errors), and every packed coordinate moved."""
    from conftest import two_layer_problem

    model, _, x = two_layer_problem(num_test=1)
    chains = 4000
    xs = x.expand(chains, -1).contiguous()
    mcem = MonteCarloEM(model, num_data=chains, initial_step_size=0.3)
    assert mcem.layout.sites == ("z2", "z1") and mcem.layout.size == 3
    exact = model.posterior(x[:1])  # over [z1, z2]
    with torch.no_grad():
        draws = exact.sample((chains,)).squeeze(1)
        mcem.latents.copy_(mcem.layout.flatten({"z1": draws[:, :2], "z2": draws[:, 2:]}))
    start = mcem.latents.clone()
    for _ in range(10):
        mcem.e_step(xs, torch.arange(chains), adapt=False)
    assert ((mcem.latents != start).float().mean(0) > 0.3).all()  # every coordinate of most chains moved
    moved = mcem.layout.unflatten(mcem.latents)
    z = torch.cat([moved["z1"], moved["z2"]], -1)
    se = (exact.covariance_matrix[0].diagonal() / chains).sqrt()
    assert ((z.mean(0) - exact.loc[0]).abs() < 4 * se).all()
