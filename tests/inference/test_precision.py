"""``--precision bf16-mixed``: the layers' products in bfloat16 during training steps only,
every density, KL and reduction in float32."""

import pyro
import pytest
import torch
from pyro import poutine

from conftest import binary_data, tiny_model_and_guide
from aevb.inference import AEVB
from aevb.inference.compiled import compile_step
from aevb.inference.evaluate import elbo_per_point
from aevb.inference.precision import mixed_precision


def pair(seed=0):
    model, guide = tiny_model_and_guide(data_dim=30, latent_dim=4, hidden_dim=64, seed=seed)
    return model, guide, AEVB(model, guide)


def test_a_mixed_step_computes_the_layers_in_bf16_and_the_densities_in_float32():
    x = binary_data(50, 30, seed=1)
    _, _, plain = pair()
    model, guide, mixed = pair()
    mixed_precision(mixed, [model, guide], "bf16-mixed")
    values = []
    for algorithm in (plain, mixed):
        torch.manual_seed(2)
        values.append(algorithm.step(x, num_data=50)[0])
    # the products were rounded to bfloat16 (about 3 significant digits), so the loss moved, a little
    assert values[0] != values[1] and abs(values[1] / values[0] - 1) < 1e-2
    # what the densities saw: float32 parameters, during the step
    seen = {}

    def record(x, *, num_data, index=None):
        trace = poutine.trace(model).get_trace(x, num_data=num_data)
        seen.update({name: site["fn"].base_dist.logits.dtype if hasattr(site["fn"].base_dist, "logits") else site["fn"].base_dist.loc.dtype
                     for name, site in trace.nodes.items() if site["type"] == "sample" and name != "data"})
        return plain.step(x, num_data=num_data, index=index)

    mixed.step.step = record
    mixed.step(x, num_data=50)
    assert seen and all(dtype == torch.float32 for dtype in seen.values())


def test_evaluation_stays_float32_after_mixed_training():
    x = binary_data(50, 30, seed=1)
    model, guide, algorithm = pair()
    before = elbo_per_point(model, guide, x, num_samples=3)
    mixed_precision(algorithm, [model, guide], "bf16-mixed")
    algorithm.step(x, num_data=50)  # a mixed step in between changes nothing outside it
    torch.testing.assert_close(elbo_per_point(model, guide, x, num_samples=3), before, rtol=0, atol=0)


def test_mixed_precision_traces_like_eager():
    x = binary_data(50, 30, seed=1)
    losses = []
    for mode in ("off", "trace"):
        model, guide, algorithm = pair()
        algorithm = compile_step(mixed_precision(algorithm, [model, guide], "bf16-mixed"), model, guide, mode)
        torch.manual_seed(2)
        losses.append(algorithm.step(x, num_data=50)[0])
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-6, atol=0)


def test_unknown_precision_is_refused():
    model, guide, algorithm = pair()
    with pytest.raises(ValueError, match="precision"):
        mixed_precision(algorithm, [model, guide], "16")
