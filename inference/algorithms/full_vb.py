"""Full variational Bayes (Appendix F): a posterior over the decoder's weights as well as over z."""

import torch
from torch import nn

from aevb.guides.global_latents import global_autoguide, kl_to_normal_prior, posterior_means
from aevb.models.bayesian import BayesianModel
from aevb.models.contract import placeholder_rows

from ..capabilities import capabilities, declare
from ..rules import check, resolve_estimator
from .aevb import AEVB
from .base import Algorithm, parameters_of


class FullVB(nn.Module, Algorithm):
    """AEVB on p(θ) Πᵢ p(zᵢ, xᵢ | θ) with q(θ) Πᵢ q(zᵢ|xᵢ) (Appendix F), for any model of the collection.

    * the model is :class:`~aevb.models.bayesian.BayesianModel`: N(0, prior_scale² I) priors on
      every weight of the model through :class:`pyro.nn.PyroSample`;
    * q(θ) is one of Pyro's AutoGuides over the weight sites only
      (:func:`aevb.guides.global_latents.global_autoguide`; by default mean-field
      :class:`~pyro.infer.autoguide.AutoNormal`), its means initialised at the base decoder's
      initial weights and its standard deviations at ``init_scale``;
    * q(z|x) is any amortised local guide of the collection.

    The loss is the same SGVB estimator as AEVB (A or B for the z part): the weight sites sit
    outside the ``"data"`` plate, so the minibatch estimate is
    (N/M) Σᵢ L(θ, φ; xᵢ) + log p(θ) − log q(θ) with θ ~ q(θ) drawn once per step (per particle):
    an unbiased estimate of the Appendix F bound on log p(X) for all N points. The weight term is
    a Monte Carlo one even with estimator B, because AutoGuides sample θ through an auxiliary
    site. The training loop reports the bound per datapoint, so the weight KL's share KL/N is
    included; :meth:`diagnostics` reports that share on its own, in closed form. Test numbers
    are computed with the base model at the posterior mean of θ (:meth:`point_model`).
    """

    name = "full-vb"
    supports_compile = True
    needs_amortised_guide = True  # q(z|x) runs on any x: the model at q(θ)'s mean is scored on test points
    uses_estimator = True
    infers_weights = True

    @classmethod
    def from_config(cls, model, guide, config, num_data):
        return cls(
            model,
            guide,
            estimator=config["estimator"],
            num_particles=config["num_particles"],
            global_guide=config["global_guide"],
        )

    def __init__(
        self,
        model,
        guide,
        estimator: str = "auto",
        num_particles: int = 1,
        prior_scale: float = 1.0,
        init_scale: float = 0.01,
        global_guide: str = "normal",
    ):
        super().__init__()
        estimator = resolve_estimator(estimator, model, guide)
        check(
            self, model=model, guide=guide, num_particles=num_particles, sgvb=estimator
        )  # q(z|x) must declare amortised
        self.bayes = declare(
            BayesianModel(model, prior_scale), analytic_prior=capabilities(model, "model").analytic_prior
        )
        self.local = guide
        start = {
            name: p.detach() for name, p in model.named_parameters()
        }  # the weight sites are named like the parameters
        self.weights = global_autoguide(self.bayes, self.bayes.site_names(), global_guide, start, init_scale)
        self._setup(model)
        # Particles one after another: each draws its own θ, which the decoder's layers take unbatched.
        self.aevb = AEVB(
            self.bayes, self.guide, estimator=estimator, num_particles=num_particles, vectorize_particles=False
        )

    @torch.no_grad()
    def _setup(self, model):
        """Create q(θ)'s parameters now (AutoNormal makes them on its first call), so the
        optimiser and checkpoints see them; in a forked RNG, so training draws are unchanged."""
        device = next(model.parameters()).device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            self.weights(placeholder_rows(model, 1, device), num_data=1)

    @property
    def model(self):
        """The model it fits: the Bayesian model, weights and all (the contract's ``model``)."""
        return self.bayes

    def guide(self, x, *, num_data=None, index=None):
        """q(θ) then q(z|x): one Pyro guide for the whole model."""
        self.weights(x, num_data=num_data, index=index)
        return self.local(x, num_data=num_data, index=index)

    # What the inner AEVB reads of the joint guide: q(z|x)'s declarations, which __init__ checked
    # (amortised; analytic_kl wherever estimator B was asked for); q(θ) is sampled outside the data
    # plate and its term is a Monte Carlo one whatever the estimator (see the class docstring).
    guide.amortised = guide.analytic_kl = True

    def parameters(self, recurse: bool = True):
        """φ and q(θ)'s means and scales (the base decoder's own weights are not trained)."""
        return parameters_of(self.local, self.weights)

    def step(self, x, *, num_data, index=None):
        return self.aevb.step(x, num_data=num_data, index=index)

    def posterior_mean(self) -> dict:
        return posterior_means(self.weights, self.bayes.site_names())

    def weight_kl(self) -> float:
        """KL(q(θ) ‖ p(θ)) in nats, in closed form (both are Gaussians)."""
        return kl_to_normal_prior(self.weights, self.bayes.site_names(), self.bayes.prior_scale)

    def point_model(self):
        """The base model with θ at q(θ)'s mean: what test numbers and figures use."""
        return self.bayes.set_base_weights(self.posterior_mean())

    def diagnostics(self, num_data: int) -> dict:
        return {"weight_kl_per_datapoint": self.weight_kl() / num_data}
