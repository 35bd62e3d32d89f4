"""A Pyro user's own model and guide, brought as they are written: :func:`wrap`.

Pyro's tutorials write a VAE as two functions (or methods of one ``nn.Module``) that take a batch
``x``, sample their latents in a plate named as the user likes, of the batch's size, and observe
``x`` at a site named as they like (``"obs"`` in Pyro's own example). The collection's contract
(docs/contracts.md) asks for more: the signature ``(x, *, num_data, index)``, a plate named
``"data"`` whose size is the whole data set's (so every ELBO is the minibatch estimator of the
full-data bound, eq. 8) and an observed site named ``"x"``. :func:`wrap` bridges the two without
changing the user's code::

    model, guide = aevb.wrap(vae.model, vae.guide)               # names inferred from one trace
    model, guide = aevb.wrap(vae.model, vae.guide, observed="obs", plate="data")   # or declared

Each wrapped program runs the user's under one Pyro messenger (:class:`_Contract`) that renames
the observed site to ``"x"`` and the plate to ``"data"`` as the sites pass, and multiplies the
log-densities inside that plate by ``num_data / plate size``: a plate of the batch's size M then
weighs every datapoint N/M, exactly as a subsampled plate of size N does. Pyro's handlers outside
it (traces, replays, conditioning, particle plates) see only the contract's names.

Why our own messenger: :class:`pyro.poutine.scale` scales every site, global ones too, and
Pyro has no handler that renames a plate; renaming in ``_process_message``, as
:class:`pyro.poutine.scope` does for prefixes, keeps every outer handler unaware of the user's names.

What is inferred when not declared: the observed site (the model's one site with ``obs=``), the
plate (the one plate around it, or the one of them whose size is the batch's), whether the guide
is amortised (a guide that is not passed ``index`` cannot hold parameters per datapoint), and
whether it has a density anywhere (claimed, as every Pyro distribution has a ``log_prob``;
:func:`aevb.inference.preflight.preflight` tests the claim on the first batch before any work).
Parameters are the user's modules' (a module, or the module a method is bound to) and those the
programs create in Pyro's param store (``pyro.param``), found by their first run.
"""

import inspect
import math
from typing import Callable, Optional

import pyro
import pyro.poutine as poutine
import torch
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample
from torch import nn

from aevb.models.contract import LocalSite

from .capabilities import GuideCapabilities, ModelCapabilities, declare
from .latents import DATA_PLATE, OBSERVED, is_latent, observed_sites


class _Contract(Messenger):
    """Renames the user's observed site and plate to the contract's and rescales the plate's sites
    to ``num_data`` datapoints (see the module docstring)."""

    def __init__(self, observed: Optional[str], plate: str, num_data: int):
        super().__init__()
        self.observed, self.plate, self.num_data = observed, plate, num_data

    def _process_message(self, msg):
        if msg["type"] != "sample":
            return
        name = msg["name"]
        if name == self.plate and site_is_subsample(msg):
            msg["name"] = DATA_PLATE
        elif self.observed is not None and name == self.observed and msg["is_observed"]:
            msg["name"] = OBSERVED
        elif name == OBSERVED and self.observed != OBSERVED:
            raise ValueError(
                f"the program has a site named {OBSERVED!r} that is not its observed site {self.observed!r}: "
                f"rename it, since the collection reads the data at {OBSERVED!r}"
            )
        frames = msg["cond_indep_stack"]
        for i, frame in enumerate(frames):
            if frame.name == self.plate:
                if frame.size != self.num_data:  # the plate holds the batch: weigh each point N/M
                    msg["scale"] = msg["scale"] * (self.num_data / frame.size)
                msg["cond_indep_stack"] = frames[:i] + (frame._replace(name=DATA_PLATE),) + frames[i + 1 :]
                break


