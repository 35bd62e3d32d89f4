"""Recognition models q(z|x) as Pyro guides; ``GUIDES`` maps ``--guide NAME`` to a factory."""

from .diagonal import DiagonalGaussianGuide

GUIDES = {"diag": DiagonalGaussianGuide}

__all__ = ["GUIDES", "DiagonalGaussianGuide"]
