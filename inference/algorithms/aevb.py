"""Auto-Encoding Variational Bayes: Algorithm 1 of the paper, with estimator A or B (§2.3)."""

import torch
from pyro.infer import Trace_ELBO, TraceEnum_ELBO, TraceMeanField_ELBO

from ..capabilities import capabilities
from ..rules import check, resolve_estimator
from .base import Algorithm, parameters_of

#: Estimator A (eq. 6): Monte Carlo estimate of E_q[log p(x, z) − log q(z|x)].
#: Estimator B (eq. 7): analytic −KL(q(z|x) ‖ p(z)) plus a Monte Carlo reconstruction term;
#: Pyro's TraceMeanField_ELBO is its only ELBO that uses analytic KL divergences.
ESTIMATORS = {"A": Trace_ELBO, "B": TraceMeanField_ELBO}
#: Estimator A for a model with discrete sites (``discrete_latents``): Pyro's TraceEnum_ELBO sums each
#: site marked for parallel enumeration exactly, in the guide (in expectation under q(y|x)) or in
#: the model; Trace_ELBO would sample it without a score-function gradient.
ENUMERATED = TraceEnum_ELBO


class AEVB(Algorithm):
    """Minibatch AEVB (Algorithm 1): the loss is −L̃ᴹ, the SGVB estimate of the full-data bound.

    Uses Pyro's ``ELBOModule`` route (``elbo(model, guide)``, then one torch optimiser
    over its parameters, as in Pyro's ``examples/svi_lightning.py``) rather than
    :class:`pyro.infer.SVI`, whose :class:`pyro.optim.PyroOptim` builds one optimiser per
    parameter tensor and so cannot use the fused multi-tensor kernels.

    :param model: a model (the contract: :class:`aevb.inference.contracts.Model`).
    :param guide: a guide with the same signature that samples the model's local sites.
    :param str estimator: ``"A"`` (generic, :class:`~pyro.infer.Trace_ELBO`), ``"B"`` (analytic
        KL, :class:`~pyro.infer.TraceMeanField_ELBO`; needs the guide to declare ``analytic_kl``
        and the model ``analytic_prior``), or ``"auto"`` (B where both declare it, else A).
    :param int num_particles: L, the number of ε draws per datapoint (vectorised when > 1).
    :param bool vectorize_particles: draw the L particles in one vectorised pass (default), or
        one after another (needed when the model has global latent sites, e.g. full VB's weights,
        that a vectorised particle dimension would give a batch shape the decoder cannot take).
    """

    name = "aevb"
    uses_estimator = True
    supports_compile = True
    handles_discrete = True

    @classmethod
    def from_config(cls, model, guide, config, num_data):
        return cls(model, guide, estimator=config["estimator"], num_particles=config["num_particles"])

    def __init__(self, model, guide, estimator: str = "auto", num_particles: int = 1, vectorize_particles: bool = True):
        estimator = resolve_estimator(estimator, model, guide)
        if not isinstance(num_particles, int) or num_particles < 1:
            raise ValueError(f"num_particles must be a positive integer, got {num_particles!r}")
        check(self, model=model, guide=guide, num_particles=num_particles, sgvb=estimator)
        self.model, self.guide = model, guide
        self.estimator, self.num_particles = estimator, num_particles
        options = {
            "num_particles": num_particles,
            "vectorize_particles": vectorize_particles and num_particles > 1,
            "max_plate_nesting": 1,
        }
        discrete = capabilities(model, "model").discrete_latents
        # estimator B is refused for such a model by the rules (it declares no analytic_prior)
        elbo = ENUMERATED(strict_enumeration_warning=False, **options) if discrete else ESTIMATORS[estimator](**options)
        self.loss_fn = elbo(model, guide)

    def parameters(self):
        """θ and φ: everything the optimiser updates."""
        return parameters_of(self.model, self.guide)

    def loss(self, x: torch.Tensor, *, num_data: int, index: torch.Tensor = None) -> torch.Tensor:
        """−L̃ᴹ(θ, φ; X): a differentiable, unbiased estimate of minus the bound on all ``num_data`` points (eq. 8)."""
        return self.loss_fn(x, num_data=num_data, index=index)

    def step(self, x, *, num_data, index=None):
        """The training loop's contract: (surrogate to minimise, detached bound estimate)."""
        loss = self.loss(x, num_data=num_data, index=index)
        return loss, -loss.detach()
