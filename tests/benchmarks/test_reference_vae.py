"""The benchmark's plain-PyTorch reference computes the same objective as our estimator B."""

import sys

import pyro.poutine as poutine
import torch

from conftest import ROOT, binary_data

sys.path.insert(0, str(ROOT / "benchmarks"))
from reference_vae import ReferenceVAE  # noqa: E402

from guides import DiagonalGaussianGuide  # noqa: E402
from inference import AEVB  # noqa: E402
from models import BernoulliVAE  # noqa: E402


def test_reference_loss_equals_estimator_b_with_shared_weights_and_noise():
    ref = ReferenceVAE(data_dim=12, hidden_dim=7, latent_dim=3)
    model, guide = BernoulliVAE(12, 3, 7), DiagonalGaussianGuide(12, 3, 7)
    guide.encoder.hidden.load_state_dict(ref.enc_hidden.state_dict())
    guide.encoder.out.load_state_dict(ref.enc_out.state_dict())
    model.decoder.hidden.load_state_dict(ref.dec_hidden.state_dict())
    model.decoder.out.load_state_dict(ref.dec_out.state_dict())
    x = binary_data(9, 12)
    eps = torch.randn(9, 3)
    q = guide.posterior(x)
    z = q.base_dist.loc + q.base_dist.scale * eps
    # Estimator B with z fixed to the same reparameterised draw the reference makes from eps.
    ours = AEVB(poutine.condition(model, data={"z": z}), poutine.condition(guide, data={"z": z}), estimator="B")
    torch.testing.assert_close(ours.loss(x, num_data=9) / 9, ref(x, eps=eps))
