"""Reweighted wake-sleep with per-datapoint self-normalised weights (inference/algorithms/rws.py)."""

import pyro
import pyro.poutine as poutine
import pytest
import torch
from conftest import binary_data, tiny_model_and_guide

from aevb.guides import make_guide
from aevb.inference.algorithms.iwae import IWAE
from aevb.inference.algorithms.rws import RWS
from aevb.inference.capabilities import capabilities


def gradients(algorithm, params, x, num_data, seed=0):
    for p in params:
        p.grad = None
    pyro.set_rng_seed(seed)
    surrogate, bound = algorithm.step(x, num_data=num_data)
    surrogate.backward()
    return [p.grad.clone() for p in params], bound


def test_theta_gradient_is_the_importance_weighted_bounds():
    """On the same draws, wake-θ is exactly the gradient of the k-sample bound in θ:
    ∇θ log (1/k) Σ_k w_k = Σ_k w̃_k ∇θ log p(x, z_k)."""
    # in float64: the two are different computations of one number, so float32 rounding (about 1e-6
    # here, moved by any change in the order of the likelihood's sums) is not what is tested
    model, guide = (m.double() for m in tiny_model_and_guide())
    x = binary_data(8, 6).double()
    theta = list(model.parameters())
    rws, _ = gradients(RWS(model, guide, num_particles=5), theta, x, num_data=80)
    iwae, _ = gradients(IWAE(model, guide, num_particles=5), theta, x, num_data=80)
    for a, b in zip(rws, iwae):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_a_step_scales_exactly_with_the_data_set_size():
    """Weights normalised per datapoint do not depend on N/M: a step for N = 800 is 100 times the
    step for N = M = 8 on the same draws. (Pyro's ReweightedWakeSleep normalises the N/M-scaled
    log-weights over the whole minibatch, so its weights, and its step, change with N.)"""
    model, guide = tiny_model_and_guide()
    x = binary_data(8, 6)
    params = list(model.parameters()) + list(guide.parameters())
    small, small_bound = gradients(RWS(model, guide, num_particles=4), params, x, num_data=8)
    large, large_bound = gradients(RWS(model, guide, num_particles=4), params, x, num_data=800)
    for a, b in zip(small, large):
        torch.testing.assert_close(100 * a, b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(100 * small_bound, large_bound)


def test_phi_gradient_is_the_weighted_score_of_q_at_fixed_draws():
    """wake-φ: Σᵢ Σ_k w̃_{ik} ∇φ log q(z_{ik}|xᵢ), the draws held fixed (no path through z), weights
    per datapoint: computed here by hand from the same draws."""
    model, guide = tiny_model_and_guide()
    x = binary_data(6, 6)
    phi = list(guide.parameters())
    got, _ = gradients(RWS(model, guide, num_particles=3), phi, x, num_data=6, seed=4)
    pyro.set_rng_seed(4)
    with pyro.plate("rws_particles", 3, dim=-2):
        z = poutine.trace(guide).get_trace(x, num_data=6).nodes["z"]["value"].detach()
    q = guide.posterior(x)
    log_q = q.log_prob(z)
    with torch.no_grad():
        log_p = model.prior(x).log_prob(z) + model.likelihood(z).log_prob(x)
        weights = torch.softmax(log_p - log_q, dim=0)  # over each point's 3 draws
    expected = torch.autograd.grad(-(weights * log_q).sum(), phi)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_declared_needs_are_enforced():
    model, guide = tiny_model_and_guide()
    with pytest.raises(ValueError, match="min_particles = 2; got num_particles 1"):
        RWS(model, guide, num_particles=1)
    planar = make_guide("flow", model, flow_type="planar")
    with pytest.raises(ValueError, match="needs_density_anywhere.*FlowGuide does not declare density_anywhere"):
        RWS(model, planar, num_particles=3)
    declared = capabilities(RWS, "algorithm")
    assert declared.min_particles == 2 and declared.needs_density_anywhere
