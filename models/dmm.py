"""The deep Markov model (Krishnan, Shalit & Sontag 2017): a latent per time step, ``--model dmm``.

z_t | z_{t−1} ~ N(μ(z_{t−1}), σ(z_{t−1})) through their gated transition, x_t | z_t ~ Bernoulli
(88 keys) through a two-layer emitter, z_0 a learned vector; sequences of any length up to the
data's as packed rows (:mod:`aevb.data.sequences`), a sequence's latents as one site ``z`` of event
steps × size numbers (:mod:`aevb.models.markov` says why). Krishnan et al.'s sizes (and Pyro's
``examples/dmm.py``'s): z of 100, transition layers of 200, emitter layers of 100.

The guides that read its time structure (a backward RNN over x_{t:T} and a combiner, per-step mean
field, IAF steps) are :mod:`aevb.guides.markov`; the model offers ``sequence`` for them.
"""

import pyro
import pyro.distributions as dist
import torch
from pyro.infer.util import is_validation_enabled
from torch import nn
from torch.distributions import constraints

from aevb.data.sequences import check_packed, join

from .contract import LocalSite, data_plate, mlp_body
from .markov import KLWeight, MarkovGaussian, ObservedSteps, SequenceSpec
from .networks import register_module


class GatedTransition(nn.Module):
    """μ(z) = (1 − g) ⊙ Lz + g ⊙ h(z), σ(z) = softplus(W relu(h(z))), g = sigmoid(gate(z)): Krishnan
    et al.'s gated transition (their §5), L initialised to the identity."""

    def __init__(self, latent_dim: int, hidden_dim: int):
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, latent_dim))
        self.proposal = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, latent_dim))
        self.linear = nn.Linear(latent_dim, latent_dim)
        self.scale = nn.Linear(latent_dim, latent_dim)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(latent_dim))
            self.linear.bias.zero_()

    def forward(self, z_prev, context=None):
        gate = torch.sigmoid(self.gate(z_prev))
        proposed = self.proposal(z_prev)
        loc = (1 - gate) * self.linear(z_prev) + gate * proposed
        return loc, nn.functional.softplus(self.scale(torch.relu(proposed)))


class DMM(nn.Module):
    """p(z_{1:T}) p(x_{1:T} | z_{1:T}) with Bernoulli keys; ``steps`` and ``width`` are the rows'.

    No local site's prior is free of latent parents (z_t's depends on z_{t−1}), so there is no
    closed-form KL (``analytic_prior`` is false): estimator A, IWAE and the estimators that need
    only log-densities apply.
    """

    analytic_prior = False
    sequence_model = True
    recurrent = True
    # a datapoint's latents are as long as its minibatch's longest sequence (in_use)
    latent_shape_varies = True

    def __init__(
        self, steps: int, width: int = 88, latent_dim: int = 100, transition_dim: int = 200, emission_dim: int = 100
    ):
        super().__init__()
        self.sequence = SequenceSpec(steps, width, latent_dim, cuts=True)
        self.data_dim = steps * (width + 1)
        self.transition = GatedTransition(latent_dim, transition_dim)
        self.emitter = nn.Sequential(
            nn.Linear(latent_dim, emission_dim),
            nn.ReLU(),
            nn.Linear(emission_dim, emission_dim),
            nn.ReLU(),
            nn.Linear(emission_dim, width),
        )
        self.initial = nn.Parameter(torch.zeros(latent_dim))
        self.kl = KLWeight()  # KL annealing: the sequence guides share it
        # the families that see a sequence's latents as one vector encode it with one tanh layer
        self.local_sites = (LocalSite("z", steps * latent_dim, ("x",), mlp_body((emission_dim,))),)

    def check_data(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[-1] != self.data_dim:
            raise ValueError(
                f"DMM expects packed sequences of shape (batch, {self.data_dim}) = {self.sequence.steps} steps of "
                f"{self.sequence.width} + 1 (aevb.data.sequences.pack), got {tuple(x.shape)}"
            )
        if is_validation_enabled():  # as check_binary: checked while Pyro's validation is on, not in the hot loop
            check_packed(x, self.sequence.width, "DMM data")

    def prior(self, present: torch.Tensor) -> MarkovGaussian:
        """p(z_{1:T}) for sequences whose steps are ``present``."""
        return MarkovGaussian(self.transition, self.initial, present)

    def likelihood(self, z: torch.Tensor, present: torch.Tensor) -> ObservedSteps:
        """p(x_{1:T} | z_{1:T}) over packed rows."""
        steps = dist.Bernoulli(logits=self.emitter(z.unflatten(-1, (present.shape[-1], -1)))).to_event(1)
        return ObservedSteps(steps, present, constraints.boolean, rows=self.sequence.steps)

    def placeholder(self, num: int) -> torch.Tensor:
        """``num`` rows that trace the model (:func:`aevb.models.contract.placeholder_rows`)."""
        return self.sequence.placeholder(num)

    def forward(self, x: torch.Tensor, *, num_data=None, index=None):
        self.check_data(x)
        register_module("transition", self.transition)
        register_module("emitter", self.emitter)
        _, present = self.sequence.steps_of(x)
        with data_plate(x, num_data, index):
            with pyro.poutine.scale(scale=self.kl.weight):
                z = pyro.sample("z", self.prior(present))
            pyro.sample("x", self.likelihood(z, present), obs=x)
        return z

    def sample(self, lengths: torch.Tensor) -> torch.Tensor:
        """Packed rows drawn from p(x, z) for sequences of ``lengths`` steps (the keys' probabilities,
        not binary draws, for figures: E[x_t | z_t])."""
        present = torch.arange(self.sequence.steps, device=lengths.device) < lengths[:, None]
        z = self.prior(present).sample().unflatten(-1, (self.sequence.steps, -1))
        return join(torch.sigmoid(self.emitter(z)), present)
