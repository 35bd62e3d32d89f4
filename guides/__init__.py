"""Recognition models q(z|x) as Pyro guides; ``GUIDES`` maps ``--guide NAME`` to a factory.

Every guide samples the ``"z"`` site inside the ``"data"`` plate with the model's signature
``guide(x, *, num_data, index=None)``, so it fits every model of the collection with a
``"z"`` site of its size. A factory takes :class:`GuideSpec`'s fields as keywords.
"""

from dataclasses import dataclass

from .amortised import EncoderGuide, FixedLocalGuide, LocalGuide
from .diagonal import DiagonalGaussianGuide
from .flow import FLOWS, FlowGuide
from .fullcov import FullCovarianceGuide
from .meanfield import MeanFieldGuide


@dataclass
class GuideSpec:
    """What a guide factory may need: sizes, initialisation, the training-set size (for
    per-datapoint parameters) and the flow's length and type."""

    data_dim: int
    latent_dim: int
    hidden_dim: int = 500
    init: str = "default"
    num_data: int = None
    flow_steps: int = 2
    flow_type: str = "iaf"


#: The class behind each name: its ``analytic_kl`` and ``amortised`` flags say which
#: objectives it supports (checked before a run starts).
GUIDE_CLASSES = {"diag": DiagonalGaussianGuide, "fullcov": FullCovarianceGuide, "flow": FlowGuide, "meanfield": MeanFieldGuide}

GUIDES = {
    "diag": lambda s: DiagonalGaussianGuide(s.data_dim, s.latent_dim, s.hidden_dim, s.init),
    "fullcov": lambda s: FullCovarianceGuide(s.data_dim, s.latent_dim, s.hidden_dim, s.init),
    "flow": lambda s: FlowGuide(s.data_dim, s.latent_dim, s.hidden_dim, s.init, flow_steps=s.flow_steps, flow_type=s.flow_type),
    "meanfield": lambda s: MeanFieldGuide(s.num_data, s.data_dim, s.latent_dim),
}


def make_guide(name: str, **spec) -> LocalGuide:
    """The guide registered as ``name``, built from :class:`GuideSpec` fields."""
    if name not in GUIDES:
        raise ValueError(f"guide must be one of {sorted(GUIDES)}, got {name!r}")
    return GUIDES[name](GuideSpec(**spec))


__all__ = [
    "GUIDES", "GUIDE_CLASSES", "GuideSpec", "make_guide", "LocalGuide", "EncoderGuide", "FixedLocalGuide",
    "DiagonalGaussianGuide", "FullCovarianceGuide", "FlowGuide", "FLOWS", "MeanFieldGuide",
]
