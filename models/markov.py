"""Distributions over whole sequences, for models with a latent per time step (the deep Markov model,
the linear-Gaussian state-space oracle) and their guides.

Why one site per sequence instead of Pyro's one site per step (``z_1 ... z_T`` under
``pyro.markov``, as Pyro's ``examples/dmm.py`` writes it): every algorithm and estimator of the
collection works from a trace's sites inside the ``"data"`` plate and their *unmasked*
log-densities (:mod:`aevb.inference.estimators.weights`), and a chain per datapoint needs one
vector of a datapoint's latents (:mod:`aevb.inference.latents`). A sequence's latents as one site
``z`` (a vector of steps × size numbers) keep both true for sequences of any length, and trace in O(1)
sites instead of O(T).

Variable lengths without masks: a row's steps past its sequence's end (padding,
:mod:`aevb.data.sequences`) have latents drawn from N(0, I) under the model *and* the guide, so they
cancel exactly in every importance weight log p(x, z) − log q(z|x) and keep every density proper
(AIS and HMC see a standard normal there, not a flat direction). The observed steps past the end
are not scored (:class:`ObservedSteps`).
"""

from dataclasses import dataclass

import torch
from pyro.distributions import Normal, TorchDistribution
from torch import nn
from torch.distributions import constraints

from aevb.data.sequences import join, pack, unpack


@dataclass(frozen=True)
class SequenceSpec:
    """What a sequence guide reads of its model: the steps of a row, the numbers per step
    (``width``), the latent size per step, and whether the model cuts each minibatch to its longest
    sequence (``cuts``: :func:`aevb.models.markov.in_use`; its guide must cut the same way)."""

    steps: int
    width: int
    latent_dim: int
    cuts: bool = False

    def steps_of(self, x: torch.Tensor) -> tuple:
        """``(values, present)`` of packed rows, cut to the longest sequence where the model cuts."""
        values, present = unpack(x, self.width)
        return in_use(values, present) if self.cuts else (values, present)

    def placeholder(self, num: int) -> torch.Tensor:
        """``num`` rows that trace a sequence model where no data are at hand: sequences of every
        step, their values zero."""
        return pack(torch.zeros(num, self.steps, self.width), torch.full((num,), self.steps))


