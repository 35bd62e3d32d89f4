"""Recognition models q(z|x) as Pyro guides; ``GUIDES`` maps ``--guide NAME`` to a guide class.

Every guide samples its model's local latent sites (the model's ``local_sites``) inside the
``"data"`` plate with the model's signature ``guide(x, *, num_data, index=None)``, so every
family fits every model of the collection: one encoder per site for the amortised families
(diagonal, full-covariance, flow), one table per site for mean field. Each class declares what
it supports as class attributes (:mod:`aevb.inference.capabilities`); the combination rules read
those declarations, from :func:`guide_class` before a guide is built.
"""

from .amortised import AmortisedGuide, Encoder, FixedLocalGuide, GuideSpec, LocalGuide, single_site
from .diagonal import DiagonalFamily, DiagonalGaussianGuide
from .exact import ExactMixtureGuide, ExactPosteriorGuide, NoLatentsGuide
from .flow import FLOW_GUIDES, FLOWS, INVERTIBLE, FlowFamily, FlowGuide
from .fullcov import FullCovarianceFamily, FullCovarianceGuide
from .markov import SequenceGuide, StepsGuide, StructuredIAFGuide
from .meanfield import MeanFieldGuide
from .semi_supervised import M2Guide

#: ``--guide NAME`` → guide class, with ``for_spec(spec)`` (the class declaring a built guide's
#: capabilities, known before it is built) and ``from_spec(data_dim, sites, spec)``.
#: The sequence guides (:mod:`.markov`) are built from the model itself (``from_model``): they follow its time steps.
GUIDES = {
    "diag": DiagonalGaussianGuide,
    "fullcov": FullCovarianceGuide,
    "flow": FlowGuide,
    "meanfield": MeanFieldGuide,
    "structured": SequenceGuide,
    "steps": StepsGuide,
    "structured-iaf": StructuredIAFGuide,
}


def guide_class(name: str, **spec) -> type:
    """The class whose declarations a guide ``name`` built with ``spec`` (:class:`GuideSpec`'s fields) has."""
    if name not in GUIDES:
        raise ValueError(f"guide must be one of {sorted(GUIDES)}, got {name!r}")
    return GUIDES[name].for_spec(GuideSpec(**spec))


def make_guide(
    name: str, model=None, *, data_dim: int = None, latent_dim: int = None, hidden_dim=500, site: str = "z", **spec
) -> LocalGuide:
    """The guide registered as ``name`` for every local site of ``model``, or, given
    ``data_dim, latent_dim, hidden_dim`` instead, for a one-site VAE whose site is ``site`` (the
    paper's ``"z"``; e.g. ``"latent"`` for Pyro's VAE example); ``spec`` holds :class:`GuideSpec`'s fields."""
    if name not in GUIDES:
        raise ValueError(f"guide must be one of {sorted(GUIDES)}, got {name!r}")
    if hasattr(GUIDES[name], "from_model"):
        if model is None or not getattr(model, "sequence_model", False):
            raise ValueError(f"guide {name!r} follows time steps: it needs a sequence model (e.g. --model dmm)")
        return GUIDES[name].from_model(model, GuideSpec(**spec))
    sites = model.local_sites if model is not None else single_site(latent_dim, hidden_dim, site)
    return GUIDES[name].from_spec(model.data_dim if model is not None else data_dim, sites, GuideSpec(**spec))


__all__ = [
    "GUIDES",
    "FLOW_GUIDES",
    "GuideSpec",
    "guide_class",
    "make_guide",
    "LocalGuide",
    "AmortisedGuide",
    "Encoder",
    "FixedLocalGuide",
    "DiagonalFamily",
    "DiagonalGaussianGuide",
    "FullCovarianceFamily",
    "FullCovarianceGuide",
    "FlowFamily",
    "FlowGuide",
    "FLOWS",
    "MeanFieldGuide",
    "M2Guide",
    "ExactMixtureGuide",
    "ExactPosteriorGuide",
    "NoLatentsGuide",
    "SequenceGuide",
    "StepsGuide",
    "StructuredIAFGuide",
    "INVERTIBLE",
    "single_site",
]
