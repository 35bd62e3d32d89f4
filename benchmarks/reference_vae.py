"""A plain-PyTorch VAE of the paper's architecture: the reference our Pyro path is timed against.

Written as PyTorch users write it (cf. pytorch/examples' vae/main.py): one nn.Module,
``F.binary_cross_entropy_with_logits`` for the reconstruction term, the analytic KL of
Appendix B, and ``torch.optim.Adam`` with its defaults. Its loss is the same quantity as
our estimator B with ``num_data = batch size`` divided by the batch size (tests/benchmarks
check this to float precision with shared weights and ε).
"""

import torch
import torch.nn.functional as F
from torch import nn


class ReferenceVAE(nn.Module):
    def __init__(self, data_dim=784, hidden_dim=500, latent_dim=20):
        super().__init__()
        self.enc_hidden = nn.Linear(data_dim, hidden_dim)
        self.enc_out = nn.Linear(hidden_dim, 2 * latent_dim)
        self.dec_hidden = nn.Linear(latent_dim, hidden_dim)
        self.dec_out = nn.Linear(hidden_dim, data_dim)

    def forward(self, x, eps=None):
        """Minus the ELBO per datapoint (estimator B, L = 1), averaged over the batch."""
        mu, logvar = self.enc_out(torch.tanh(self.enc_hidden(x))).chunk(2, dim=-1)
        std = torch.exp(0.5 * logvar)
        z = mu + std * (torch.randn_like(std) if eps is None else eps)
        logits = self.dec_out(torch.tanh(self.dec_hidden(z)))
        reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (reconstruction + kl) / x.shape[0]


def to_pyro(ref: ReferenceVAE):
    """Our model and guide holding the reference's weights (the same architecture, laid out
    as Pyro modules), so that both are scored by one evaluation module."""
    from aevb.guides import DiagonalGaussianGuide
    from aevb.models import BernoulliVAE

    data_dim, hidden_dim = ref.enc_hidden.in_features, ref.enc_hidden.out_features
    latent_dim = ref.dec_hidden.in_features
    model = BernoulliVAE(data_dim, latent_dim, hidden_dim).to(ref.enc_hidden.weight.device)
    guide = DiagonalGaussianGuide(data_dim, latent_dim, hidden_dim).to(ref.enc_hidden.weight.device)
    encoder = guide.encoders[guide.only_site()]
    encoder.body.hidden[0].load_state_dict(ref.enc_hidden.state_dict())
    encoder.head.load_state_dict(ref.enc_out.state_dict())
    model.decoder.body.hidden[0].load_state_dict(ref.dec_hidden.state_dict())
    model.decoder.out.load_state_dict(ref.dec_out.state_dict())
    return model, guide
