"""The flow guide: an exact density by the change of variables, and its objective limits."""

import pytest
import torch
from conftest import binary_data

from aevb import experiment as exp
from aevb.guides import make_guide


@pytest.mark.parametrize("flow_type", ["iaf", "planar", "radial"])
def test_density_of_a_sample_is_the_change_of_variables(flow_type):
    """log q(z) = log N(z₀; μ, σ²) − log|det ∂z/∂z₀|, with the Jacobian from autograd."""
    torch.manual_seed(0)
    guide = make_guide("flow", data_dim=6, latent_dim=3, hidden_dim=8, flow_steps=2, flow_type=flow_type)
    x = binary_data(4, 6)
    params = guide.local_parameters(x)["z"].detach()
    q = guide.family(params)
    z0 = q.base_dist.sample()
    transforms = q.transforms

    def push(z):
        for t in transforms:
            z = t(z)
        return z

    z = push(z0)
    log_q = q.log_prob(z)  # as in the guide: right after sampling (planar and radial cache intermediates)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda v: push(v.unsqueeze(0).expand(len(x), 3))[i], z0[i])
        expected = q.base_dist.log_prob(z0)[i] - torch.linalg.slogdet(jac)[1]
        torch.testing.assert_close(log_q[i], expected, rtol=1e-4, atol=1e-4)


def test_vectorised_particles_broadcast_the_context():
    guide = make_guide("flow", data_dim=6, latent_dim=3, hidden_dim=8)
    q = guide.posterior(binary_data(5, 6))
    z = q.rsample((7,))
    assert z.shape == (7, 5, 3) and q.log_prob(z).shape == (7, 5)
    assert torch.isfinite(q.log_prob(z)).all()


def test_estimator_b_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="closed form.*--estimator A"):
        exp.check_combination({**exp.DEFAULTS, "guide": "flow", "estimator": "B"})
    exp.check_combination({**exp.DEFAULTS, "guide": "flow", "estimator": "A"})
    exp.check_combination({**exp.DEFAULTS, "guide": "flow", "inference": "iwae"})
