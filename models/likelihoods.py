"""Observation models p(x | decoder output): the Bernoulli likelihood for binary data and the
Gaussian one for real-valued data (Appendix C), ``LIKELIHOODS`` by ``--likelihood`` name."""

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.distributions import Bernoulli
from pyro.infer.util import is_validation_enabled
from torch.distributions.utils import broadcast_all

from .networks import LOGVAR_MAX, LOGVAR_MIN


class FastBernoulli(Bernoulli):
    """Bernoulli(logits) whose ``log_prob`` is ``x·ℓ − softplus(ℓ)``.

    That is log σ(ℓ)·x + log(1 − σ(ℓ))·(1 − x) rewritten with log σ(ℓ) = ℓ − softplus(ℓ) and
    log(1 − σ(ℓ)) = −softplus(ℓ) (Appendix C.1's log-likelihood, from the logits). It equals
    :meth:`torch.distributions.Bernoulli.log_prob` (which calls
    ``binary_cross_entropy_with_logits``) to float precision, and is stable for any ℓ
    (softplus is). It was written for speed, but ``benchmarks/overheads.py`` measures no
    difference from the library's kernel beyond noise (182 ms against 206 ms in one case,
    206 against 182 in the other, on 15.7M logits); it stays because the documented
    results were computed with it (see docs/benchmark.md).
    """

    def __init__(self, logits, validate_args=None):
        super().__init__(logits=logits, validate_args=validate_args)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return value * logits - F.softplus(logits)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(FastBernoulli, _instance)
        return super().expand(batch_shape, _instance=new)


class BernoulliLikelihood:
    """p(x|z) = Bernoulli(sigmoid(ℓ)) for binary data, from the logits ℓ (Appendix C.1):
    ``log p(x|z) = Σ_d x_d ℓ_d − softplus(ℓ_d)``, stable for any ℓ."""

    binary = True

    def outputs(self, data_dim: int) -> int:
        return data_dim

    def distribution(self, output: torch.Tensor, data_dim: int):
        # validate_args=False: the support check runs once in check_data instead.
        return FastBernoulli(logits=output, validate_args=False).to_event(1)


class GaussianLikelihood:
    """p(x|z) = N(μ, diag σ²) for real-valued data (Appendix C.2, the encoder with x and z
    swapped): the network outputs μ (through a sigmoid when ``sigmoid_mean``, for data in
    (0, 1)) and log σ², clamped before exponentiation."""

    binary = False

    def __init__(self, sigmoid_mean: bool = True):
        self.sigmoid_mean = sigmoid_mean

    def outputs(self, data_dim: int) -> int:
        return 2 * data_dim

    def distribution(self, output: torch.Tensor, data_dim: int):
        loc, logvar = output.split(data_dim, dim=-1)
        if self.sigmoid_mean:
            loc = torch.sigmoid(loc)
        return dist.Normal(loc, torch.exp(0.5 * logvar.clamp(LOGVAR_MIN, LOGVAR_MAX))).to_event(1)


#: ``--likelihood NAME`` → the observation model of a decoder's output.
LIKELIHOODS = {"bernoulli": BernoulliLikelihood, "gaussian": GaussianLikelihood}


def check_binary(x: torch.Tensor, who: str) -> None:
    """A Bernoulli likelihood needs 0/1 data (checked while Pyro's validation is on)."""
    if is_validation_enabled() and not ((x == 0) | (x == 1)).all():
        raise ValueError(
            f"{who} needs binary x (0/1 pixels); binarise grey levels first (aevb.data.binarize, or --binarize "
            "dynamic/static)"
        )
