import pyro
import pytest
import torch

from conftest import binary_data, tiny_model_and_guide
from aevb.inference import AEVB


@pytest.mark.parametrize("estimator", ["A", "B"])
def test_compiled_loss_equals_eager_loss_and_compiles_once(estimator):
    model, guide = tiny_model_and_guide(data_dim=6, latent_dim=2, hidden_dim=8)
    eager, jit = AEVB(model, guide, estimator=estimator), AEVB(model, guide, estimator=estimator, jit=True)
    x = binary_data(10, 6)
    # From the very first call, compilation included, the compiled loss draws what eager draws.
    for batch in (x, x, x[:7], x):  # a smaller (last) minibatch has its own trace
        pyro.set_rng_seed(3)
        a = eager.loss(batch, num_data=50)
        pyro.set_rng_seed(3)
        b = jit.loss(batch, num_data=50)
        torch.testing.assert_close(a, b)
    assert sorted(s[0] for s in jit.loss_fn.compiled) == [7, 10]
    for elbo in jit.loss_fn.compiled.values():
        # one compiled function per ELBO, with one entry: Pyro 1.9.2's JitTraceMeanField_ELBO re-traced every call
        attribute = "_differentiable_loss" if estimator == "B" else "_loss_and_surrogate_loss"
        assert len(getattr(elbo.elbo, attribute).compiled) == 1


def test_compiled_gradients_equal_eager_gradients():
    model, guide = tiny_model_and_guide(data_dim=6, latent_dim=2, hidden_dim=8)
    x = binary_data(10, 6)
    grads = []
    for algorithm in (AEVB(model, guide), AEVB(model, guide, jit=True)):
        for p in algorithm.parameters():
            p.grad = None
        pyro.set_rng_seed(5)
        algorithm.loss(x, num_data=20).backward()
        grads.append([p.grad.clone() for p in algorithm.parameters()])
    for a, b in zip(grads[0], grads[1]):
        torch.testing.assert_close(a, b)
