"""Monte Carlo EM with HMC (Appendix E): the paper's encoder-free baseline in Figure 3."""

import torch
from torch import nn

from aevb.models.contract import placeholder_rows

from ..estimators.hmc import PerPointHMC, packed_log_joint
from ..latents import LatentLayout, prior_draws
from ..rules import check
from .base import Algorithm


class MonteCarloEM(nn.Module, Algorithm):
    """Monte Carlo EM (Appendix E): no encoder, a persistent posterior sample of the latents per training point.

    Every local latent site of the model is kept, packed per point
    (:class:`~aevb.inference.latents.LatentLayout`), started from a draw of the prior. For each
    minibatch, the E-step runs one HMC transition (``num_leapfrog`` = 10 leapfrog steps) on the
    minibatch's latents, with one step size per datapoint adapted continuously toward
    90% acceptance and accept/reject per datapoint, all vectorised (:class:`PerPointHMC`).
    The M-step then takes ``updates_per_batch`` = 5 optimiser steps on θ with those samples,
    each following the gradient of (N/M) Σᵢ log p_θ(xᵢ, zᵢ) (the plate's scale, eq. 8).

    The samples and step sizes are buffers of this module, so checkpoints carry them and a
    resumed run continues exactly. The paper uses Adagrad with annealing; here the run's
    optimiser is used as chosen.
    """

    name = "mcem"
    keeps_latents = True
    supports_compile = True
    needs_guide = False
    guide = None  # the contract's guide: it trains none
    data_parallel = False  # a chain per training point
    updates_per_batch = 5
    train_metric = "train_log_joint"
    train_metric_is_bound = False  # log p(x, z) at the chains' states bounds nothing: larger steps look better

    @classmethod
    def from_config(cls, model, guide, config, num_data):
        return cls(model, num_data=num_data)

    def __init__(
        self,
        model,
        guide=None,
        *,
        num_data: int,
        num_leapfrog: int = 10,
        target_accept: float = 0.9,
        initial_step_size: float = 0.05,
        **unused,
    ):
        super().__init__()
        check(
            self, model=model, guide=guide
        )  # needs_guide is False: it keeps a posterior sample per training point instead
        object.__setattr__(self, "model", model)  # not a submodule: state_dict holds the chains only
        device = next(model.parameters()).device
        one = placeholder_rows(model, 1, device)  # its values are not read: prior draws only
        self.layout = LatentLayout.of(model, one)
        chunks = [
            min(1024, num_data - start) for start in range(0, num_data, 1024)
        ]  # the decoder runs on every draw: bounded memory
        self.register_buffer(
            "latents", torch.cat([self.layout.flatten(prior_draws(model, one, n))[:, 0] for n in chunks])
        )
        self.register_buffer("step_size", torch.full((num_data,), float(initial_step_size), device=device))
        self.register_buffer("accept_prob", torch.zeros(num_data, device=device))
        self.num_leapfrog, self.target_accept = num_leapfrog, target_accept

    def parameters(self, recurse: bool = True):  # what the optimiser updates: θ only
        return self.model.parameters(recurse)

    def e_step(self, x, index, adapt: bool = True):
        """One HMC transition of the points ``index`` of the training set, targeting p_θ(z|x)."""
        kernel = PerPointHMC(packed_log_joint(self.model, x, self.layout), self.num_leapfrog, self.target_accept)
        latents, accept_prob, step_size = kernel(self.latents[index], self.step_size[index], adapt=adapt)
        self.latents[index], self.step_size[index], self.accept_prob[index] = latents, step_size, accept_prob
        return latents

    def begin_batch(self, x, *, num_data, index):
        if len(self.latents) != num_data:
            raise ValueError(f"mcem was built for {len(self.latents)} training points, the data have {num_data}")
        self.e_step(x, index)

    def step(self, x, *, num_data, index):
        # (N/M) Σ log p(x_i, z_i) with the E-step's samples held fixed: the gradient reaches θ only.
        log_joint = packed_log_joint(self.model, x, self.layout)(self.latents[index]).sum() * (num_data / len(x))
        return -log_joint, log_joint.detach()
