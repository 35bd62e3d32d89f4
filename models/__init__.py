"""Generative models p(z) p_θ(x|z) as Pyro programs ``model(x, *, num_data, index=None)``.

The pieces of the model contract every model shares are in :mod:`aevb.models.contract` (the
contract itself: docs/contracts.md); one file per model family: :mod:`.mlp`, :mod:`.hierarchical`,
:mod:`.conv`, :mod:`.dmm`, :mod:`.linear_gaussian`, :mod:`.mixture`, :mod:`.state_space`,
:mod:`.semi_supervised` (M2), :mod:`.conditional` (the CVAE and its baseline) and :mod:`.bayesian` (full VB's
weight priors). ``MODELS`` maps ``--model NAME``
to a :class:`ModelEntry`: how to build it and which configuration keys it reads (a key it does
not read, set anyway, is refused before any work, with the reason).
"""

from dataclasses import dataclass
from typing import Callable

from .bayesian import BayesianModel
from .conditional import ConditionalVAE, QuadrantBaseline
from .contract import LocalSite, data_plate, mlp_body
from .conv import ConvVAE
from .dmm import DMM
from .hierarchical import HierarchicalVAE
from .likelihoods import LIKELIHOODS
from .linear_gaussian import LinearGaussianModel, TwoLayerLinearGaussian
from .markov import KLWeight, MarkovGaussian, ObservedSteps, SequenceSpec
from .mixture import LinearGaussianMixture
from .mlp import MLPVAE, BernoulliVAE, GaussianVAE, VAEModel
from .semi_supervised import M2
from .state_space import ExactStateSpaceGuide, LinearStateSpace


@dataclass(frozen=True)
class ModelSpec:
    """What a model factory may need: the data's size and image shape, and the run's sizes."""

    data_dim: int
    image_shape: tuple
    latent_dim: int
    hidden_dims: tuple
    likelihood: str = "bernoulli"
    init: str = "default"


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its class (whose ``analytic_prior`` the combination rules read), how to
    build it from a :class:`ModelSpec`, the total size of a datapoint's latents for a
    ``latent_dim``, whether it reads ``hidden_dims``, the likelihoods it supports, and a
    one-line description for docs/models.md."""

    cls: type
    build: Callable
    latent_size: Callable
    description: str
    reads_hidden_dims: bool = True
    likelihoods: tuple = tuple(LIKELIHOODS)


MODELS = {
    "mlp": ModelEntry(
        MLPVAE,
        lambda s: MLPVAE(s.data_dim, s.latent_dim, s.hidden_dims, s.likelihood, s.init),
        lambda d: d,
        "p(z) = N(0, I), a tanh MLP decoder of --hidden-dims layers (the paper's: one of 500)",
    ),
    "hierarchical": ModelEntry(
        HierarchicalVAE,
        lambda s: HierarchicalVAE(s.data_dim, s.latent_dim, s.init),
        lambda d: 3 * d,
        "two stochastic layers (Burda et al. 2015): z1 of 2 x --latent-dim, z2 of --latent-dim",
        False,
        ("bernoulli",),
    ),
    "conv": ModelEntry(
        ConvVAE,
        lambda s: ConvVAE(s.image_shape, s.latent_dim, s.likelihood, s.init),
        lambda d: d,
        "p(z) = N(0, I), a convolutional encoder and decoder for images (two stride-2 layers each)",
        False,
    ),
    "dmm": ModelEntry(
        DMM,
        lambda s: DMM(s.image_shape[0], s.image_shape[1] - 1, s.latent_dim),
        None,  # steps x --latent-dim: the steps are the data's, unknown before they are loaded
        "the deep Markov model (Krishnan et al. 2017) on sequences (--dataset chorales): z_t | z_{t-1} through a gated "
        "transition, x_t | z_t 88 Bernoulli keys; a latent of --latent-dim per step",
        False,
        ("bernoulli",),
    ),
}


def build_model(name: str, spec: ModelSpec):
    """The model registered as ``name``, built from ``spec``."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name].build(spec)


__all__ = [
    "MODELS",
    "LIKELIHOODS",
    "ModelEntry",
    "ModelSpec",
    "build_model",
    "BayesianModel",
    "BernoulliVAE",
    "ConditionalVAE",
    "ConvVAE",
    "DMM",
    "ExactStateSpaceGuide",
    "KLWeight",
    "LinearStateSpace",
    "MarkovGaussian",
    "ObservedSteps",
    "SequenceSpec",
    "GaussianVAE",
    "HierarchicalVAE",
    "LinearGaussianMixture",
    "LinearGaussianModel",
    "M2",
    "LocalSite",
    "MLPVAE",
    "QuadrantBaseline",
    "TwoLayerLinearGaussian",
    "VAEModel",
    "data_plate",
    "mlp_body",
]
