import math

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch
from conftest import binary_data

from aevb.inference.training.prior import log_standard_normal_prior
from aevb.models import BernoulliVAE, GaussianVAE, likelihoods
from aevb.models.likelihoods import BernoulliImage


def test_bernoulli_image_equals_the_library_log_density_summed():
    logits = torch.randn(64, 784) * torch.logspace(-2, 2, 784)
    x = torch.bernoulli(torch.full((64, 784), 0.4))
    library = dist.Bernoulli(logits=logits.double()).to_event(1).log_prob(x.double())
    torch.testing.assert_close(BernoulliImage(logits).log_prob(x).double(), library, atol=1e-3, rtol=1e-6)
    # Appendix C.1 written out: x log y + (1 - x) log (1 - y) with y = sigmoid(logits), in float64.
    l64, x64 = logits.double()[:, :400], x.double()[:, :400]  # |ℓ| < 6: log1p(-y) accurate to 1e-9
    y = torch.sigmoid(l64)
    manual = (x64 * torch.log(y) + (1 - x64) * torch.log1p(-y)).sum(-1)
    torch.testing.assert_close(BernoulliImage(l64).log_prob(x64), manual)


@pytest.mark.parametrize("grad", [False, True])
def test_bernoulli_image_blocks_and_broadcasts_as_the_per_pixel_density(monkeypatch, grad):
    # evaluation's shapes: logits (samples, batch, D) against x (batch, D), summed in blocks without a
    # gradient (three of them here, the last one short) and in one pass with one
    monkeypatch.setattr(likelihoods, "BLOCK_ELEMENTS", 2 * 5 * 784)
    logits = (torch.randn(5, 5, 784) * 4).requires_grad_(grad)
    x = torch.bernoulli(torch.full((5, 784), 0.3))
    per_pixel = dist.Bernoulli(logits=logits.detach().double()).log_prob(x.double()).sum(-1)
    with torch.set_grad_enabled(grad):
        fast = BernoulliImage(logits).log_prob(x)
    assert fast.shape == (5, 5)
    torch.testing.assert_close(fast.detach().double(), per_pixel, atol=1e-3, rtol=1e-6)
    expanded = BernoulliImage(logits[0].detach()).expand((5, 5))
    assert type(expanded) is BernoulliImage and expanded.batch_shape == (5, 5)


def test_bernoulli_image_gradient_equals_the_librarys():
    logits = torch.randn(7, 784, requires_grad=True)
    x = torch.bernoulli(torch.full((7, 784), 0.3))
    (ours,) = torch.autograd.grad(BernoulliImage(logits).log_prob(x).sum(), logits)
    (library,) = torch.autograd.grad(dist.Bernoulli(logits=logits).to_event(1).log_prob(x).sum(), logits)
    torch.testing.assert_close(ours, library)


def test_bernoulli_image_validates_when_asked():
    with pytest.raises(ValueError):
        BernoulliImage(logits=torch.zeros(3), validate_args=True).log_prob(torch.tensor([0.0, 0.5, 1.0]))


def test_model_sites_shapes_and_plate_scale():
    model = BernoulliVAE(data_dim=6, latent_dim=3, hidden_dim=5)
    x = binary_data(4, 6)
    trace = poutine.trace(model).get_trace(x, num_data=100)
    assert trace.nodes["z"]["value"].shape == (4, 3)
    assert trace.nodes["x"]["is_observed"] and torch.equal(trace.nodes["x"]["value"], x)
    # The "data" plate carries N = 100 while the minibatch has M = 4: every site is scaled by N/M (eq. 8).
    assert trace.nodes["z"]["scale"] == pytest.approx(25.0) and trace.nodes["x"]["scale"] == pytest.approx(25.0)
    assert {"decoder$$$body.hidden.0.weight", "decoder$$$out.bias"} <= set(pyro.get_param_store().keys())


def test_model_rejects_bad_shapes_and_sizes():
    model = BernoulliVAE(data_dim=6, latent_dim=3, hidden_dim=5)
    with pytest.raises(ValueError, match=r"shape \(batch, 6\)"):
        model(torch.zeros(4, 7), num_data=10)
    with pytest.raises(ValueError, match="num_data"):
        model(torch.zeros(4, 6), num_data=3)
    with pytest.raises(ValueError, match="positive integer"):
        BernoulliVAE(data_dim=6, latent_dim=0)
    with pytest.raises(ValueError, match="needs binary x"):
        model(torch.full((4, 6), 0.5), num_data=10)
    with pyro.validation_enabled(False):  # the training loop's hot path: the data layer checked
        model(torch.full((4, 6), 0.5), num_data=10)


def test_gaussian_decoder_log_density_and_sigmoid_mean():
    model = GaussianVAE(data_dim=5, latent_dim=2, hidden_dim=4, sigmoid_mean=True)
    z = torch.randn(3, 2) * 10
    x = torch.rand(3, 5)
    like = model.likelihood(z)
    loc, logvar = model.decoder(z).split(5, -1)
    mean = torch.sigmoid(loc)
    manual = (-0.5 * math.log(2 * math.pi) - 0.5 * logvar - 0.5 * (x - mean) ** 2 / logvar.exp()).sum(-1)
    torch.testing.assert_close(like.log_prob(x), manual)
    assert ((like.mean > 0) & (like.mean < 1)).all()
    assert not torch.equal(GaussianVAE(5, 2, 4, sigmoid_mean=False).likelihood(z).mean.sigmoid(), like.mean)


def test_paper_initialisation_has_std_001():
    model = BernoulliVAE(data_dim=784, latent_dim=20, hidden_dim=500, init="paper")
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    assert abs(flat.std().item() - 0.01) < 2e-4 and abs(flat.mean().item()) < 1e-4
    with pytest.raises(ValueError, match="init"):
        BernoulliVAE(init="xavier")


def test_standard_normal_prior_log_density():
    params = [torch.randn(3, 4), torch.randn(5)]
    expected = sum(dist.Normal(0.0, 1.0).log_prob(p).sum() for p in params)
    torch.testing.assert_close(log_standard_normal_prior(params), expected)


def test_the_running_module_owns_its_param_store_names():
    """Two models built in one process: the store always holds the tensors of the one that ran."""
    first, second = BernoulliVAE(6, 2, 5), BernoulliVAE(6, 2, 5)
    x = binary_data(3, 6)
    for model in (first, second, first):
        model(x, num_data=3)
        store = pyro.get_param_store()
        assert store["decoder$$$body.hidden.0.weight"] is model.decoder.body.hidden[0].weight
        assert store["decoder$$$out.bias"] is model.decoder.out.bias


def test_glorot_initialisation_is_uniform_within_its_bound_with_zero_biases():
    """--init glorot (Burda et al.'s): every weight from U(±√(6 / (fan_in + fan_out))), biases zero;
    the spread is the uniform's bound/√3 (within 5% for layers of ≥ 10,000 weights)."""
    from torch import nn

    from aevb.models.networks import make_mlp

    torch.manual_seed(0)
    layers = [m for m in make_mlp(784, [200, 100], 50, "glorot").modules() if isinstance(m, nn.Linear)]
    assert [tuple(layer.weight.shape) for layer in layers] == [(200, 784), (100, 200), (50, 100)]
    for layer in layers:
        fan_out, fan_in = layer.weight.shape
        bound = (6 / (fan_in + fan_out)) ** 0.5
        assert layer.weight.abs().max() <= bound and torch.count_nonzero(layer.bias) == 0
        assert abs(layer.weight.std().item() / (bound / 3**0.5) - 1) < 0.05
