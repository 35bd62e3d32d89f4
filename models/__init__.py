"""Generative models p(z) p_θ(x|z) as Pyro programs ``model(x, *, num_data, index=None)``."""

from .vae import MODELS, BernoulliVAE, GaussianVAE, VAEModel

__all__ = ["MODELS", "BernoulliVAE", "GaussianVAE", "VAEModel"]
