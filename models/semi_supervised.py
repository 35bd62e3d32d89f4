"""M2, the semi-supervised generative model of Kingma, Rezende, Mohamed & Welling (2014, §3.1.2):
y ~ Cat(1/C), z ~ N(0, I), x | y, z ~ Bernoulli(decoder(y, z)).

Its rows carry their labels (:mod:`aevb.data.labelled`: ``[x | one-hot label or zeros]``); the model
reads only ``x``. The class ``y`` is a latent site of every row, marked for parallel enumeration,
so log p(x) = log Σ_y p(x, y) is what every estimator reports; a label enters through the guide
(:class:`aevb.guides.semi_supervised.M2Guide`: q(y | x) is the label itself where there is one, so
a labelled row's ELBO is their L(x, y) and an unlabelled one's their U(x)). The model declares
``discrete_latents``: only the algorithms and estimators that sum y out take it.
"""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from aevb.data.labelled import split_rows

from .contract import LocalSite, data_plate


def joined(*parts: torch.Tensor) -> torch.Tensor:
    """The concatenation of ``parts`` along their last dimension, their leading dimensions broadcast
    (a class enumerated along its own dimension against a batch of points)."""
    shape = torch.broadcast_shapes(*(p.shape[:-1] for p in parts))
    return torch.cat([p.expand(*shape, p.shape[-1]) for p in parts], dim=-1)


def softplus_mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """One hidden layer of ``hidden`` softplus units (Kingma et al. 2014's M2 networks)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.Softplus(), nn.Linear(hidden, out_dim))


class M2(nn.Module):
    """p(y) = Cat(1/classes), p(z) = N(0, I_latent), p(x | y, z) = Bernoulli(MLP([z, one-hot y])).

    :param data_dim: the size of x (784 for MNIST); rows are ``data_dim + classes`` wide.
    :param classes: the number of classes (10).
    :param latent_dim: z's size (their 50).
    :param hidden: the softplus layer's width (their 500).
    """

    discrete_latents = True

    def __init__(self, data_dim: int = 784, classes: int = 10, latent_dim: int = 50, hidden: int = 500):
        super().__init__()
        self.pixels, self.classes, self.latent_dim = data_dim, classes, latent_dim
        self.data_dim = data_dim + classes  # a row: x and its label's code
        self.decoder = softplus_mlp(latent_dim + classes, hidden, data_dim)
        # what a guide family of guides/ builds an encoder from: q(z | row), y left to the model
        self.local_sites = (LocalSite("z", latent_dim),)

    def forward(self, rows: torch.Tensor, *, num_data=None, index=None):
        pyro.module("m2", self)
        x, _, _ = split_rows(rows, self.classes)
        with data_plate(rows, num_data, index):
            prior = dist.Categorical(logits=rows.new_zeros(self.classes))
            y = pyro.sample("y", prior, infer={"enumerate": "parallel"})
            z = pyro.sample("z", dist.Normal(rows.new_zeros(self.latent_dim), 1.0).to_event(1))
            one_hot = nn.functional.one_hot(y, self.classes).to(rows.dtype)
            logits = self.decoder(joined(z, one_hot))
            pyro.sample("x", dist.Bernoulli(logits=logits, validate_args=False).to_event(1), obs=x)
