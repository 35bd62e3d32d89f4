"""The benchmark's plain-PyTorch reference computes the same objective as our estimator B."""

import torch
from conftest import ROOT, binary_data, load_script

from aevb.inference import AEVB

reference_vae = load_script(ROOT / "benchmarks" / "reference_vae.py")
ReferenceVAE, to_pyro = reference_vae.ReferenceVAE, reference_vae.to_pyro


def test_reference_loss_equals_estimator_b_with_shared_weights_and_noise():
    ref = ReferenceVAE(data_dim=12, hidden_dim=7, latent_dim=3)
    model, guide = to_pyro(ref)
    x = binary_data(9, 12)
    # The same seed gives both the same ε: randn_like in the reference, Normal.rsample in Pyro.
    torch.manual_seed(11)
    expected = ref(x)
    torch.manual_seed(11)
    ours = AEVB(model, guide, estimator="B").loss(x, num_data=9) / 9
    torch.testing.assert_close(ours, expected)
    torch.manual_seed(12)
    assert not torch.allclose(AEVB(model, guide, estimator="B").loss(x, num_data=9) / 9, expected)  # ε matters
