"""Structured output prediction (Sohn, Lee & Yan 2015; the paper's §6 (iv)): given one quadrant of an
MNIST digit, model the other three.

A row is the whole image; :data:`GIVEN` marks the quadrant a model conditions on (the bottom left,
as Pyro's ``examples/cvae`` with one input quadrant), and its observed site ``"x"`` is the other
three quadrants' 588 pixels. So log p(x) of every estimator is log p(x_missing | x_given) here, the
conditional log-likelihood these models are compared by.

* :class:`ConditionalVAE`: z | x_given ~ N(μ(x_given), σ²(x_given)), a learned **prior network**;
  x_missing | z, x_given ~ Bernoulli(MLP([z, x_given])), the generation network. A guide of
  ``guides/`` reads the whole row: q(z | x_given, x_missing), the recognition network.
* :class:`QuadrantBaseline`: the deterministic network x_missing | x_given ~ Bernoulli(MLP(x_given)),
  with no latent site (fitted by AEVB with :class:`aevb.guides.exact.NoLatentsGuide`: its ELBO is
  its exact log-likelihood).

Both declare ``structured_output``: they condition on part of each row, so data dreamed from them are
not rows (no wake-sleep).
"""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from .contract import LocalSite, data_plate, mlp_body

SIDE = 28


def quadrant_mask(side: int = SIDE) -> torch.Tensor:
    """(side·side,) booleans, true on the bottom-left quadrant: the part of the image that is given."""
    mask = torch.zeros(side, side, dtype=torch.bool)
    mask[side // 2 :, : side // 2] = True
    return mask.flatten()


#: The given quadrant of a 28×28 image (the bottom left).
GIVEN = quadrant_mask()


def relu_mlp(in_dim: int, hidden_dims, out_dim: int) -> nn.Sequential:
    """ReLU layers ``hidden_dims`` and a linear output (Sohn et al.'s and Pyro's CVAE networks)."""
    sizes, layers = (in_dim, *hidden_dims), []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], out_dim))


class _Quadrants(nn.Module):
    """What both models share: the split of a row into its given and missing pixels."""

    structured_output = True

    def __init__(self, given: torch.Tensor):
        super().__init__()
        self.register_buffer("given", given.clone(), persistent=False)
        self.data_dim = len(given)

    def split(self, rows: torch.Tensor) -> tuple:
        """(x_given, x_missing) of rows (..., data_dim)."""
        return rows[..., self.given], rows[..., ~self.given]

    def complete(self, rows: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
        """``rows`` with their missing pixels replaced by ``missing`` (any leading sample dimensions)."""
        out = rows.expand(*missing.shape[:-1], rows.shape[-1]).clone()
        out[..., ~self.given] = missing
        return out


class ConditionalVAE(_Quadrants):
    """p(z | x_given) a prior network, p(x_missing | z, x_given) a generation network (ReLU MLPs of
    ``hidden_dims``; Pyro's example: z of 200, layers of 500 and 500). Its guides' recognition network
    (``local_sites``) is a tanh MLP of the same widths over the whole row."""

    analytic_prior = True  # p(z | x_given) has no latent parents: estimator B applies

    def __init__(self, latent_dim: int = 200, hidden_dims=(500, 500), given: torch.Tensor = GIVEN):
        super().__init__(given)
        self.latent_dim = latent_dim
        n_given = int(given.sum())
        self.prior_net = relu_mlp(n_given, hidden_dims, 2 * latent_dim)
        self.generation_net = relu_mlp(latent_dim + n_given, hidden_dims, self.data_dim - n_given)
        self.local_sites = (LocalSite("z", latent_dim, ("x",), mlp_body(hidden_dims)),)

    def prior(self, x_given: torch.Tensor) -> dist.Normal:
        loc, log_scale = self.prior_net(x_given).chunk(2, dim=-1)
        return dist.Normal(loc, log_scale.clamp(-10, 5).exp())

    def generate(self, z: torch.Tensor, x_given: torch.Tensor) -> torch.Tensor:
        """The logits of p(x_missing | z, x_given), z with any leading sample dimensions."""
        return self.generation_net(torch.cat([z, x_given.expand(*z.shape[:-1], x_given.shape[-1])], dim=-1))

    def forward(self, rows: torch.Tensor, *, num_data=None, index=None):
        pyro.module("cvae", self)
        x_given, x_missing = self.split(rows)
        with data_plate(rows, num_data, index):
            z = pyro.sample("z", self.prior(x_given).to_event(1))
            logits = self.generate(z, x_given)
            pyro.sample("x", dist.Bernoulli(logits=logits, validate_args=False).to_event(1), obs=x_missing)

    @torch.no_grad()
    def sample_completions(self, rows: torch.Tensor, num: int) -> torch.Tensor:
        """``num`` completions of every row, z from the prior network: (num, B, data_dim), the missing
        pixels as probabilities."""
        x_given, _ = self.split(rows)
        z = self.prior(x_given).sample((num,))
        return self.complete(rows, torch.sigmoid(self.generate(z, x_given)))


class QuadrantBaseline(_Quadrants):
    """The deterministic baseline: x_missing | x_given ~ Bernoulli(MLP(x_given)) (ReLU layers of
    ``hidden_dims``; Pyro's example: 500 and 500). No latent site."""

    def __init__(self, hidden_dims=(500, 500), given: torch.Tensor = GIVEN):
        super().__init__(given)
        n_given = int(given.sum())
        self.net = relu_mlp(n_given, hidden_dims, self.data_dim - n_given)
        self.local_sites = ()

    def forward(self, rows: torch.Tensor, *, num_data=None, index=None):
        pyro.module("quadrant_baseline", self)
        x_given, x_missing = self.split(rows)
        with data_plate(rows, num_data, index):
            logits = self.net(x_given)
            pyro.sample("x", dist.Bernoulli(logits=logits, validate_args=False).to_event(1), obs=x_missing)

    @torch.no_grad()
    def completions(self, rows: torch.Tensor) -> torch.Tensor:
        """Every row with its missing pixels' probabilities."""
        x_given, _ = self.split(rows)
        return self.complete(rows, torch.sigmoid(self.net(x_given)))
