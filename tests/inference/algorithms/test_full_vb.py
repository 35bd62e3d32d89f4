"""Full VB (Appendix F): weight sites outside the data plate, the weight KL, the posterior mean."""

import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch
from conftest import binary_data, tiny_model_and_guide
from torch.distributions import kl_divergence

from aevb import experiment as exp
from aevb.guides import MeanFieldGuide
from aevb.inference import AEVB
from aevb.inference.algorithms.full_vb import FullVB


def test_weights_are_global_sites_with_normal_priors():
    model, guide = tiny_model_and_guide()
    algorithm = FullVB(model, guide)
    trace = poutine.trace(algorithm.bayes).get_trace(binary_data(5, 6), num_data=50)
    names = algorithm.bayes.site_names()
    assert names == [
        "decoder.body.hidden.0.weight",
        "decoder.body.hidden.0.bias",
        "decoder.out.weight",
        "decoder.out.bias",
    ]
    for name, param in zip(names, model.decoder.parameters()):
        site = trace.nodes[name]
        assert site["scale"] == 1.0 and site["cond_indep_stack"] == ()  # one draw, not N/M-scaled
        assert site["value"].shape == param.shape and site["fn"].event_shape == param.shape
    assert trace.nodes["z"]["scale"] == 10.0


def test_weight_kl_is_the_closed_form_and_the_bound_subtracts_it():
    """With q(θ) and q(z|x) both (nearly) point masses, the full-VB bound equals the AEVB bound of
    the base model at q(θ)'s mean minus KL(q(θ) ‖ p(θ)). The AutoGuide samples θ through an
    auxiliary site, so the weight term is log p(θ) − log q(θ) at the draw: compared in
    expectation over 400 draws (its spread is that of ½ Σ (ε² − 1) over the 78 weights)."""
    torch.manual_seed(0)
    model, guide = tiny_model_and_guide()
    with torch.no_grad():  # log σ² = −30 for every z: z is the encoder's mean
        guide.encoders["z"].head.weight[guide.latent_dim :].zero_()
        guide.encoders["z"].head.bias[guide.latent_dim :].fill_(-30.0)
    algorithm = FullVB(model, guide, estimator="B", init_scale=1e-4)
    kl = 0.0
    for name in algorithm.bayes.site_names():
        loc, scale = algorithm.weights._get_loc_and_scale(name)
        kl += kl_divergence(dist.Normal(loc, scale), dist.Normal(0.0, 1.0)).sum().item()
    assert algorithm.weight_kl() == pytest.approx(kl, rel=1e-5)
    assert kl > 100  # a tight q(θ) against N(0, I) costs many nats: the check can fail
    x = binary_data(8, 6)
    with torch.no_grad():
        draws = torch.stack([algorithm.step(x, num_data=40)[1] for _ in range(400)])
        aevb = AEVB(algorithm.point_model(), guide, estimator="B").step(x, num_data=40)[1].item()
    assert abs(draws.mean().item() - (aevb - kl)) < 4 * draws.std().item() / 400**0.5
    assert 3 < draws.std().item() < 10  # sqrt(78 / 2) = 6.2: the weight term is the only noise


def test_several_particles_draw_theta_per_particle():
    """Each of the 3 particles of one step draws its own θ ~ q(θ): the guide's weight draws are
    recorded, and every weight site takes 3 different values (a θ shared across particles, or
    one particle, would give one)."""
    model, guide = tiny_model_and_guide()
    algorithm = FullVB(model, guide, num_particles=3, init_scale=0.1)
    draws = []
    autoguide_forward = algorithm.weights.forward
    algorithm.weights.forward = lambda *a, **k: draws.append(autoguide_forward(*a, **k)) or draws[-1]
    surrogate, bound = algorithm.step(binary_data(5, 6), num_data=50)
    assert torch.isfinite(bound) and surrogate.requires_grad
    assert len(draws) == 3
    for name in algorithm.bayes.site_names():
        values = torch.stack([d[name].detach() for d in draws])
        assert values.shape[0] == 3 and all(not torch.equal(values[i], values[j]) for i in range(3) for j in range(i))


def test_gradients_reach_q_theta_and_phi_and_not_the_base_decoder():
    model, guide = tiny_model_and_guide()
    algorithm = FullVB(model, guide)
    algorithm.step(binary_data(5, 6), num_data=50)[0].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in algorithm.parameters())
    assert all(p.grad is None for p in model.decoder.parameters())
    assert len(algorithm.parameters()) == len(list(guide.parameters())) + 2 * 4


def test_point_model_holds_the_posterior_mean():
    model, guide = tiny_model_and_guide()
    algorithm = FullVB(model, guide)
    with torch.no_grad():
        for p in algorithm.weights.parameters():
            p.add_(0.5)
    point = algorithm.point_model()
    assert point is model
    for name, param in zip(algorithm.bayes.site_names(), model.decoder.parameters()):
        torch.testing.assert_close(param, algorithm.weights._get_loc_and_scale(name)[0])


def test_combinations_refused_with_reasons():
    with pytest.raises(
        ValueError, match="declares needs_amortised_guide.*--guide meanfield does not declare amortised"
    ):
        exp.check_combination({**exp.DEFAULTS, "inference": "full-vb", "guide": "meanfield"})
    with pytest.raises(ValueError, match="map-prior"):
        exp.check_combination({**exp.DEFAULTS, "inference": "full-vb", "map_prior": True})
    with pytest.raises(ValueError, match="needs_amortised_guide .it runs q on data it was not fitted to."):
        exp.check_combination({**exp.DEFAULTS, "inference": "wake-sleep", "guide": "meanfield"})
    with pytest.raises(
        ValueError, match="declares needs_amortised_guide"
    ):  # the same rule for a pipeline built by hand
        FullVB(*tiny_model_and_guide()[:1], MeanFieldGuide(20, 6, 2))
