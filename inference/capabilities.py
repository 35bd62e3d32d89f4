"""Declared capabilities: what a model, a guide, an algorithm or a log-likelihood estimator offers
and needs, read one way (in the spirit of scikit-learn's estimator tags).

Each role has one dataclass whose field defaults are *the* defaults of its declarations, in this
one place. :func:`capabilities` returns the declarations of any object in a role: a class of the
collection, an instance of one, or a user's own Pyro function or module that inherits nothing
from the collection (it gets the defaults, which claim nothing it may not have).
:func:`declare` sets declarations on such an object, checked by name and type::

    def guide(x, *, num_data=None, index=None): ...
    aevb.inference.declare(guide, amortised=True, density_anywhere=True)

Every combination rule (:mod:`aevb.inference.rules`) and every refusal reads these dataclasses,
never an attribute of its own and never a class's name, and names the missing declaration.
The contract each role's program must follow is :mod:`aevb.inference.contracts`
(docs/contracts.md).
"""

import inspect
from dataclasses import dataclass, fields
from typing import Callable, Optional


@dataclass(frozen=True)
class ModelCapabilities:
    """What a model declares.

    :param analytic_prior: every local site's prior is a fixed distribution (no latent parents),
        so a guide with a closed-form KL to it can use estimator B (eq. 7).
    :param sequence_model: its datapoints are sequences packed as rows (:mod:`aevb.data.sequences`)
        and it offers ``sequence`` (steps, numbers per step, latent size per step), which the guides
        that follow time read.
    :param recurrent: its latents follow a learned recurrence (z_t from z_{t−1} through its weights),
        which weights drawn from a broad prior make diverge over the steps (no full VB).
    :param latent_shape_varies: the size of a datapoint's latents depends on the minibatch it is in
        (a sequence model that cuts a minibatch to its longest sequence), so no state of a fixed
        size can be kept per datapoint between steps.
    :param discrete_latents: it has local latent sites with finite support (a class label y),
        which only the algorithms and estimators that declare ``handles_discrete`` sum out.
    :param structured_output: it conditions on part of each row and observes only the rest at ``"x"``
        (structured output), so what it generates is not a row (no algorithm that dreams data).
    """

    analytic_prior: bool = False
    sequence_model: bool = False
    recurrent: bool = False
    latent_shape_varies: bool = False
    discrete_latents: bool = False
    structured_output: bool = False


@dataclass(frozen=True)
class GuideCapabilities:
    """What a guide declares.

    :param amortised: its local parameters come from an encoder, so it runs on data it was not
        fitted to (dreamed data for wake-sleep, new test points).
    :param analytic_kl: KL(q ‖ p) of every site has a closed form where the model's prior allows
        (estimator B).
    :param density_anywhere: log q can be evaluated at points it did not draw (AIS from the guide,
        reweighted wake-sleep).
    :param per_point_state: it keeps parameters per training point (sparse updates; no data
        parallelism).
    :param needs_sequence_model: it follows the data's time steps, so it needs a model that declares
        ``sequence_model``.
    :param needs_fixed_latent_shape: its outputs have the sizes the model's ``local_sites`` give, so it
        cannot follow a model whose latents' size varies with the minibatch.
    :param auxiliary_loss: optional ``auxiliary_loss(x, *, num_data, index) -> tensor``: a term the
        training loop adds to every algorithm's surrogate, never to a bound or an estimate (M2's
        α-weighted classification loss, Kingma et al. 2014, eq. 9).
    """

    amortised: bool = False
    analytic_kl: bool = False
    density_anywhere: bool = False
    per_point_state: bool = False
    needs_sequence_model: bool = False
    needs_fixed_latent_shape: bool = False
    auxiliary_loss: Optional[Callable] = None


