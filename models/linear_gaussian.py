"""Linear-Gaussian models: exact oracles for every estimator, with one latent site and with two.

* :class:`LinearGaussianModel` (probabilistic PCA): p(z) = N(0, I), p(x|z) = N(W z + b, σ² I)
  (Tipping & Bishop 1999), with closed forms for the marginal likelihood, the posterior and the
  maximum-likelihood parameters;
* :class:`TwoLayerLinearGaussian`: z₂ ~ N(0, I), z₁ | z₂ ~ N(A z₂ + a, σ₁² I), x | z₁ ~ N(W z₁ + b, s² I),
  jointly Gaussian, so its marginal and its posterior over both sites are Gaussian in closed form.

Both are regular models of this collection (latent sites and ``"x"`` in the ``"data"`` plate), so
every guide, algorithm and estimator can be checked against exact answers on them.
"""

import math

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from .contract import LocalSite, data_plate, mlp_body
from .mlp import VAEModel


def random_rotation(size: int, generator: torch.Generator) -> torch.Tensor:
    """A random orthogonal matrix (size × size, float64): the Q of a Gaussian matrix's QR
    decomposition, its columns' signs fixed by R's diagonal (so it is Haar-distributed)."""
    q, r = torch.linalg.qr(torch.randn(size, size, generator=generator, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


class LinearDecoder(nn.Module):
    """x's mean W z + b and a shared log standard deviation log σ."""

    def __init__(self, latent_dim: int, data_dim: int):
        super().__init__()
        self.linear = nn.Linear(latent_dim, data_dim)
        self.log_scale = nn.Parameter(torch.zeros(()))

    def forward(self, z):
        return self.linear(z)


class LinearGaussianModel(VAEModel):
    """p(z) = N(0, I), p(x|z) = N(W z + b, σ² I), with closed-form log p(x), p(z|x) and ML fit."""

    def __init__(self, data_dim: int = 5, latent_dim: int = 2):
        for name, value in (("data_dim", data_dim), ("latent_dim", latent_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        super().__init__(data_dim, latent_dim, LinearDecoder(latent_dim, data_dim), mlp_body((32,)))

    # ----------------------------------------------------------------- parameters
    @property
    def W(self) -> torch.Tensor:
        return self.decoder.linear.weight

    @property
    def b(self) -> torch.Tensor:
        return self.decoder.linear.bias

    @property
    def sigma(self) -> torch.Tensor:
        return self.decoder.log_scale.exp()

    @torch.no_grad()
    def set_parameters(self, W, b, sigma) -> "LinearGaussianModel":
        self.decoder.linear.weight.copy_(torch.as_tensor(W))
        self.decoder.linear.bias.copy_(torch.as_tensor(b))
        self.decoder.log_scale.copy_(torch.as_tensor(float(sigma)).log())
        return self

    # ----------------------------------------------------------------- the model
    def observation(self, mean):
        return dist.Normal(mean, self.sigma).to_event(1)

    # ----------------------------------------------------------------- closed forms
    def marginal(self) -> dist.MultivariateNormal:
        """p(x) = N(b, W Wᵀ + σ² I)."""
        cov = self.W @ self.W.T + self.sigma**2 * torch.eye(self.data_dim, dtype=self.W.dtype, device=self.W.device)
        return dist.MultivariateNormal(self.b, covariance_matrix=cov)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) of every row of ``x`` (nats)."""
        return self.marginal().log_prob(x)

    def posterior(self, x: torch.Tensor) -> dist.MultivariateNormal:
        """Exact p(z|x) = N(M⁻¹ Wᵀ (x − b), σ² M⁻¹) with M = WᵀW + σ² I, batched over rows of ``x``."""
        eye = torch.eye(self.latent_dim, dtype=self.W.dtype, device=self.W.device)
        m = self.W.T @ self.W + self.sigma**2 * eye
        m_inv = torch.linalg.inv(m)
        loc = (x - self.b) @ self.W @ m_inv.T
        cov = self.sigma**2 * m_inv
        return dist.MultivariateNormal(loc, covariance_matrix=cov.expand(x.shape[:-1] + cov.shape))

    def posterior_factors(self, x: torch.Tensor) -> list:
        """The exact posterior as the guide samples it: ``[(site, values -> distribution)]``."""
        return [("z", lambda values: self.posterior(x))]

    @classmethod
    def with_posterior_scales(
        cls, scales, data_dim: int = None, sigma: float = 0.5, seed: int = 0, rotated: bool = False
    ) -> "LinearGaussianModel":
        """A model whose exact posterior p(z|x) has standard deviations ``scales`` (each in (0, 1)),
        one per latent dimension, along the latent axes: W's columns are orthogonal with norms
        n_k = σ (1/s_k² − 1)^½, since then WᵀW + σ²I is diagonal and p(z|x)'s variances are
        σ² / (n_k² + σ²). An anisotropic oracle for the HMC-based estimators (scales spanning a
        factor of 50: docs/baselines.md). ``data_dim`` defaults to twice the latent dimension.

        ``rotated``: W is then multiplied on the right by a random orthogonal matrix R (drawn from
        the same seed, after everything else): the posterior's covariance becomes Rᵀ diag(s²) R,
        the same spreads along directions that mix every latent, and p(x) is unchanged (the
        prior N(0, I) is rotation-invariant). A trained decoder's posteriors look like this, not
        like the axis-aligned ones, and a diagonal mass matrix cannot whiten them."""
        scales = torch.as_tensor(scales, dtype=torch.float64)
        if scales.dim() != 1 or not ((scales > 0) & (scales < 1)).all():
            raise ValueError(f"scales must be a list of posterior standard deviations in (0, 1), got {scales.tolist()}")
        latent_dim = len(scales)
        data_dim = 2 * latent_dim if data_dim is None else data_dim
        if data_dim < latent_dim:
            raise ValueError(f"data_dim ({data_dim}) must be at least the number of scales ({latent_dim})")
        g = torch.Generator().manual_seed(seed)
        basis, _ = torch.linalg.qr(torch.randn(data_dim, latent_dim, generator=g, dtype=torch.float64))
        norms = sigma * (1 / scales**2 - 1).sqrt()
        b = torch.randn(data_dim, generator=g, dtype=torch.float64)
        W = basis * norms
        if rotated:
            W = W @ random_rotation(latent_dim, g)
        return cls(data_dim, latent_dim).double().set_parameters(W, b, sigma)

    @classmethod
    def maximum_likelihood(cls, x: torch.Tensor, latent_dim: int) -> "LinearGaussianModel":
        """Tipping & Bishop's closed-form ML estimate: b = mean, σ² = mean of the discarded
        eigenvalues of the sample covariance, W = U_K (Λ_K − σ² I)^½."""
        n, d = x.shape
        if not latent_dim < d:
            raise ValueError(f"latent_dim must be smaller than the data dimension {d}")
        b = x.mean(0)
        cov = (x - b).T @ (x - b) / n
        eigvals, eigvecs = torch.linalg.eigh(cov)
        eigvals, eigvecs = eigvals.flip(0), eigvecs.flip(1)
        sigma2 = eigvals[latent_dim:].mean()
        W = eigvecs[:, :latent_dim] * (eigvals[:latent_dim] - sigma2).clamp(min=0).sqrt()
        return cls(d, latent_dim).to(x.dtype).set_parameters(W, b, math.sqrt(sigma2.item()))


class TwoLayerLinearGaussian(nn.Module):
    """z₂ ~ N(0, I_{k₂}), z₁ | z₂ ~ N(A z₂ + a, σ₁² I_{k₁}), x | z₁ ~ N(W z₁ + b, s² I_D): two latent
    sites, every marginal and conditional Gaussian in closed form (the oracle for estimators on
    models with more than one site). Its guides encode z₁ from x and z₂ from z₁."""

    analytic_prior = False  # z₁'s prior depends on z₂

    def __init__(self, data_dim: int = 5, sizes=(3, 2)):
        super().__init__()
        k1, k2 = sizes
        for name, value in (("data_dim", data_dim), ("sizes[0]", k1), ("sizes[1]", k2)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.data_dim, self.sizes = data_dim, {"z1": k1, "z2": k2}
        self.A, self.a = nn.Parameter(torch.zeros(k1, k2)), nn.Parameter(torch.zeros(k1))
        self.W, self.b = nn.Parameter(torch.zeros(data_dim, k1)), nn.Parameter(torch.zeros(data_dim))
        self.log_sigma1, self.log_s = nn.Parameter(torch.zeros(())), nn.Parameter(torch.zeros(()))
        self.local_sites = (LocalSite("z1", k1, ("x",), mlp_body((32,))), LocalSite("z2", k2, ("z1",), mlp_body((32,))))

    @classmethod
    def correlated(
        cls, data_dim: int = 8, sizes=(3, 2), sigma1: float = 0.05, spread: float = 50.0, seed: int = 0
    ) -> "TwoLayerLinearGaussian":
        """A two-layer oracle whose posterior over [z₁, z₂] is correlated and anisotropic: z₁ | z₂ is
        tight (σ₁ = ``sigma1``, so z₁ ≈ A z₂ + a ties the two sites together), and W's columns
        have norms spanning a factor of ``spread`` along a random rotation of z₁'s axes (seeded).
        Frozen, float64."""
        k1, k2 = sizes
        g = torch.Generator().manual_seed(seed)
        basis, _ = torch.linalg.qr(torch.randn(data_dim, k1, generator=g, dtype=torch.float64))
        norms = spread ** -torch.linspace(0, 1, k1, dtype=torch.float64) * 4.0
        W = basis * norms @ random_rotation(k1, g)
        A = torch.randn(k1, k2, generator=g, dtype=torch.float64)
        a = torch.randn(k1, generator=g, dtype=torch.float64)
        b = torch.randn(data_dim, generator=g, dtype=torch.float64)
        model = cls(data_dim, (k1, k2)).double().set_parameters(A, a, sigma1, W, b, 0.5)
        model.train(False)
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    @torch.no_grad()
    def set_parameters(self, A, a, sigma1, W, b, s) -> "TwoLayerLinearGaussian":
        for target, value in ((self.A, A), (self.a, a), (self.W, W), (self.b, b)):
            target.copy_(torch.as_tensor(value))
        self.log_sigma1.copy_(torch.as_tensor(float(sigma1)).log())
        self.log_s.copy_(torch.as_tensor(float(s)).log())
        return self

    def forward(self, x: torch.Tensor, *, num_data=None, index=None):
        pyro.module("two_layer_linear_gaussian", self)
        zero = x.new_zeros(())
        with data_plate(x, num_data, index):
            z2 = pyro.sample("z2", dist.Normal(zero, zero + 1.0).expand([self.sizes["z2"]]).to_event(1))
            z1 = pyro.sample("z1", dist.Normal(z2 @ self.A.T + self.a, self.log_sigma1.exp()).to_event(1))
            pyro.sample("x", dist.Normal(z1 @ self.W.T + self.b, self.log_s.exp()).to_event(1), obs=x)
        return z1

    # ----------------------------------------------------------------- closed forms
    def _eye(self, n):
        return torch.eye(n, dtype=self.W.dtype, device=self.W.device)

    def _moments(self):
        """Covariances of the jointly Gaussian (z₁, z₂, x)."""
        k1, d = self.sizes["z1"], self.data_dim
        c11 = self.A @ self.A.T + self.log_sigma1.exp() ** 2 * self._eye(k1)  # Cov(z₁)
        cxx = self.W @ c11 @ self.W.T + self.log_s.exp() ** 2 * self._eye(d)  # Cov(x)
        return c11, cxx

    def marginal(self) -> dist.MultivariateNormal:
        """p(x) = N(W a + b, W (A Aᵀ + σ₁² I) Wᵀ + s² I)."""
        _, cxx = self._moments()
        return dist.MultivariateNormal(self.W @ self.a + self.b, covariance_matrix=cxx)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) of every row of ``x`` (nats)."""
        return self.marginal().log_prob(x)

    def posterior(self, x: torch.Tensor) -> dist.MultivariateNormal:
        """Exact p(z₁, z₂ | x) over the concatenation [z₁, z₂], batched over the rows of ``x``."""
        c11, cxx = self._moments()
        k2 = self.sizes["z2"]
        cuu = torch.cat([torch.cat([c11, self.A], 1), torch.cat([self.A.T, self._eye(k2)], 1)], 0)  # Cov([z₁, z₂])
        cux = torch.cat([c11 @ self.W.T, self.A.T @ self.W.T], 0)  # Cov([z₁, z₂], x)
        gain = cux @ torch.linalg.inv(cxx)
        mean_u = torch.cat([self.a, torch.zeros(k2, dtype=self.a.dtype, device=self.a.device)])
        loc = mean_u + (x - (self.W @ self.a + self.b)) @ gain.T
        cov = cuu - gain @ cux.T
        cov = 0.5 * (cov + cov.T)
        return dist.MultivariateNormal(loc, covariance_matrix=cov.expand(x.shape[:-1] + cov.shape))

    def posterior_z1(self, x: torch.Tensor) -> dist.MultivariateNormal:
        """p(z₁ | x): the z₁ block of :meth:`posterior`."""
        joint = self.posterior(x)
        k1 = self.sizes["z1"]
        cov = joint.covariance_matrix[..., :k1, :k1]
        return dist.MultivariateNormal(joint.loc[..., :k1], covariance_matrix=cov)

    def conditional_z2(self, z1: torch.Tensor) -> dist.MultivariateNormal:
        """p(z₂ | z₁) = p(z₂ | z₁, x) (x depends on z₂ only through z₁):
        N(Aᵀ C⁻¹ (z₁ − a), I − Aᵀ C⁻¹ A), C = Cov(z₁)."""
        c11, _ = self._moments()
        gain = self.A.T @ torch.linalg.inv(c11)
        cov = self._eye(self.sizes["z2"]) - gain @ self.A
        cov = 0.5 * (cov + cov.T)
        return dist.MultivariateNormal((z1 - self.a) @ gain.T, covariance_matrix=cov.expand(z1.shape[:-1] + cov.shape))

    def posterior_factors(self, x: torch.Tensor) -> list:
        """The exact posterior as the guide samples it, z₁ then z₂: ``[(site, values -> distribution)]``."""
        return [("z1", lambda values: self.posterior_z1(x)), ("z2", lambda values: self.conditional_z2(values["z1"]))]
