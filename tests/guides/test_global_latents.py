"""Pyro AutoGuides over global latent sites: closed-form KL to the prior, posterior means."""

import pyro.poutine as poutine
import pytest
import torch

from aevb.guides.global_latents import AUTOGUIDES, global_autoguide, kl_to_normal_prior, posterior_means
from aevb.models.bayesian import BayesianModel
from aevb.models.linear_gaussian import LinearGaussianModel


@pytest.mark.parametrize("kind", sorted(AUTOGUIDES))
def test_closed_form_kl_matches_monte_carlo_and_means_are_the_start(kind):
    torch.manual_seed(0)
    base = LinearGaussianModel(4, 2)
    model = BayesianModel(base, prior_scale=2.0)
    names = model.site_names()
    start = {n: p.detach() for n, p in zip(names, base.decoder.parameters())}
    guide = global_autoguide(model, names, kind, start, init_scale=0.3)
    x = torch.randn(6, 4)
    guide(x, num_data=6)  # AutoGuides create their parameters on the first call
    for name in names:
        torch.testing.assert_close(posterior_means(guide, names)[name], start[name])
    kl = kl_to_normal_prior(guide, names, prior_scale=2.0)
    draws = []
    with torch.no_grad():
        for _ in range(1000):
            trace = poutine.trace(guide).get_trace(x, num_data=6)
            log_q = trace.log_prob_sum()  # auxiliary Gaussian site(s); the Delta sites add 0 (real support)
            log_p = sum(torch.distributions.Normal(0.0, 2.0).log_prob(trace.nodes[n]["value"]).sum() for n in names)
            draws.append((log_q - log_p).item())
    draws = torch.tensor(draws)
    assert abs(draws.mean().item() - kl) < 4 * draws.std().item() / len(draws) ** 0.5
    assert kl > 1.0


def test_unknown_kind_is_refused():
    base = LinearGaussianModel(4, 2)
    model = BayesianModel(base)
    with pytest.raises(ValueError, match="normal"):
        global_autoguide(model, model.site_names(), "laplace")
