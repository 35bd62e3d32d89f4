"""Hamiltonian Monte Carlo on many independent posteriors at once (one per data point).

Used by Monte Carlo EM (Appendix E), the Appendix D estimator and annealed importance
sampling. A chain moves one datapoint's packed vector of all its local latents
(:class:`~aevb.inference.latents.LatentLayout`). Leapfrog integration is Pyro's
:func:`pyro.ops.integrator.velocity_verlet`; it multiplies by the step size, so a column of
per-datapoint step sizes broadcasts, and its ``potential_fn`` returns the sum of the points'
potential energies, which has the right gradient for each point because the points are
independent. Accept/reject needs each point's own energy, computed here. Each point may have
its own mass matrix, diagonal or dense (:mod:`aevb.inference.estimators.mass`: AIS and Appendix D
adapt one; Monte Carlo EM keeps the identity, as Kingma's code does).
"""

import math

import torch
from pyro.ops.integrator import velocity_verlet

from ..latents import LatentLayout, log_joint_per_point
from .mass import Mass, relative_scale

#: The name of the one packed state in velocity_verlet's dictionaries (not a model site).
STATE = "latents"


def packed_log_joint(model, x: torch.Tensor, layout: LatentLayout):
    """``log_density(vectors) -> log p(xᵢ, zᵢ)`` per datapoint, for packed latent vectors of shape
    ``(..., len(x), layout.size)``."""
    return lambda vectors: log_joint_per_point(model, x, layout.unflatten(vectors))


class PerPointHMC:
    """One HMC transition per call for a batch of independent targets log π_i(z_i).

    :param log_density: ``callable(z) -> tensor (B,)``, differentiable in ``z`` of shape (B, K).
    :param int num_leapfrog: leapfrog steps per transition (MCEM: 10; Appendix D: 4).
    :param float target_accept: acceptance probability the step sizes are adapted toward.
    :param float adapt_factor: Kingma's code multiplies or divides the step size by 1.02;
        here each point's log step size moves by ``log(1.02) · (α − target) / (1 − target)``
        with α its acceptance probability: ×1.02 at α = 1, and no drift exactly when the
        mean acceptance probability equals the target.
    """

    def __init__(self, log_density, num_leapfrog: int, target_accept: float = 0.9, adapt_factor: float = 1.02):
        if not 0 < target_accept < 1:
            raise ValueError(f"target_accept must be in (0, 1), got {target_accept}")
        self.log_density, self.num_leapfrog = log_density, num_leapfrog
        self.target_accept, self.log_adapt = target_accept, math.log(adapt_factor)

    def _energy(self, z, r, mass: Mass):
        return -self.log_density(z) + mass.kinetic(r)

    def __call__(self, z: torch.Tensor, step_size: torch.Tensor, adapt: bool = True, inv_mass: torch.Tensor = None):
        """Returns (new z, acceptance probabilities, new step sizes); shapes (B, K), (B,), (B,).
        ``inv_mass``, when given, is each point's inverse mass matrix M⁻¹ (the momentum is drawn
        from N(0, M)): an estimate of the target's covariance, diagonal (B, K) or dense (B, K, K),
        so one step size suits directions of very different scales (default: the identity)."""
        mass = Mass(torch.ones_like(z) if inv_mass is None else inv_mass, z)
        with torch.enable_grad():
            r = mass.momentum(z)
            with torch.no_grad():
                energy = self._energy(z, r, mass)
            z_new, r_new, _, _ = velocity_verlet(
                {STATE: z.detach()},
                {STATE: r},
                lambda p: -self.log_density(p[STATE]).sum(),
                lambda r: {STATE: mass.velocity(r[STATE])},
                step_size.unsqueeze(-1),
                self.num_leapfrog,
            )
            z_new, r_new = z_new[STATE].detach(), r_new[STATE].detach()
        with torch.no_grad():
            delta = energy - self._energy(z_new, r_new, mass)
            delta = torch.where(torch.isnan(delta), torch.full_like(delta, -math.inf), delta)
            accept_prob = delta.clamp(max=0).exp()
            accept = torch.rand_like(accept_prob) < accept_prob
            z = torch.where(accept.unsqueeze(-1), z_new, z.detach())
            if adapt:
                step_size = step_size * torch.exp(
                    self.log_adapt * (accept_prob - self.target_accept) / (1 - self.target_accept)
                )
        return z, accept_prob, step_size


def quarter_period_step(step_size: torch.Tensor, num_leapfrog: int) -> torch.Tensor:
    """``step_size`` capped so that a trajectory of ``num_leapfrog`` steps lasts at most a quarter of
    a whitened Gaussian's period (π/2). With a mass matrix equal to the target's variances every
    dimension oscillates with the same period 2π. A quarter period carries z − μ into the
    momentum's direction, forgetting where the chain started; the step that reaches 90%
    acceptance lasts nearly half a period instead (about 0.57 × 5 leapfrog steps on the
    anisotropic oracle), which maps z − μ to about −(z − μ) in every dimension at once: annealed
    chains then stopped contracting toward the shrinking target (squared deviations 25–50% above
    its variances, AIS 0.7 nats low, as with no mass matrix at all). Only for chains whose mass
    matrix is adapted."""
    return step_size.clamp(max=0.5 * math.pi / num_leapfrog)


def rescaled_step_size(
    step_size: torch.Tensor, old_inv_mass: torch.Tensor, new_inv_mass: torch.Tensor, z: torch.Tensor
) -> torch.Tensor:
    """The step size that keeps each point's largest effective step (in units of the target's
    spread along that direction) unchanged when its inverse mass changes from ``old`` to ``new``,
    taking the new one as the target's covariance: the step-size adaptation (a few percent per
    transition) could not follow a jump of the mass. Either may be diagonal or dense (chains at
    ``z``: :func:`aevb.inference.estimators.mass.relative_scale`)."""
    return step_size * relative_scale(old_inv_mass, new_inv_mass, z)
