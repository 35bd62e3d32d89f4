"""``--precision bf16-mixed``: the layers' products in bfloat16 during training steps only,
every density, KL and reduction in float32."""

import pytest
import torch
from conftest import binary_data, tiny_model_and_guide
from pyro import poutine

from aevb.inference import AEVB
from aevb.inference.estimators.elbo import elbo_per_point
from aevb.inference.training.compile import compile_step
from aevb.inference.training.precision import mixed_precision


def pair(seed=0):
    model, guide = tiny_model_and_guide(data_dim=30, latent_dim=4, hidden_dim=64, seed=seed)
    return model, guide, AEVB(model, guide)


def test_a_mixed_step_computes_the_layers_in_bf16_and_the_densities_in_float32():
    x = binary_data(50, 30, seed=1)
    _, _, plain = pair()
    model, guide, algorithm = pair()
    mixed = mixed_precision(algorithm.step, [model, guide], "bf16-mixed")
    values = []
    for step in (plain.step, mixed):
        torch.manual_seed(2)
        values.append(step(x, num_data=50)[0])
    # the products were rounded to bfloat16 (about 3 significant digits), so the loss moved, a little
    assert values[0] != values[1] and abs(values[1] / values[0] - 1) < 1e-2
    # what the densities saw: float32 parameters, during the step
    seen = {}

    def record(x, *, num_data, index=None):
        trace = poutine.trace(model).get_trace(x, num_data=num_data)
        seen.update(
            {
                name: site["fn"].base_dist.logits.dtype
                if hasattr(site["fn"].base_dist, "logits")
                else site["fn"].base_dist.loc.dtype
                for name, site in trace.nodes.items()
                if site["type"] == "sample" and name != "data"
            }
        )
        return plain.step(x, num_data=num_data, index=index)

    mixed.step = record
    mixed(x, num_data=50)
    assert seen and all(dtype == torch.float32 for dtype in seen.values())


def test_a_mixed_step_leaves_no_hook_and_no_autocast_behind_even_when_it_fails():
    x = binary_data(50, 30, seed=1)
    model, guide, algorithm = pair()
    layers = [m for m in (*model.modules(), *guide.modules()) if isinstance(m, torch.nn.Linear)]
    mixed = mixed_precision(algorithm.step, [model, guide], "bf16-mixed")
    inside = {}

    def failing(x, *, num_data, index=None):
        guide.encoders["z"].body(x)  # a layer runs (its autocast entered), then the step fails
        inside["hooks"] = sum(len(layer._forward_pre_hooks) for layer in layers)
        raise RuntimeError("boom")

    mixed.step = failing
    with pytest.raises(RuntimeError, match="boom"):
        mixed(x, num_data=50)
    assert inside["hooks"] == len(layers)  # one pre-hook per layer while the step runs
    assert all(not layer._forward_pre_hooks and not layer._forward_hooks for layer in layers)
    assert not torch.is_autocast_enabled("cpu")


def test_evaluation_stays_float32_after_mixed_training():
    x = binary_data(50, 30, seed=1)
    model, guide, algorithm = pair()
    before = elbo_per_point(model, guide, x, num_samples=3)
    mixed_precision(algorithm.step, [model, guide], "bf16-mixed")(x, num_data=50)  # changes nothing outside it
    torch.testing.assert_close(elbo_per_point(model, guide, x, num_samples=3), before, rtol=0, atol=0)


def test_mixed_precision_traces_like_eager():
    x = binary_data(50, 30, seed=1)
    losses = []
    for mode in ("off", "trace"):
        model, guide, algorithm = pair()
        mixed = mixed_precision(algorithm.step, [model, guide], "bf16-mixed")
        step = compile_step(algorithm, mode, modules=[model, guide], step=mixed)
        torch.manual_seed(2)
        losses.append(step(x, num_data=50)[0])
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-6, atol=0)


def test_unknown_precision_is_refused():
    model, guide, algorithm = pair()
    with pytest.raises(ValueError, match="precision"):
        mixed_precision(algorithm.step, [model, guide], "16")