def _accepted(fn: Callable) -> set:
    """Which of the contract's keywords ``num_data`` and ``index`` the user's program takes."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return set()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return {"num_data", "index"}
    return {name for name in ("num_data", "index") if name in parameters}


def _module_of(fn) -> Optional[nn.Module]:
    """The module whose parameters ``fn`` uses: ``fn`` itself, or the module a method is bound to."""
    if isinstance(fn, nn.Module):
        return fn
    owner = getattr(fn, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


class Names:
    """The user's observed-site and plate names, shared by a wrapped model and its guide: declared,
    or inferred from one trace of the model on the first batch either of them sees."""

    def __init__(self, model: Callable, observed: Optional[str], plate: Optional[str]):
        self.model, self.observed, self.plate = model, observed, plate
        self.data_dim, self.local_sites = None, None  # what the first trace shows of the data and latents

    def resolve(self, x: torch.Tensor, passed: dict) -> None:
        """Infer what was not declared from one trace of the model on ``x`` (``passed``: the contract's
        keywords, of which the model gets those it takes)."""
        if self.data_dim is not None:
            return
        accepted = _accepted(self.model)
        kwargs = {k: v for k, v in passed.items() if k in accepted}
        devices = [x.device] if x.device.type == "cuda" else []
        # hidden from every outer handler, in a forked RNG: finding the names changes no draw that follows
        with poutine.block(), torch.no_grad(), pyro.validation_enabled(False), torch.random.fork_rng(devices=devices):
            trace = poutine.trace(self.model).get_trace(x, **kwargs)
        observed = observed_sites(trace)
        if self.observed is None:
            if len(observed) != 1:
                found = ", ".join(repr(n) for n in observed) or "none"
                raise ValueError(
                    f"cannot tell which site observes the data (observed sites: {found}): wrap(..., observed=NAME)"
                )
            self.observed = observed[0]
        if self.observed not in trace.nodes or not trace.nodes[self.observed]["is_observed"]:
            found = ", ".join(repr(n) for n in observed) or "none"
            raise ValueError(f"the model observes no site {self.observed!r} (observed sites: {found})")
        if self.plate is None:
            frames = [f for f in trace.nodes[self.observed]["cond_indep_stack"] if f.vectorized]
            if len(frames) > 1:
                frames = [f for f in frames if f.size == len(x)]
            if len(frames) != 1:
                found = ", ".join(repr(f.name) for f in trace.nodes[self.observed]["cond_indep_stack"]) or "none"
                raise ValueError(
                    f"cannot tell which plate holds the datapoints of {self.observed!r} (its plates: {found}): "
                    "wrap(..., plate=NAME), a plate over the batch's rows"
                )
            self.plate = frames[0].name
        self.data_dim = x.shape[-1]
        plate = self.plate
        self.local_sites = tuple(
            LocalSite(name, math.prod(site["fn"].event_shape))
            for name, site in trace.nodes.items()
            if is_latent(site) and any(f.name == plate for f in site["cond_indep_stack"])
        )


class Program(nn.Module):
    """A user's Pyro model or guide under the collection's contract (see the module docstring).

    Its parameters are the user's module's (when ``fn`` is a module or a method of one) and the
    Pyro parameters its runs have created (``pyro.param``; found by the first run, which
    :func:`wrap`'s ``example`` makes happen at once).
    """

    def __init__(self, fn: Callable, names: Names, role: str):
        super().__init__()
        if not callable(fn):
            raise TypeError(f"wrap() needs a callable {role}, got {type(fn).__name__}")
        self.fn, self.names, self.role = fn, names, role
        self.owner = _module_of(fn)  # a submodule: .to(device), state_dict and parameters() follow it
        self.accepts = _accepted(fn)
        self.param_names = []  # Pyro parameters its runs created, in first-seen order
        self.has_run = False
        self.__qualname__ = getattr(fn, "__qualname__", type(fn).__name__)  # how messages name it

    @property
    def data_dim(self) -> int:
        """The size of a data row, as the first run saw it (the collection's models offer it)."""
        return self._seen().data_dim

    @property
    def local_sites(self) -> tuple:
        """The model's local latent sites (name and size; no encoder body), as the first run saw them."""
        return self._seen().local_sites

    def _seen(self) -> Names:
        if self.names.data_dim is None:
            raise ValueError(
                f"the wrapped {self.role} {self.__qualname__} has not run yet, so its data size and latent sites are "
                "unknown: give aevb.wrap(..., example=x[:2])"
            )
        return self.names

    def forward(self, x: torch.Tensor, *, num_data: Optional[int] = None, index: Optional[torch.Tensor] = None):
        passed = {"num_data": num_data, "index": index}
        kwargs = {k: v for k, v in passed.items() if k in self.accepts}
        self.names.resolve(x, passed)
        with _Contract(self.names.observed, self.names.plate, num_data or len(x)):
            if self.has_run:
                return self.fn(x, **kwargs)
            with poutine.trace(param_only=True) as params:
                result = self.fn(x, **kwargs)
            self.param_names, self.has_run = list(params.trace.nodes), True
            return result

    def parameters(self, recurse: bool = True):
        """The user's module's parameters, then the Pyro parameters its runs created (once each)."""
        seen = set()
        for p in super().parameters(recurse):
            seen.add(id(p))
            yield p
        store = pyro.get_param_store()
        for name in self.param_names:
            if name in store:
                p = store.get_param(name).unconstrained()
                if id(p) not in seen:
                    seen.add(id(p))
                    yield p


_ROLES = {"model": ModelCapabilities, "guide": GuideCapabilities}


def wrap(
    model: Callable,
    guide: Optional[Callable] = None,
    *,
    observed: Optional[str] = None,
    plate: Optional[str] = None,
    example: Optional[torch.Tensor] = None,
    **declarations,
):
    """A Pyro user's model (and guide) as the collection's programs: ``(model, guide)``, or the
    model alone when no guide is given. See the module docstring.

    :param observed: the model's site that observes the data (default: its one observed site).
    :param plate: the plate over the datapoints (default: the one plate around ``observed``).
    :param example: a batch to run both programs on once now, so that names are resolved and the
        Pyro parameters they create exist before an optimiser is built (plain functions with
        ``pyro.param``); modules and methods of modules need none.
    :param declarations: the model's and the guide's declarations
        (:class:`~aevb.inference.capabilities.ModelCapabilities`,
        :class:`~aevb.inference.capabilities.GuideCapabilities`), e.g. ``analytic_prior=True``
        and ``analytic_kl=True`` for estimator B. A wrapped guide declares ``amortised`` when it is
        not passed ``index`` and ``density_anywhere``, unless told otherwise.
    """
    by_role = {role: {} for role in _ROLES}
    for key, value in declarations.items():
        roles = [role for role, cls in _ROLES.items() if key in cls.__dataclass_fields__]
        if not roles:
            known = sorted({f for cls in _ROLES.values() for f in cls.__dataclass_fields__})
            raise TypeError(f"wrap() got an unexpected keyword {key!r}; declarations are {', '.join(known)}")
        by_role[roles[0]][key] = value
    names = Names(model, observed, plate)
    wrapped_model = declare(Program(model, names, "model"), **by_role["model"])
    if guide is None:
        if by_role["guide"]:
            raise TypeError(f"wrap() got guide declarations ({', '.join(by_role['guide'])}) but no guide")
        programs = wrapped_model
    else:
        wrapped_guide = Program(guide, names, "guide")
        inferred = {"amortised": "index" not in wrapped_guide.accepts, "density_anywhere": True}
        programs = wrapped_model, declare(wrapped_guide, **{**inferred, **by_role["guide"]})
    if example is not None:
        devices = [example.device] if example.device.type == "cuda" else []
        for program in programs if guide is not None else (programs,):
            with torch.no_grad(), poutine.block(), torch.random.fork_rng(devices=devices):
                program(example, num_data=len(example))
    return programs
