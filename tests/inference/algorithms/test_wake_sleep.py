import torch
from conftest import binary_data, tiny_model_and_guide

from aevb.inference import estimators
from aevb.inference.algorithms.wake_sleep import WakeSleep


def grads(module):
    return [p.grad for p in module.parameters()]


def test_wake_phase_reaches_theta_only_and_sleep_phase_phi_only():
    model, guide = tiny_model_and_guide()
    x = binary_data(8, 6)
    surrogate, bound = WakeSleep(model, guide).step(x, num_data=80)
    wake_only = torch.autograd.grad(surrogate, list(model.parameters()), retain_graph=True)
    assert all(g.abs().sum() > 0 for g in wake_only)
    # The gradient of the surrogate w.r.t. φ is exactly the sleep term's: −∇φ log q(z̃|x̃).
    surrogate.backward()
    assert all(g is not None and g.abs().sum() > 0 for g in grads(guide))
    assert not bound.requires_grad


def test_sleep_gradient_is_the_gradient_of_log_q_on_dreams():
    """Replacing the wake term by zero must leave φ's gradient unchanged, and vice versa for θ."""
    model, guide = tiny_model_and_guide()
    x = binary_data(8, 6)
    torch.manual_seed(1)
    surrogate, _ = WakeSleep(model, guide).step(x, num_data=8)
    g_phi = torch.autograd.grad(surrogate, list(guide.parameters()), retain_graph=True)
    g_theta = torch.autograd.grad(surrogate, list(model.parameters()))
    torch.manual_seed(1)  # the same z ~ q(z|x) and the same dream
    import pyro.poutine as poutine

    with torch.no_grad():
        guide_trace = poutine.trace(guide).get_trace(x, num_data=8)
    log_joint = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x, num_data=8).log_prob_sum()
    for a, b in zip(g_theta, torch.autograd.grad(-log_joint, list(model.parameters()))):
        torch.testing.assert_close(a, b)
    with torch.no_grad():
        dream = poutine.trace(poutine.uncondition(model)).get_trace(x, num_data=8)
    sleep = poutine.trace(poutine.condition(guide, data={"z": dream.nodes["z"]["value"]})).get_trace(
        dream.nodes["x"]["value"], num_data=8
    )
    for a, b in zip(g_phi, torch.autograd.grad(-sleep.log_prob_sum(), list(guide.parameters()))):
        torch.testing.assert_close(a, b)


def test_reported_bound_is_an_elbo_estimate():
    model, guide = tiny_model_and_guide()
    x = binary_data(30, 6)
    bounds = torch.stack([WakeSleep(model, guide).step(x, num_data=30)[1] for _ in range(400)]) / 30
    elbo = estimators.elbo_per_point(model, guide, x, num_samples=2000).mean()
    assert (bounds.mean() - elbo).abs() < 4 * bounds.std() / 400**0.5 + 0.02
