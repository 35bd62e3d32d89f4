"""Every registered guide fits every model of the collection that has a "z" site."""

import pyro.poutine as poutine
import pytest
import torch

from conftest import binary_data
from aevb.guides import GUIDES, make_guide
from aevb.inference.evaluate import log_importance_weights
from aevb.models import MODELS
from aevb.models.linear_gaussian import LinearGaussianModel

MODEL_FACTORIES = {**{name: (lambda cls=cls: cls(6, 3, 8)) for name, cls in MODELS.items()}, "linear": lambda: LinearGaussianModel(6, 3)}


@pytest.mark.parametrize("guide_name", sorted(GUIDES))
@pytest.mark.parametrize("model_name", sorted(MODEL_FACTORIES))
def test_guide_and_model_share_the_z_site_and_give_finite_weights(guide_name, model_name):
    torch.manual_seed(0)
    model = MODEL_FACTORIES[model_name]()
    guide = make_guide(guide_name, data_dim=6, latent_dim=3, hidden_dim=8, num_data=40)
    x = binary_data(5, 6)
    index = torch.tensor([0, 7, 8, 20, 39])
    g = poutine.trace(guide).get_trace(x, num_data=40, index=index)
    m = poutine.trace(poutine.replay(model, trace=g)).get_trace(x, num_data=40, index=index)
    assert g.nodes["z"]["value"].shape == m.nodes["z"]["value"].shape == (5, 3)
    assert g.nodes["z"]["scale"] == m.nodes["z"]["scale"] == 8.0  # N/M of eq. 8
    log_w = log_importance_weights(model, guide, x, 4, index=index, num_data=40)
    assert log_w.shape == (4, 5) and torch.isfinite(log_w).all()


def test_unknown_guide_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="diag"):
        make_guide("gaussian", data_dim=6, latent_dim=2)
