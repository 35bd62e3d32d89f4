"""The linear-Gaussian state-space model: an exact oracle for sequence models and their estimators.

z_1 ~ N(0, q² I), z_t | z_{t−1} ~ N(A z_{t−1}, q² I), x_t | z_t ~ N(C z_t + c, r² I), on packed rows
(:mod:`aevb.data.sequences`) of any lengths, with its latents as one site ``z`` of steps × size
numbers as the deep Markov model has them (:mod:`aevb.models.markov`: steps past a sequence's
end are N(0, I) latents and unscored observations). The Kalman filter gives log p(x_{1:T}) exactly
(:meth:`LinearStateSpace.log_marginal`); the joint Gaussian of a sequence's latents and
observations gives it again and the exact posterior (:meth:`~LinearStateSpace.posterior`), which
the tests compare.
"""

import math

import pyro
import pyro.distributions as dist
import torch
from pyro.infer.util import is_validation_enabled
from torch import nn

from aevb.data.sequences import check_packed, pack, unpack

from .contract import LocalSite, data_plate, mlp_body
from .markov import MarkovGaussian, ObservedSteps, SequenceSpec


class LinearStateSpace(nn.Module):
    """A linear-Gaussian state-space model with fixed parameters (buffers): ``A`` (size × size),
    ``C`` (width × size), ``c`` (width,), scales ``q`` and ``r``; rows of ``steps`` steps."""

    analytic_prior = False
    sequence_model = True

    def __init__(self, A, C, c, q: float, r: float, steps: int):
        super().__init__()
        self.register_buffer("A", torch.as_tensor(A))
        self.register_buffer("C", torch.as_tensor(C))
        self.register_buffer("c", torch.as_tensor(c))
        self.register_buffer("q", torch.as_tensor(float(q), dtype=self.A.dtype))
        self.register_buffer("r", torch.as_tensor(float(r), dtype=self.A.dtype))
        size, width = self.A.shape[0], self.C.shape[0]
        self.sequence = SequenceSpec(steps, width, size)
        self.data_dim = steps * (width + 1)
        self.local_sites = (LocalSite("z", steps * size, ("x",), mlp_body((32,))),)

    @classmethod
    def random(cls, steps=6, width=3, size=2, q=0.7, r=0.5, seed=0, dtype=torch.float64) -> "LinearStateSpace":
        """A stable random model: A a rotation scaled by 0.9, C and c standard normal."""
        g = torch.Generator().manual_seed(seed)
        rotation, _ = torch.linalg.qr(torch.randn(size, size, generator=g, dtype=torch.float64))
        C, c = (
            torch.randn(width, size, generator=g, dtype=torch.float64),
            torch.randn(width, generator=g, dtype=torch.float64),
        )
        return cls((0.9 * rotation).to(dtype), C.to(dtype), c.to(dtype), q, r, steps)

    @torch.no_grad()
    def simulate(self, lengths: torch.Tensor) -> torch.Tensor:
        """Packed rows of sequences of ``lengths`` steps drawn from the model (the global RNG)."""
        present = torch.arange(self.sequence.steps, device=lengths.device) < lengths[:, None]
        z = MarkovGaussian(self.step, self.A.new_zeros(self.A.shape[0]), present).sample()
        z = z.unflatten(-1, (self.sequence.steps, -1))
        values = z @ self.C.T + self.c + self.r * torch.randn(*z.shape[:-1], self.C.shape[0], dtype=z.dtype)
        return pack(values, lengths).to(self.A.dtype)

    def step(self, z_prev, context=None):
        loc = z_prev @ self.A.T
        return loc, self.q.expand(loc.shape)

    def placeholder(self, num: int) -> torch.Tensor:
        """``num`` rows that trace the model (:func:`aevb.models.contract.placeholder_rows`)."""
        return self.sequence.placeholder(num)

    def forward(self, x: torch.Tensor, *, num_data=None, index=None):
        if is_validation_enabled():
            check_packed(x, self.sequence.width, "state-space data")
        _, present = unpack(x, self.sequence.width)
        with data_plate(x, num_data, index):
            z = pyro.sample("z", MarkovGaussian(self.step, self.A.new_zeros(self.A.shape[0]), present))
            steps = dist.Normal(z.unflatten(-1, (self.sequence.steps, -1)) @ self.C.T + self.c, self.r).to_event(1)
            pyro.sample("x", ObservedSteps(steps, present), obs=x)
        return z

    # ----------------------------------------------------------------- exact answers
    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x_{1:T}) of every packed row by the Kalman filter (each row's own length)."""
        values, present = unpack(x, self.sequence.width)
        size = self.A.shape[0]
        eye = torch.eye(size, dtype=x.dtype, device=x.device)
        mean = x.new_zeros(len(x), size)
        cov = (self.q**2 * eye).expand(len(x), size, size)
        total = x.new_zeros(len(x))
        R = self.r**2 * torch.eye(self.sequence.width, dtype=x.dtype, device=x.device)
        for t in range(self.sequence.steps):
            if t > 0:  # predict
                mean = mean @ self.A.T
                cov = self.A @ cov @ self.A.T + self.q**2 * eye
            S = self.C @ cov @ self.C.T + R
            residual = values[:, t] - (mean @ self.C.T + self.c)
            inside = present[:, t]
            total = total + torch.where(
                inside, dist.MultivariateNormal(torch.zeros_like(residual), S).log_prob(residual), 0.0
            )
            gain = cov @ self.C.T @ torch.linalg.inv(S)
            mean = torch.where(inside[:, None], mean + (gain @ residual[..., None])[..., 0], mean)
            cov = torch.where(inside[:, None, None], cov - gain @ self.C @ cov, cov)
        return total

    def _joint(self, present: torch.Tensor):
        """The prior covariance of each row's latents (steps·size, flattened) and the observation map."""
        steps, size = self.sequence.steps, self.A.shape[0]
        eye = torch.eye(size, dtype=self.A.dtype, device=self.A.device)
        # z = L ε over the chain: z_t = Σ_{s≤t} A^{t−s} q ε_s
        blocks = [[torch.zeros_like(eye) for _ in range(steps)] for _ in range(steps)]
        for t in range(steps):
            power = eye
            for s in range(t, -1, -1):
                blocks[t][s] = self.q * power
                power = power @ self.A
        L = torch.cat([torch.cat(row, 1) for row in blocks], 0)
        chain = L @ L.T
        inside = present.repeat_interleave(size, dim=-1).to(chain.dtype)  # (N, steps·size)
        both = inside[:, :, None] * inside[:, None, :]
        prior = chain * both + torch.diag_embed(1 - inside)
        H = torch.block_diag(*([self.C] * steps))
        return prior, H

    def posterior(self, x: torch.Tensor):
        """p(z_{1:T} | x_{1:T}) of every row, exactly: (mean (N, steps, size), covariance (N, steps·size, steps·size));
        past a sequence's end, N(0, I)."""
        values, present = unpack(x, self.sequence.width)
        prior, H = self._joint(present)
        observed = present.repeat_interleave(self.sequence.width, dim=-1).to(prior.dtype)
        noise_precision = observed / self.r**2  # unobserved steps carry no information
        precision = torch.linalg.inv(prior) + H.T @ (noise_precision[..., None] * H)
        cov = torch.linalg.inv(precision)
        residual = (values - self.c).flatten(-2) * observed
        mean = cov @ (H.T @ (noise_precision * residual)[..., None])
        return mean[..., 0].reshape(len(x), self.sequence.steps, -1), cov

    def log_marginal_dense(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x_{1:T}) again, from the joint Gaussian (unobserved steps' values stand in as a
        standard normal at zero, whose density is then taken out)."""
        values, present = unpack(x, self.sequence.width)
        prior, H = self._joint(present)
        observed = present.repeat_interleave(self.sequence.width, dim=-1).to(prior.dtype)
        both = observed[:, :, None] * observed[:, None, :]
        cov = (H @ prior @ H.T + self.r**2 * torch.eye(H.shape[0], dtype=prior.dtype)) * both + torch.diag_embed(
            1 - observed
        )
        residual = (values - self.c).flatten(-2) * observed
        unobserved = (1 - observed).sum(-1)
        return (
            dist.MultivariateNormal(torch.zeros_like(residual), cov).log_prob(residual)
            + 0.5 * math.log(2 * math.pi) * unobserved
        )


class ExactStateSpaceGuide(nn.Module):
    """q(z|x) = p(z|x) of a :class:`LinearStateSpace`: every importance weight equals p(x); with
    ``widen`` > 1, the posterior with its covariance scaled by ``widen``², a proposal of the right
    shape and the wrong width (every weight then differs)."""

    amortised = True
    density_anywhere = True

    def __init__(self, model: LinearStateSpace, widen: float = 1.0):
        super().__init__()
        self.model, self.widen = model, widen

    def forward(self, x: torch.Tensor, *, num_data=None, index=None):
        mean, cov = self.model.posterior(x)
        with data_plate(x, num_data, index):
            return pyro.sample("z", dist.MultivariateNormal(mean.flatten(-2), covariance_matrix=cov * self.widen**2))
