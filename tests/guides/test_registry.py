"""Every registered guide family fits every model of the collection: it samples each of the model's
local latent sites, with the model's shapes and the plate's N/M scale, and gives finite log-weights."""

import pyro.poutine as poutine
import pytest
import torch
from conftest import binary_data

from aevb.data.sequences import pack
from aevb.guides import GUIDES, guide_class, make_guide
from aevb.inference.algorithms import AEVB
from aevb.inference.capabilities import capabilities
from aevb.inference.estimators.weights import log_importance_weights
from aevb.inference.latents import local_latent_sites
from aevb.inference.rules import CombinationError, check
from aevb.models import MODELS, ModelSpec, build_model
from aevb.models.linear_gaussian import LinearGaussianModel, TwoLayerLinearGaussian
from aevb.models.state_space import LinearStateSpace

SPEC = ModelSpec(data_dim=16, image_shape=(4, 4), latent_dim=3, hidden_dims=(8,))
MODEL_FACTORIES = {
    **{name: (lambda name=name: build_model(name, SPEC)) for name in MODELS},
    "linear": lambda: LinearGaussianModel(16, 3),
    "linear, two layers": lambda: TwoLayerLinearGaussian(16, (3, 2)),
    "state space": lambda: LinearStateSpace.random(steps=4, width=3, size=2, dtype=torch.float32),
}


def data_for(model, count=5):
    """Rows the model reads: binary ones, or for a sequence model packed sequences of 1..steps steps."""
    if not capabilities(model, "model").sequence_model:
        return binary_data(count, 16)
    steps, width = model.sequence.steps, model.sequence.width
    lengths = torch.arange(count) % steps + 1
    return pack(torch.bernoulli(torch.full((count, steps, width), 0.4)), lengths)


@pytest.mark.parametrize("guide_name", sorted(GUIDES))
@pytest.mark.parametrize("model_name", sorted(MODEL_FACTORIES))
def test_guide_samples_every_local_site_of_the_model_and_gives_finite_weights(guide_name, model_name):
    torch.manual_seed(0)
    model = MODEL_FACTORIES[model_name]()
    declared = capabilities(guide_class(guide_name), "guide")
    if declared.needs_sequence_model and not capabilities(model, "model").sequence_model:
        with pytest.raises(ValueError, match="needs a sequence model"):
            make_guide(guide_name, model, num_data=40)
        return
    if declared.needs_fixed_latent_shape and capabilities(model, "model").latent_shape_varies:
        with pytest.raises(CombinationError, match="needs_fixed_latent_shape"):  # the dmm: refused by the rules
            check(AEVB, model=model, guide=guide_class(guide_name))
        return
    guide = make_guide(guide_name, model, num_data=40)
    x = data_for(model)
    index = torch.tensor([0, 7, 8, 20, 39])
    g = poutine.trace(guide).get_trace(x, num_data=40, index=index)
    m = poutine.trace(poutine.replay(model, trace=g)).get_trace(x, num_data=40, index=index)
    sites = local_latent_sites(m)
    assert sites and set(local_latent_sites(g)) == set(sites) == {site.name for site in model.local_sites}
    for name in sites:
        assert g.nodes[name]["value"].shape == m.nodes[name]["value"].shape == (5, *m.nodes[name]["fn"].event_shape)
        assert g.nodes[name]["scale"] == m.nodes[name]["scale"] == 8.0  # N/M of eq. 8
    log_w = log_importance_weights(model, guide, x, 4, index=index, num_data=40)
    assert log_w.shape == (4, 5) and torch.isfinite(log_w).all()


@pytest.mark.parametrize("guide_name", sorted(GUIDES))
def test_a_built_guide_has_the_capabilities_its_family_declares(guide_name):
    for flow_type in ("iaf", "planar"):
        declared = capabilities(guide_class(guide_name, flow_type=flow_type), "guide")
        model = build_model("dmm" if declared.needs_sequence_model else "mlp", SPEC)
        guide = make_guide(guide_name, model, num_data=40, flow_type=flow_type)
        assert capabilities(guide, "guide") == declared


def test_flow_guides_declare_log_q_anywhere_by_their_type():
    assert capabilities(guide_class("flow", flow_type="iaf"), "guide").density_anywhere
    assert not capabilities(guide_class("flow", flow_type="planar"), "guide").density_anywhere
    guide = make_guide("flow", build_model("mlp", SPEC), flow_type="radial")
    assert not capabilities(guide, "guide").density_anywhere and capabilities(guide, "guide").amortised


def test_unknown_guide_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="diag"):
        make_guide("gaussian", data_dim=6, latent_dim=2)