@dataclass(frozen=True)
class AlgorithmCapabilities:
    """What a fitting algorithm declares (its step is the contract's; these say what it needs).

    :param needs_guide: it trains a guide; without one no guide is built, and estimators that
        sample from a guide cannot score the run.
    :param needs_amortised_guide: it runs the guide on data it was not fitted to.
    :param needs_density_anywhere: it evaluates log q at points the guide did not draw.
    :param uses_estimator: it reads the SGVB estimator A or B (B needs closed-form KL).
    :param min_particles: the fewest ``num_particles`` it works with.
    :param supports_compile: its step is a fixed tensor computation per input shape, so the
        compiled step (:mod:`aevb.inference.training.compile`) may trace it.
    :param data_parallel: its state can be split across torch.distributed ranks.
    :param keeps_latents: it keeps each training point's latents between steps (Monte Carlo EM's
        chains), so it needs latents of one size per datapoint.
    :param infers_weights: it puts its own prior on the model's weights and infers them (so a
        MAP prior on them does not apply).
    :param handles_discrete: it sums a model's discrete latent sites out by enumeration (Pyro's
        ``TraceEnum_ELBO``, or the exact sum over y inside each importance weight).
    :param dreams: it runs the guide on data generated by the model, as rows (wake-sleep's sleep phase).
    :param train_metric: the name of the training metric its step's ``bound`` is.
    :param train_metric_is_bound: that metric is a lower bound on the training points' log p(x)
        (a step-size search may rank by it).
    :param updates_per_batch: optimiser updates per minibatch.
    :param begin_batch: optional ``begin_batch(x, *, num_data, index)``, run once per minibatch
        before its updates (Monte Carlo EM's E-step).
    :param diagnostics: optional ``diagnostics(num_data) -> dict`` of numbers of its own per epoch.
    :param point_model: optional ``point_model()``: the model test numbers are computed with
        (full VB's at q(θ)'s mean); without it, the algorithm's model.
    """

    needs_guide: bool = True
    needs_amortised_guide: bool = False
    needs_density_anywhere: bool = False
    uses_estimator: bool = False
    min_particles: int = 1
    supports_compile: bool = False
    data_parallel: bool = True
    keeps_latents: bool = False
    infers_weights: bool = False
    handles_discrete: bool = False
    dreams: bool = False
    train_metric: str = "train_elbo"
    train_metric_is_bound: bool = True
    updates_per_batch: int = 1
    begin_batch: Optional[Callable] = None
    diagnostics: Optional[Callable] = None
    point_model: Optional[Callable] = None


@dataclass(frozen=True)
class EstimatorCapabilities:
    """What a log-likelihood estimator declares.

    :param needs_guide: it samples from q(z|x): a run without a guide cannot use it.
    :param max_latent_size: the largest total size of a datapoint's latents it is valid for.
    :param handles_discrete: it sums a model's discrete latent sites out exactly (inside each
        importance weight, or inside the annealed target density).
    """

    needs_guide: bool = False
    max_latent_size: Optional[int] = None
    handles_discrete: bool = False


#: role → its declarations.
ROLES = {
    "model": ModelCapabilities,
    "guide": GuideCapabilities,
    "algorithm": AlgorithmCapabilities,
    "estimator": EstimatorCapabilities,
}
#: declaration name → (role, field), for :func:`declare`.
_FIELDS = {f.name: (role, f) for role, kind in ROLES.items() for f in fields(kind)}


def _checked(value, f, owner) -> object:
    """``value`` of declaration ``f`` if it has the declared type, else a one-line TypeError."""
    plain = {bool: (bool,), int: (int,), str: (str,), Optional[int]: (int, type(None))}.get(f.type)
    if plain is not None:
        ok = isinstance(value, plain) and (bool in plain or not isinstance(value, bool))
    else:  # an optional hook
        ok = value is None or callable(value)
    if not ok:
        wanted = " or ".join(t.__name__ for t in plain) if plain else "callable or None"
        raise TypeError(
            f"{describe(owner)} declares {f.name} = {value!r}, which is not a {wanted} "
            f"(a declaration is a plain value, e.g. a class attribute)"
        )
    return value


def capabilities(obj, role: str):
    """The declarations of ``obj`` in ``role`` (``"model"``, ``"guide"``, ``"algorithm"`` or
    ``"estimator"``): each one the object declares (an attribute of that name, on the object or its
    class), else the role's default (see the dataclasses above). Works for any object, also one that
    inherits nothing from the collection. A declaration of the wrong type raises a TypeError."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {sorted(ROLES)}, got {role!r}")
    kind = ROLES[role]
    # The one place declarations are probed: every rule reads the dataclass this returns.
    return kind(**{f.name: _checked(getattr(obj, f.name, f.default), f, obj) for f in fields(kind)})


def declare(obj, **declarations):
    """Set declarations on ``obj`` (a user's Pyro function, module or algorithm) and return it.
    Each name must be a declaration of some role (see the dataclasses above) with a value of its type."""
    for name, value in declarations.items():
        if name not in _FIELDS:
            raise ValueError(f"{name!r} is not a declaration; known: {', '.join(sorted(_FIELDS))}")
        _checked(value, _FIELDS[name][1], obj)
        try:
            setattr(obj, name, value)
        except AttributeError:
            raise TypeError(
                f"cannot set {name} on {describe(obj)}: wrap it in a function or module and declare it there"
            ) from None
    return obj


def describe(obj) -> str:
    """A short name for ``obj`` in a message: a class's or function's name, or an instance's class."""
    if obj is None:
        return "none"
    if isinstance(vars(obj).get("__qualname__") if hasattr(obj, "__dict__") else None, str):
        return vars(obj)["__qualname__"]  # an instance that names what it stands for (a wrapped program)
    if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj):
        return obj.__qualname__
    return type(obj).__name__


__all__ = [
    "ROLES",
    "AlgorithmCapabilities",
    "EstimatorCapabilities",
    "GuideCapabilities",
    "ModelCapabilities",
    "capabilities",
    "declare",
    "describe",
]
