"""Guides that follow time: q(z_{1:T} | x_{1:T}) for sequence models (the deep Markov model, the
state-space oracle), after Krishnan, Shalit & Sontag (2017).

A backward RNN reads each sequence from its last step to its first, so its state h_t summarises
x_{t:T} (their "R" inference networks); each row is reversed within its own length, so padding
never reaches a sequence's states. Then, step by step,

* ``structured`` (their ST-R, Pyro's ``examples/dmm.py`` guide): q(z_t | z_{t−1}, x_{t:T}) through
  the combiner h = ½ (tanh(W z_{t−1}) + h_t), loc and softplus scale from h;
* ``steps`` (mean field over the steps, their MF-R): q(z_t | x_{t:T}) from h_t alone;
* ``structured-iaf``: the structured guide with each step's Gaussian draw pushed through
  ``--flow-steps`` inverse autoregressive flows (Kingma et al. 2016), as Pyro's DMM example does.

All declare ``needs_sequence_model`` (they read the model's ``sequence``), are amortised and evaluate
log q anywhere (the IAF by its inverse); none has a closed-form KL to the model's Markov prior.
"""

import pyro
import torch
from pyro.distributions.transforms import affine_autoregressive
from torch import nn

from aevb.models.contract import data_plate
from aevb.models.markov import MarkovGaussian
from aevb.models.networks import register_module

#: The RNN's size and the IAF's hidden size (Krishnan et al.'s and Pyro's example's: 600 and 100).
RNN_DIM, IAF_DIM = 600, 100


def reverse_within(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's first ``lengths`` steps in reverse order, its padding left in place (an involution)."""
    steps = values.shape[-2]
    t = torch.arange(steps, device=values.device)
    index = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return values.gather(-2, index[..., None].expand(values.shape))


class SequenceGuide(nn.Module):
    """The structured guide q(z_t | z_{t−1}, x_{t:T}) (the module's docstring); ``follows_previous``
    False gives mean field over the steps; ``flow_steps`` IAFs per step."""

    amortised = True
    analytic_kl = False
    density_anywhere = True
    per_point_state = False
    needs_sequence_model = True
    # its local parameters come step by step from the draws before them: no per-point refinement
    refinable = False

    @classmethod
    def for_spec(cls, spec) -> type:
        return cls

    @classmethod
    def from_model(cls, model, spec):
        return cls(model, flow_steps=0)

    def __init__(
        self,
        model,
        *,
        follows_previous: bool = True,
        flow_steps: int = 0,
        rnn_dim: int = RNN_DIM,
        iaf_dim: int = IAF_DIM,
    ):
        super().__init__()
        sequence = getattr(model, "sequence", None)
        if sequence is None:
            raise ValueError(f"{type(self).__name__} follows time steps; {type(model).__name__} offers no sequence")
        self.sequence, self.follows_previous = sequence, follows_previous
        self.data_dim = model.data_dim
        size = sequence.latent_dim
        self.rnn = nn.RNN(sequence.width, rnn_dim, nonlinearity="relu", batch_first=True)
        self.h_0 = nn.Parameter(torch.zeros(1, 1, rnn_dim))
        if follows_previous:  # z_0 of q(z_1 | z_0, x_{1:T}), learned; mean field never reads it
            self.initial = nn.Parameter(torch.zeros(size))
        else:
            self.register_buffer("initial", torch.zeros(size))
        self.from_previous = nn.Linear(size, rnn_dim) if follows_previous else None
        self.loc = nn.Linear(rnn_dim, size)
        self.scale = nn.Linear(rnn_dim, size)
        self.flows = nn.ModuleList(affine_autoregressive(size, hidden_dims=[iaf_dim]) for _ in range(flow_steps))
        # KL annealing reads the model's weight (aevb.models.dmm); the oracle has none
        self.kl = getattr(model, "kl", None)

    def sparse_parameters(self):
        return ()

    def states(self, values: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """h_t, a summary of x_{t:T}, for every step of every row (batch, steps, rnn_dim)."""
        lengths = present.sum(-1)
        backward = reverse_within(values, lengths)
        h_0 = self.h_0.expand(1, len(values), self.rnn.hidden_size).contiguous()
        output, _ = self.rnn(backward, h_0)
        return reverse_within(output, lengths)

    def combine(self, z_prev: torch.Tensor, h: torch.Tensor) -> tuple:
        hidden = 0.5 * (torch.tanh(self.from_previous(z_prev)) + h) if self.follows_previous else h
        return self.loc(hidden), nn.functional.softplus(self.scale(hidden))

    def forward(self, x: torch.Tensor, *, num_data=None, index=None):
        register_module("sequence_guide", self)
        values, present = self.sequence.steps_of(x)  # cut as the model cuts
        q = MarkovGaussian(self.combine, self.initial, present, self.states(values, present), self.flows)
        with data_plate(x, num_data, index):
            with pyro.poutine.scale(scale=self.kl.weight if self.kl is not None else 1.0):
                return pyro.sample("z", q)


class StepsGuide(SequenceGuide):
    """Mean field over the steps: q(z_t | x_{t:T})."""

    @classmethod
    def from_model(cls, model, spec):
        return cls(model, follows_previous=False)


class StructuredIAFGuide(SequenceGuide):
    """The structured guide with ``--flow-steps`` IAFs on each step's draw."""

    @classmethod
    def from_model(cls, model, spec):
        return cls(model, flow_steps=spec.flow_steps)
