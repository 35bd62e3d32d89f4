"""Reweighted wake-sleep with per-datapoint self-normalised weights, under minibatches."""

import pyro
import pyro.poutine as poutine
import torch

from ..estimators.weights import site_log_prob_sum
from ..latents import local_latent_sites
from ..rules import check
from .base import Algorithm, parameters_of


class RWS(Algorithm):
    """Reweighted wake-sleep (Bornschein & Bengio 2015; Le et al. 2019), ``--inference rws``.

    For every datapoint xᵢ of the minibatch, k draws z_{i,1..k} ~ q(z|xᵢ) (every local latent
    site) get log-weights log w_{ik} = log p(xᵢ, z_{ik}) − log q(z_{ik}|xᵢ), normalised over the
    k draws *of that datapoint*: w̃_{ik} = w_{ik} / Σ_l w_{il}. With the draws and the weights
    held fixed, the step follows

    * wake-θ: (N/M) Σᵢ Σ_k w̃_{ik} ∇θ log p(xᵢ, z_{ik}), which is exactly the gradient of the
      importance-weighted bound in θ (tested against :class:`~aevb.inference.algorithms.iwae.IWAE`);
    * wake-φ: (N/M) Σᵢ Σ_k w̃_{ik} ∇φ log q(z_{ik}|xᵢ), which moves q toward the posterior
      (minimising KL(p(z|x) ‖ q), the "inclusive" direction, Le et al. 2019).

    Why not Pyro's :class:`~pyro.infer.ReweightedWakeSleep`: it sums each particle's log-weights
    over the whole minibatch, N/M scale included, before normalising, so its weights are joint
    over the minibatch (with N/M = 600 they are one-hot) rather than per datapoint; its
    docstring says minibatches are not supported. Here the weights of a datapoint do not depend
    on N/M or on the other datapoints, so the step scales exactly with N/M (tested).

    log q is evaluated at the draws with their gradient path cut (the z's are fixed), so the
    guide must declare that it can evaluate its density at any point (``density_anywhere``). The reported bound is
    the estimator-A ELBO of the k draws, comparable with
    AEVB's and wake-sleep's train ELBO.
    """

    name = "rws"
    supports_compile = True
    needs_density_anywhere = True
    min_particles = 2

    @classmethod
    def from_config(cls, model, guide, config, num_data):
        return cls(model, guide, num_particles=config["num_particles"])

    def __init__(self, model, guide, num_particles: int = 5):
        if not isinstance(num_particles, int):
            raise ValueError(f"num_particles must be an integer, got {num_particles!r}")
        check(
            self, model=model, guide=guide, num_particles=num_particles
        )  # min_particles: self-normalised weights need 2
        self.model, self.guide, self.num_particles = model, guide, num_particles

    def parameters(self):
        return parameters_of(self.model, self.guide)

    def step(self, x, *, num_data, index=None):
        kwargs = {"num_data": num_data, "index": index}
        particles = pyro.plate("rws_particles", self.num_particles, dim=-2)
        guide_trace = poutine.trace(particles(self.guide)).get_trace(x, **kwargs)
        draws = {name: guide_trace.nodes[name]["value"].detach() for name in local_latent_sites(guide_trace)}
        log_q = sum(guide_trace.nodes[name]["fn"].log_prob(value) for name, value in draws.items())  # reaches φ only
        model_trace = poutine.trace(particles(poutine.condition(self.model, data=draws))).get_trace(x, **kwargs)
        log_p = site_log_prob_sum(model_trace)  # unscaled by the plate; reaches θ only
        log_w = (log_p - log_q).detach() + x.new_zeros(self.num_particles, len(x))
        weights = torch.softmax(log_w, dim=0)  # per datapoint, over its own draws
        scale = num_data / len(x)
        surrogate = -scale * (weights * (log_p + log_q)).sum()
        return surrogate, scale * log_w.mean(0).sum()
