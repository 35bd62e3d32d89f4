"""The deep Markov model as Pyro's ``examples/dmm.py`` writes it: the peer our DMM is measured against.

Written the way that example is (our code, not a copy): one ``nn.Module`` holding the emitter, the
gated transition, the combiner and a backward RNN; a model and a guide with a site per time step
(``z_1 .. z_T``, ``obs_x_1 .. obs_x_T``) under ``pyro.markov``, ragged sequences masked with
``.mask``, KL annealing with ``poutine.scale``, and training by :class:`pyro.infer.SVI` with
``Trace_ELBO`` and :class:`pyro.optim.ClippedAdam`. Its layers are laid out as ours
(:mod:`aevb.models.dmm`, :mod:`aevb.guides.markov`), so :func:`to_collection` copies its weights into
our model and guide and both are scored by one evaluation module.
"""

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from torch import nn


class Emitter(nn.Module):
    def __init__(self, input_dim, z_dim, emission_dim):
        super().__init__()
        self.lin_z_to_hidden = nn.Linear(z_dim, emission_dim)
        self.lin_hidden_to_hidden = nn.Linear(emission_dim, emission_dim)
        self.lin_hidden_to_input = nn.Linear(emission_dim, input_dim)

    def forward(self, z_t):
        h = torch.relu(self.lin_hidden_to_hidden(torch.relu(self.lin_z_to_hidden(z_t))))
        return torch.sigmoid(self.lin_hidden_to_input(h))


class GatedTransition(nn.Module):
    def __init__(self, z_dim, transition_dim):
        super().__init__()
        self.lin_gate_z_to_hidden = nn.Linear(z_dim, transition_dim)
        self.lin_gate_hidden_to_z = nn.Linear(transition_dim, z_dim)
        self.lin_proposed_mean_z_to_hidden = nn.Linear(z_dim, transition_dim)
        self.lin_proposed_mean_hidden_to_z = nn.Linear(transition_dim, z_dim)
        self.lin_sig = nn.Linear(z_dim, z_dim)
        self.lin_z_to_loc = nn.Linear(z_dim, z_dim)
        with torch.no_grad():
            self.lin_z_to_loc.weight.copy_(torch.eye(z_dim))
            self.lin_z_to_loc.bias.zero_()

    def forward(self, z_t_1):
        gate = torch.sigmoid(self.lin_gate_hidden_to_z(torch.relu(self.lin_gate_z_to_hidden(z_t_1))))
        proposed_mean = self.lin_proposed_mean_hidden_to_z(torch.relu(self.lin_proposed_mean_z_to_hidden(z_t_1)))
        loc = (1 - gate) * self.lin_z_to_loc(z_t_1) + gate * proposed_mean
        scale = nn.functional.softplus(self.lin_sig(torch.relu(proposed_mean)))
        return loc, scale


class Combiner(nn.Module):
    def __init__(self, z_dim, rnn_dim):
        super().__init__()
        self.lin_z_to_hidden = nn.Linear(z_dim, rnn_dim)
        self.lin_hidden_to_loc = nn.Linear(rnn_dim, z_dim)
        self.lin_hidden_to_scale = nn.Linear(rnn_dim, z_dim)

    def forward(self, z_t_1, h_rnn):
        h_combined = 0.5 * (torch.tanh(self.lin_z_to_hidden(z_t_1)) + h_rnn)
        return self.lin_hidden_to_loc(h_combined), nn.functional.softplus(self.lin_hidden_to_scale(h_combined))


def reverse_sequences(batch, lengths):
    reversed_batch = torch.zeros_like(batch)
    for b, length in enumerate(lengths.tolist()):
        reversed_batch[b, :length] = batch[b, :length].flip(0)
    return reversed_batch


def mini_batch(rolls, lengths):
    """(batch, reversed batch, mask, lengths) trimmed to the batch's longest sequence, as Pyro's
    polyphonic data loader prepares a minibatch."""
    t_max = int(lengths.max())
    batch = rolls[:, :t_max].float()
    mask = (torch.arange(t_max)[None, :] < lengths[:, None]).float()
    return batch, reverse_sequences(batch, lengths), mask, lengths


