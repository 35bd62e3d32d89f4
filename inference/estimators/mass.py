"""Per-point HMC mass matrices, diagonal or dense, and where they come from.

A chain of :class:`~aevb.inference.estimators.hmc.PerPointHMC` moves one datapoint's packed
latents; each point has its own *inverse* mass matrix M⁻¹, an estimate of its target's
covariance, so that one step size suits every direction. It is stored as

* a diagonal, shape (B, K): the target's variances per latent dimension, or
* a dense matrix, shape (B, K, K): its full covariance.

A diagonal whitens only axis-aligned posteriors. A trained decoder's posteriors are correlated
(the directions the data pin down mix the latents); then the narrowest direction sets the step
size while the chain crawls along the broadest. On the Nz = 4 linear-Gaussian oracle with
posterior standard deviations 0.9 … 0.018 along a rotated basis, Appendix D with a diagonal mass
came out +16.4, +1.8 and +9.3 nats too high on three seeds (worst points +99), and at Nz = 10 the
BDMC gap was 1.1–1.5 nats (docs/baselines.md). A dense M⁻¹ whitens any Gaussian.

**Where a dense one comes from: the curvature.** For a Gaussian target the negative Hessian of
log π is its precision, at every point; for others it is the local precision. So a dense M⁻¹ is
the inverse of −∇²log π (:func:`curvature`, made positive definite by
:func:`covariance_from_precision`), averaged over the states a chain visits
(:class:`WindowEstimate` in Appendix D's burn-in windows) or over a point's pilot chains (AIS,
every :data:`CURVATURE_EVERY` temperatures). The covariance of the draws themselves, Stan's way
(regularised toward the diagonal), was tried first: a window's 20–40 correlated draws, or four
pilot chains, estimate a 4 × 4 or 10 × 10 covariance too poorly where the spreads differ 50-fold
(Appendix D still +1.9, +0.2 and +4.8 nats on the three seeds, the BDMC gap 0.4–0.9), while the curvature needs no
draws to be right on a Gaussian and only a few to average over on another.

**Which form a point gets** is decided by its packed latent size (:func:`dense_for`): dense up to
:data:`DENSE_MAX_SIZE` numbers, diagonal (the draws' variances, Pyro's Welford with Stan's
regularisation) above. The cost of the dense form is K second-order backward passes per
curvature, one K × K product per leapfrog step and a Cholesky factor per transition; at K ≤ 16
it is a few percent to a third more wall time (measured beside the diagonal in
``examples/linear_gaussian_oracle.py``'s table, docs/baselines.md), and it grows as K³ past that.
"""

import torch
from pyro.ops.welford import WelfordCovariance

#: Packed latent sizes up to this get a dense mass matrix; larger ones a diagonal.
DENSE_MAX_SIZE = 16
#: A dense mass is re-estimated from the curvature at every CURVATURE_EVERY-th transition's state.
CURVATURE_EVERY = 5


def dense_for(size: int) -> bool:
    """Whether a point whose latents pack into ``size`` numbers gets a dense mass matrix."""
    return size <= DENSE_MAX_SIZE


def is_dense(inv_mass: torch.Tensor, z: torch.Tensor) -> bool:
    return inv_mass.dim() == z.dim() + 1


