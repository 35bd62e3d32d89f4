"""Wake-sleep (Hinton, Dayan, Frey & Neal 1995): the paper's baseline in Figure 2."""

import pyro.poutine as poutine
import torch

from ..estimators.weights import guide_and_model_traces
from ..latents import OBSERVED, local_latent_sites
from ..rules import check
from .base import Algorithm, parameters_of


class WakeSleep(Algorithm):
    """The wake-sleep algorithm with the same model, encoder, minibatches and optimiser as AEVB.

    * Wake phase: draw z ~ q_φ(z|x) for the minibatch (no gradient into φ) and follow the
      gradient of log p_θ(x, z) in θ.
    * Sleep phase: dream (z̃, x̃) ~ p_θ(z) p_θ(x|z), every latent site of the model (no gradient
      into θ), and follow the gradient of log q_φ(z̃|x̃) in φ.

    Both terms live in the model's ``"data"`` plate, so they carry the N/M scale of eq. 8 and
    the minibatch estimates are unbiased for their full-data sums. The two objectives together
    are not a bound on log p(x); the bound reported to the training loop is the estimator-A
    ELBO log p(x, z) − log q(z|x) of the wake samples, which costs no extra pass. Written with
    Pyro's handlers: ``trace``, ``replay``, ``uncondition`` and ``condition``.

    Needs a guide that can be run on dreamed data (every amortised guide can; a guide with
    per-datapoint parameters cannot).
    """

    name = "wake-sleep"
    supports_compile = True
    needs_amortised_guide = True  # the sleep phase runs q on dreamed data
    dreams = True  # ... which must be rows the guide can read

    @classmethod
    def from_config(cls, model, guide, config, num_data):
        return cls(model, guide)

    def __init__(self, model, guide):
        check(self, model=model, guide=guide)
        self.model, self.guide = model, guide

    def parameters(self):
        return parameters_of(self.model, self.guide)

    def step(self, x, *, num_data, index=None):
        kwargs = {"num_data": num_data, "index": index}
        # Wake: z ~ q(z|x) held fixed (a no-grad guide); the gradient of log p(x, z) reaches θ only.
        guide_trace, model_trace = guide_and_model_traces(self.model, torch.no_grad()(self.guide), x, **kwargs)
        log_joint = model_trace.log_prob_sum()
        # Sleep: a dream from the generative model; the gradient of log q(z̃|x̃) reaches φ only.
        with torch.no_grad():
            dream = poutine.trace(poutine.uncondition(self.model)).get_trace(x, **kwargs)
        latents = {
            name: dream.nodes[name]["value"] for name in local_latent_sites(dream) if name != OBSERVED
        }  # every latent site
        sleep_trace = poutine.trace(poutine.condition(self.guide, data=latents)).get_trace(
            dream.nodes[OBSERVED]["value"], **kwargs
        )
        log_q_dream = sleep_trace.log_prob_sum()
        bound = (log_joint - guide_trace.log_prob_sum()).detach()
        return -(log_joint + log_q_dream), bound
