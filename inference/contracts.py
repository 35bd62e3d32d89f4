"""The contracts a model, a guide, a fitting algorithm and a log-likelihood estimator follow, as
:class:`typing.Protocol` classes. docs/contracts.md says the same in words; what each may
*declare* beyond its program is :mod:`aevb.inference.capabilities`.

Nothing here is a base class to inherit: any object with these members fits (a user's plain Pyro
function is a :class:`Model`), and :func:`isinstance` checks the members' presence only.
"""

from typing import Iterable, Optional, Protocol, runtime_checkable

import torch


@runtime_checkable
class Model(Protocol):
    """p(z) p_θ(x|z) as a Pyro program.

    It samples its local latent sites (any number, names and shapes per datapoint) inside the
    ``"data"`` plate, whose size is ``num_data`` (the full data set's size) and whose subsample
    is ``index`` (the minibatch's rows; ``0..M-1`` when None), so every log-density is scaled by
    N/M and any ELBO of it is the minibatch estimator of the full-data bound (eq. 8). It observes
    ``"x"``, may sample global sites outside the plate (full VB's weights), and registers its
    networks with Pyro (``pyro.module``). Declarations: :class:`~aevb.inference.capabilities.ModelCapabilities`.
    """

    def __call__(self, x: torch.Tensor, *, num_data: Optional[int] = None, index: Optional[torch.Tensor] = None): ...


@runtime_checkable
class Guide(Protocol):
    """q(z|x) as a Pyro program with the model's signature that samples every local latent site the
    model has (and nothing else) inside the same ``"data"`` plate. Declarations:
    :class:`~aevb.inference.capabilities.GuideCapabilities`."""

    def __call__(self, x: torch.Tensor, *, num_data: Optional[int] = None, index: Optional[torch.Tensor] = None): ...


@runtime_checkable
class Algorithm(Protocol):
    """A fitting algorithm, driven by the one training loop (:func:`aevb.inference.training.fit`).

    ``step`` returns a differentiable surrogate whose gradient is the algorithm's update direction
    (minimised) and a detached estimate of its training metric on all ``num_data`` points;
    ``parameters`` is what the optimiser updates; ``model`` and ``guide`` (None when it trains none)
    are the programs it fits, which :func:`~aevb.inference.training.fit` checks before any work
    (:mod:`aevb.inference.preflight`). Declarations, optional hooks included:
    :class:`~aevb.inference.capabilities.AlgorithmCapabilities`.
    """

    def parameters(self) -> Iterable[torch.Tensor]: ...

    def step(self, x: torch.Tensor, *, num_data: int, index: Optional[torch.Tensor] = None) -> tuple: ...


@runtime_checkable
class LogLikelihoodEstimator(Protocol):
    """An estimator of log p(xᵢ) for every row of ``x`` (nats), and with ``with_error``
    :class:`~aevb.inference.estimators.uncertainty.PointEstimates` (each row's estimate, Monte Carlo
    standard error, effective sample size and reliability flag; a row the estimator refuses has
    the value NaN). Declarations: :class:`~aevb.inference.capabilities.EstimatorCapabilities`."""

    def estimate(
        self,
        model,
        guide,
        x: torch.Tensor,
        *,
        num_samples: int,
        seed: int = 0,
        progress=False,
        with_error: bool = False,
    ): ...


__all__ = ["Algorithm", "Guide", "LogLikelihoodEstimator", "Model"]