def as_dense(inv_mass: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return inv_mass if is_dense(inv_mass, z) else torch.diag_embed(inv_mass)


class Mass:
    """One transition's kinetic energy ½ rᵀ M⁻¹ r for chains at ``z`` with inverse mass ``inv_mass``
    (diagonal (B, K) or dense (B, K, K)); the Cholesky factor of a dense one is taken once."""

    def __init__(self, inv_mass: torch.Tensor, z: torch.Tensor):
        self.inv_mass, self.dense = inv_mass, is_dense(inv_mass, z)
        self.chol = torch.linalg.cholesky(inv_mass) if self.dense else None

    def momentum(self, z: torch.Tensor) -> torch.Tensor:
        """r ~ N(0, M). Dense: with M⁻¹ = L Lᵀ, r = L⁻ᵀ ε has covariance L⁻ᵀ L⁻¹ = M."""
        eps = torch.randn_like(z)
        if not self.dense:
            return eps * self.inv_mass.rsqrt()
        return torch.linalg.solve_triangular(self.chol.mT, eps.unsqueeze(-1), upper=True).squeeze(-1)

    def velocity(self, r: torch.Tensor) -> torch.Tensor:
        """dz/dt = M⁻¹ r."""
        return (self.inv_mass @ r.unsqueeze(-1)).squeeze(-1) if self.dense else r * self.inv_mass

    def kinetic(self, r: torch.Tensor) -> torch.Tensor:
        return 0.5 * (r * self.velocity(r)).sum(-1)


def relative_scale(old: torch.Tensor, new: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Per point, the largest factor by which a unit step under inverse mass ``old`` moves farther
    than under ``new``, in the metric of ``new`` (B,): √(max eigenvalue of new⁻¹ old), which is
    √max(old / new) for diagonals."""
    if not (is_dense(old, z) or is_dense(new, z)):
        return (old / new).amax(-1).sqrt()
    chol = torch.linalg.cholesky(as_dense(new, z))
    left = torch.linalg.solve_triangular(chol, as_dense(old, z), upper=False)
    whitened = torch.linalg.solve_triangular(chol, left.mT, upper=False)
    return torch.linalg.eigvalsh(0.5 * (whitened + whitened.mT)).amax(-1).clamp(min=0).sqrt()


def curvature(log_density, z: torch.Tensor) -> torch.Tensor:
    """Each row's negative Hessian −∇²log π(zᵢ) of a per-row ``log_density`` (B,) at ``z`` (B, K):
    (B, K, K), by K second backward passes through the summed gradient (rows are independent, so
    the gradient of the sum holds each row's own). For a Gaussian target it is the precision,
    wherever it is taken."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(log_density(z).sum(), z, create_graph=True)
        rows = [
            torch.autograd.grad(grad[:, k].sum(), z, retain_graph=k + 1 < z.shape[-1])[0] for k in range(z.shape[-1])
        ]
    hessian = torch.stack(rows, -2).detach()
    return -0.5 * (hessian + hessian.mT)


def covariance_from_precision(precision: torch.Tensor, floor: float = 1e-6) -> torch.Tensor:
    """The inverse of a (B, K, K) curvature made positive definite: its eigenvalues replaced by
    their absolute values, at least ``floor`` times the largest (standard deviations spanning up to a
    factor of 1000 pass unchanged; a saddle's or a flat direction's
    curvature then gives a wide but finite spread, as the SoftAbs metric of Betancourt 2013 does)."""
    values, vectors = torch.linalg.eigh(precision)
    values = values.abs()
    values = values.clamp(min=(floor * values.amax(-1, keepdim=True)).clamp(min=1e-12))
    return (vectors / values.unsqueeze(-2)) @ vectors.mT


class WindowEstimate:
    """What one adaptation window learns of each point's target from a chain's states: the
    variances of its draws (diagonal; Pyro's :class:`~pyro.ops.welford.WelfordCovariance` with
    Stan's regularisation, batched over points by its elementwise arithmetic), or, for a dense
    mass, the curvature averaged over every :data:`CURVATURE_EVERY`-th state, inverted."""

    def __init__(self, log_density, dense: bool):
        self.log_density, self.dense = log_density, dense
        self.reset()

    def reset(self):
        self.welford, self.precision, self.count, self.seen = WelfordCovariance(diagonal=True), 0.0, 0, 0

    def update(self, z: torch.Tensor):
        if not self.dense:
            self.welford.update(z)
        elif self.seen % CURVATURE_EVERY == 0:
            self.precision, self.count = self.precision + curvature(self.log_density, z), self.count + 1
        self.seen += 1

    @property
    def ready(self) -> bool:
        return self.count >= 1 if self.dense else self.welford.n_samples >= 2

    def inverse_mass(self) -> torch.Tensor:
        if self.dense:
            return covariance_from_precision(self.precision / self.count)
        return self.welford.get_covariance(regularize=True)