class KLWeight(nn.Module):
    """The weight of the latent sites' log-densities in training's ELBO (KL annealing, Krishnan et al.
    2017; Pyro's ``examples/dmm.py``): a buffer the model and its guide share, so a compiled step
    reads its current value; 1 (no annealing) unless training sets it. Estimators never read it:
    their log-densities are unscaled (:mod:`aevb.inference.estimators.weights`)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("weight", torch.ones(()))

    def set(self, value: float) -> None:
        if not 0 < value <= 1:
            raise ValueError(f"the KL weight must be in (0, 1], got {value}")
        self.weight.fill_(value)


def _standard_normal(value: torch.Tensor) -> torch.Tensor:
    return Normal(value.new_zeros(()), value.new_ones(())).log_prob(value).sum(-1)


class MarkovGaussian(TorchDistribution):
    """p(z_1..z_T) = Π_t N(z_t; μ_t, σ_t) with (μ_t, σ_t) = ``step(z_{t−1}, c_t)``, z_0 = ``initial``, over a
    sequence's latents as one vector of steps × size numbers (z_1's first: ``value.unflatten(-1,
    (steps, size))`` gives them per step, and every guide family can sample the site); optionally each
    step's Gaussian draw pushed through ``flows`` (inverse autoregressive flows, as in Pyro's DMM
    guide: z_t = f(u_t), u_t ~ N(μ_t, σ_t)).

    :param step: ``step(z_prev, context) -> (loc, scale)`` for any leading shape; ``context`` is the
        step's slice of ``context`` (or None).
    :param initial: z_0, of shape (size,).
    :param present: (*batch, steps) booleans: which steps belong to the sequence (a run of ones
        then zeros); steps past the end are N(0, I) (the module's docstring says why).
    :param context: optional (*batch, steps, C) per-step inputs (a guide's RNN states).
    :param flows: transforms applied to each step's draw (Pyro's ``AffineAutoregressive``).

    Sampling runs step by step; ``log_prob`` of any value is vectorised over the steps (one call of
    ``step`` on all of z_{0..T−1}). A value this distribution drew has its log-density from the draw.
    """

    arg_constraints = {}
    has_rsample = True

    def __init__(self, step, initial, present, context=None, flows=(), validate_args=None):
        self.step, self.initial, self.present, self.context, self.flows = step, initial, present, context, tuple(flows)
        self._drawn = None
        self.steps, self.size = present.shape[-1], initial.shape[-1]
        batch_shape = present.shape[:-1]
        super().__init__(batch_shape, torch.Size((self.steps * self.size,)), validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=1)
    def support(self):
        return constraints.independent(constraints.real, 1)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        present = self.present.expand(batch_shape + self.present.shape[-1:])
        return type(self)(self.step, self.initial, present, self._contexts(batch_shape), self.flows)

    def _contexts(self, lead):
        return None if self.context is None else self.context.expand(lead + self.context.shape[-2:])

    def _flow(self, u):
        z, log_det = u, 0.0
        for flow in self.flows:
            y = flow(z)
            log_det = log_det + flow.log_abs_det_jacobian(z, y)
            z = y
        return z, log_det

    def rsample(self, sample_shape=torch.Size()):
        lead = torch.Size(sample_shape) + self.batch_shape
        steps, size = self.steps, self.size
        context = self._contexts(lead)
        present = self.present.expand(lead + (steps,))
        z_prev = self.initial.expand(lead + (size,))
        values, log_q = [], 0.0
        for t in range(steps):
            loc, scale = self.step(z_prev, None if context is None else context[..., t, :])
            noise = torch.randn(lead + (size,), dtype=loc.dtype, device=loc.device)
            u = loc + scale * noise
            z, log_det = self._flow(u)
            inside = present[..., t]
            z = torch.where(inside[..., None], z, noise)
            step_lp = Normal(loc, scale).log_prob(u).sum(-1) - log_det
            log_q = log_q + torch.where(inside, step_lp, _standard_normal(noise))
            values.append(z)
            z_prev = z
        value = torch.stack(values, dim=-2).flatten(-2)
        self._drawn = (value, log_q)
        return value

    def log_prob(self, value):
        if self._drawn is not None and value is self._drawn[0]:
            return self._drawn[1]
        size = self.size
        value = value.unflatten(-1, (self.steps, size))
        lead = torch.broadcast_shapes(value.shape[:-2], self.batch_shape)
        z_prev = torch.cat([self.initial.expand(value.shape[:-2] + (1, size)), value[..., :-1, :]], dim=-2)
        loc, scale = self.step(z_prev, self._contexts(lead))
        u, log_det = value, 0.0
        for flow in reversed(self.flows):  # u = f⁻¹(z), and log |det ∂f/∂u| at it
            x = flow.inv(u)
            log_det = log_det + flow.log_abs_det_jacobian(x, u)
            u = x
        inside = Normal(loc, scale).log_prob(u).sum(-1) - log_det
        return torch.where(self.present, inside, _standard_normal(value)).sum(-1)


def in_use(values: torch.Tensor, present: torch.Tensor) -> tuple:
    """A minibatch's sequences cut to its longest one: ``values`` (..., steps, width) and ``present``
    (..., steps) up to the last step any row has. No sequence has a step past it, so nothing is
    lost: the padding's latents would cancel in every weight and its observations are not scored.
    Why: a chorale has 55 steps on average and a row 193 (the data's longest); cut, a minibatch of 20
    trains 1.9x faster (docs/results.md, docs/benchmark.md). The step count is read from the
    data, so a step that cuts cannot be traced into one graph for every batch."""
    steps = int(present.sum(-1).max())
    return values[..., :steps, :], present[..., :steps]


class ObservedSteps(TorchDistribution):
    """x as packed rows (:mod:`aevb.data.sequences`) whose steps, where ``present``, follow ``steps``
    (a distribution with batch shape (*batch, T) and event shape (width,)); padding is not scored and
    the presence flags are data, not modelled: log p(x_{1:T} | T).

    :param steps: the per-step distribution, e.g. ``Bernoulli(logits).to_event(1)``.
    :param present: (*batch, T) booleans (the rows' own flags, read by the model from x).
    :param support: the per-value support, for the data check (``constraints.boolean`` for binary keys).
    :param rows: the steps of a packed row (default T); more when the model cut the minibatch to its
        longest sequence (:func:`in_use`): the steps past T are padding, not scored.
    """

    arg_constraints = {}

    def __init__(self, steps, present, support=constraints.real, rows=None, validate_args=None):
        self.steps, self.present, self._support = steps, present, support
        self.width, self.rows = steps.event_shape[-1], rows or present.shape[-1]
        batch_shape = torch.broadcast_shapes(steps.batch_shape[:-1], present.shape[:-1])
        super().__init__(batch_shape, torch.Size((self.rows * (self.width + 1),)), validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=1)
    def support(self):
        return constraints.independent(self._support, 1)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        steps = self.steps.expand(batch_shape + self.present.shape[-1:])
        present = self.present.expand(batch_shape + self.present.shape[-1:])
        return type(self)(steps, present, self._support, self.rows)

    def log_prob(self, value):
        values, _ = unpack(value, self.width)
        return (self.steps.log_prob(values[..., : self.present.shape[-1], :]) * self.present).sum(-1)

    def sample(self, sample_shape=torch.Size()):
        values = self.steps.sample(sample_shape)
        rows = join(values, self.present.expand(values.shape[:-1]))
        return torch.cat([rows, rows.new_zeros(*rows.shape[:-1], self.event_shape[0] - rows.shape[-1])], dim=-1)