class PyroDMM(nn.Module):
    def __init__(self, input_dim=88, z_dim=100, emission_dim=100, transition_dim=200, rnn_dim=600):
        super().__init__()
        self.emitter = Emitter(input_dim, z_dim, emission_dim)
        self.trans = GatedTransition(z_dim, transition_dim)
        self.combiner = Combiner(z_dim, rnn_dim)
        self.rnn = nn.RNN(input_size=input_dim, hidden_size=rnn_dim, nonlinearity="relu", batch_first=True)
        self.z_0 = nn.Parameter(torch.zeros(z_dim))
        self.z_q_0 = nn.Parameter(torch.zeros(z_dim))
        self.h_0 = nn.Parameter(torch.zeros(1, 1, rnn_dim))

    def model(self, batch, reversed_batch, mask, lengths, annealing_factor=1.0):
        pyro.module("dmm", self)
        z_prev = self.z_0.expand(batch.size(0), self.z_0.size(0))
        with pyro.plate("z_minibatch", len(batch)):
            for t in pyro.markov(range(1, batch.size(1) + 1)):
                z_loc, z_scale = self.trans(z_prev)
                with poutine.scale(scale=annealing_factor):
                    z_t = pyro.sample(f"z_{t}", dist.Normal(z_loc, z_scale).mask(mask[:, t - 1 : t]).to_event(1))
                probs = self.emitter(z_t)
                pyro.sample(
                    f"obs_x_{t}", dist.Bernoulli(probs).mask(mask[:, t - 1 : t]).to_event(1), obs=batch[:, t - 1, :]
                )
                z_prev = z_t

    def guide(self, batch, reversed_batch, mask, lengths, annealing_factor=1.0):
        pyro.module("dmm", self)
        h_0 = self.h_0.expand(1, batch.size(0), self.rnn.hidden_size).contiguous()
        rnn_output, _ = self.rnn(reversed_batch, h_0)
        rnn_output = reverse_sequences(rnn_output, lengths)
        z_prev = self.z_q_0.expand(batch.size(0), self.z_q_0.size(0))
        with pyro.plate("z_minibatch", len(batch)):
            for t in pyro.markov(range(1, batch.size(1) + 1)):
                z_loc, z_scale = self.combiner(z_prev, rnn_output[:, t - 1, :])
                with poutine.scale(scale=annealing_factor):
                    z_t = pyro.sample(f"z_{t}", dist.Normal(z_loc, z_scale).mask(mask[:, t - 1 : t]).to_event(1))
                z_prev = z_t


def to_collection(peer: PyroDMM, steps: int):
    """Our DMM and structured guide holding the peer's weights (the same layers, laid out as ours)."""
    from aevb.guides import SequenceGuide
    from aevb.models import DMM

    z_dim, width = peer.z_0.numel(), peer.emitter.lin_hidden_to_input.out_features
    model = DMM(
        steps, width, z_dim, peer.trans.lin_gate_z_to_hidden.out_features, peer.emitter.lin_z_to_hidden.out_features
    )
    guide = SequenceGuide(model, rnn_dim=peer.rnn.hidden_size)
    pairs = [
        (model.transition.gate[0], peer.trans.lin_gate_z_to_hidden),
        (model.transition.gate[2], peer.trans.lin_gate_hidden_to_z),
        (model.transition.proposal[0], peer.trans.lin_proposed_mean_z_to_hidden),
        (model.transition.proposal[2], peer.trans.lin_proposed_mean_hidden_to_z),
        (model.transition.linear, peer.trans.lin_z_to_loc),
        (model.transition.scale, peer.trans.lin_sig),
        (model.emitter[0], peer.emitter.lin_z_to_hidden),
        (model.emitter[2], peer.emitter.lin_hidden_to_hidden),
        (model.emitter[4], peer.emitter.lin_hidden_to_input),  # Bernoulli(sigmoid(a)) = Bernoulli(logits=a)
        (guide.from_previous, peer.combiner.lin_z_to_hidden),
        (guide.loc, peer.combiner.lin_hidden_to_loc),
        (guide.scale, peer.combiner.lin_hidden_to_scale),
        (guide.rnn, peer.rnn),
    ]
    for ours, theirs in pairs:
        ours.load_state_dict(theirs.state_dict())
    with torch.no_grad():
        model.initial.copy_(peer.z_0)
        guide.initial.copy_(peer.z_q_0)
        guide.h_0.copy_(peer.h_0)
    return model.to(peer.z_0.device), guide.to(peer.z_0.device)
