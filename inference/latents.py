"""A model's latent sites, read from its Pyro trace, and one vector of them per datapoint.

Every algorithm and estimator of the collection works from the model's traces over all its
latent sites, never a named one. The *local* latent sites are the sampled, unobserved sites
inside the ``"data"`` plate (the model contract, :mod:`aevb.models.mlp`); *global* ones lie
outside it (full VB's weights). Where one vector of all of a datapoint's local latents is
needed (the HMC of Monte Carlo EM, Appendix D, AIS), :class:`LatentLayout` packs the sites'
values into it and back, datapoint by datapoint.

Why not Pyro's :func:`pyro.infer.mcmc.util.initialize_model`: it builds one potential energy
over *all* latent values of a model at once (their sum over the data), for one chain, in the
unconstrained space of every site. Appendix D, AIS and MCEM need a chain *per datapoint*,
vectorised over the data plate, with each datapoint's own energy for its accept/reject step
and its own step size; so the layout keeps the plate's dimension and packs only the event
dimensions. The sites must be real-valued (the collection's are all Gaussian), which is what
HMC on the packed vector and Appendix D's Gaussian fit assume; a model with a constrained
latent site is refused with the reason.

**Discrete sites** with finite support (a class label y) are not packed: every density these
estimators evaluate, :func:`marginal_log_densities`, sums them out exactly by Pyro's parallel
enumeration (:func:`pyro.infer.config_enumerate`, :class:`pyro.poutine.enum`), so a chain moves
the continuous latents under log p(x, z) = log Σ_y p(x, y, z). The sum is brute force over the
joint values of all discrete sites of a datapoint (exact for any dependency between them; its cost
is the product of their supports).
"""

import math
from dataclasses import dataclass

import pyro
import pyro.poutine as poutine
import torch
from pyro.infer import config_enumerate
from pyro.poutine.util import site_is_subsample
from torch.distributions import constraints

#: The plate every model's datapoints live in (the model contract).
DATA_PLATE = "data"
#: The observed site of every model (the model contract).
OBSERVED = "x"


def observed_sites(trace) -> list:
    """The names of the trace's observed sample sites (never a plate's subsample index)."""
    sites = trace.nodes.items()
    return [n for n, s in sites if s["type"] == "sample" and s["is_observed"] and not site_is_subsample(s)]


def is_latent(site) -> bool:
    """A sampled, unobserved site that is not a plate's subsample index."""
    return site["type"] == "sample" and not site["is_observed"] and not site_is_subsample(site)


def is_enumerable(site) -> bool:
    """A discrete latent site with finite support, which densities sum out (:func:`marginal_log_densities`)."""
    return is_latent(site) and getattr(site["fn"], "has_enumerate_support", False)


def enumerated_sites(trace) -> list:
    """The names of the trace's local latent sites marked for enumeration (``infer={"enumerate": ...}``),
    which the program sums out itself (Pyro's convention: a guide need not sample them)."""
    return [n for n in local_latent_sites(trace) if trace.nodes[n]["infer"].get("enumerate") is not None]


def in_data_plate(site) -> bool:
    return any(frame.name == DATA_PLATE for frame in site["cond_indep_stack"])


def local_latent_sites(trace) -> list:
    """The names of the trace's local latent sites (inside the ``"data"`` plate), in sampling order."""
    return [name for name, site in trace.nodes.items() if is_latent(site) and in_data_plate(site)]


def global_latent_sites(trace) -> list:
    """The names of the trace's global latent sites (outside the ``"data"`` plate)."""
    return [name for name, site in trace.nodes.items() if is_latent(site) and not in_data_plate(site)]


@dataclass(frozen=True)
class LatentLayout:
    """How a datapoint's local latent sites pack into one vector of ``size`` numbers: the sites in
    the model's sampling order, each flattened over its event shape (``shapes``)."""

    sites: tuple
    shapes: tuple

    @classmethod
    def from_trace(cls, trace) -> "LatentLayout":
        sites, shapes = [], []
        for name in local_latent_sites(trace):
            site = trace.nodes[name]
            if is_enumerable(site):  # summed out of every density, not packed
                continue
            support = site["fn"].support
            while isinstance(support, constraints.independent):
                support = support.base_constraint
            if support is not constraints.real:
                raise ValueError(
                    f"latent site {name!r} has support {site['fn'].support}: packing latents into one vector (HMC, "
                    "AIS, "
                    "Appendix D) needs real-valued sites"
                )
            sites.append(name)
            shapes.append(tuple(site["fn"].event_shape))
        if not sites:
            raise ValueError("the model samples no continuous latent site inside the 'data' plate")
        return cls(tuple(sites), tuple(shapes))

    @classmethod
    def of(cls, model, x: torch.Tensor) -> "LatentLayout":
        """The layout of ``model``'s local latents, from one trace on the first row of ``x`` (in a
        forked RNG: finding the layout changes no draw that follows)."""
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.no_grad(), pyro.validation_enabled(False), torch.random.fork_rng(devices=devices):
            return cls.from_trace(poutine.trace(model).get_trace(x[:1], num_data=1))

    @property
    def sizes(self) -> tuple:
        return tuple(math.prod(shape) for shape in self.shapes)

    @property
    def size(self) -> int:
        """The length of one datapoint's vector."""
        return sum(self.sizes)

    def flatten(self, values: dict) -> torch.Tensor:
        """``{site: (..., B, *shape)}`` → ``(..., B, size)``."""
        parts = []
        for name, shape in zip(self.sites, self.shapes):
            value = values[name]
            parts.append(value.reshape(*value.shape[: value.dim() - len(shape)], -1))
        return torch.cat(parts, dim=-1)

    def unflatten(self, vector: torch.Tensor) -> dict:
        """``(..., B, size)`` → ``{site: (..., B, *shape)}``."""
        parts = vector.split(self.sizes, dim=-1)
        return {
            name: part.reshape(*part.shape[:-1], *shape) for name, part, shape in zip(self.sites, parts, self.shapes)
        }


def traced(model, x: torch.Tensor, values: dict = None):
    """The trace of ``model`` on ``x`` (all of it: ``num_data = len(x)``), with the latent sites in
    ``values`` conditioned to them; the others are sampled."""
    program = poutine.condition(model, data=values) if values else model
    return poutine.trace(program).get_trace(x, num_data=len(x))


def log_densities_per_point(trace) -> tuple:
    """(log prior of the local latents, log likelihood of x), each per datapoint and unscaled by the
    plate: sums over the trace's sites inside the ``"data"`` plate, keeping batch dimensions. The
    likelihood is the ``"x"`` site's (latents conditioned to values count as observed in a trace,
    so the split is by the contract's name, not by ``is_observed``)."""
    prior, likelihood = 0.0, 0.0
    for name, site in trace.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site) or not in_data_plate(site):
            continue
        value = site["fn"].log_prob(site["value"])
        if name == OBSERVED:
            likelihood = likelihood + value
        else:
            prior = prior + value
    return prior, likelihood


#: Where Pyro's parallel enumeration starts (here and in :mod:`aevb.inference.estimators.weights`):
#: left of the ``"data"`` plate (−1) and of one leading dimension of draws (−2).
FIRST_ENUM_DIM = -3


def sum_enumerated(log_density, batch_shape: tuple):
    """log Σ over the enumerated values of ``log_density``, whose dimensions left of the last two are
    the enumeration's (the brute-force sum over every joint value), in ``batch_shape``; a density
    without enumeration dimensions as it is."""
    if not torch.is_tensor(log_density) or log_density.dim() <= 2:
        return log_density
    return torch.logsumexp(log_density.reshape(-1, *log_density.shape[-2:]), 0).reshape(batch_shape)


def marginal_log_densities(model, x: torch.Tensor, values: dict) -> tuple:
    """(log p(zᵢ), log p(xᵢ, zᵢ)) of every datapoint at the continuous local latents ``values``
    (``{site: (..., B, *shape)}``, at most one leading sample dimension), every discrete local site
    summed out exactly (module docstring): log Σ_y p(y, z) and log Σ_y p(x, y, z). Without discrete
    sites: the log prior and log joint of the model's own trace."""
    program = poutine.enum(config_enumerate(model, "parallel"), first_available_dim=FIRST_ENUM_DIM)
    trace = traced(program, x, values)
    prior, likelihood = log_densities_per_point(trace)
    if not any(s["type"] == "sample" and "_enumerate_dim" in s["infer"] for s in trace.nodes.values()):
        return prior, prior + likelihood  # nothing was enumerated: the densities as they are
    name = next(iter(values))
    value, event_dim = values[name], trace.nodes[name]["fn"].event_dim
    batch_shape = tuple(value.shape[: value.dim() - event_dim])
    return sum_enumerated(prior, batch_shape), sum_enumerated(prior + likelihood, batch_shape)


def log_joint_per_point(model, x: torch.Tensor, values: dict) -> torch.Tensor:
    """log p(xᵢ, zᵢ) of every datapoint for the continuous local latents ``values`` (``{site: (..., B,
    *shape)}``, at most one leading sample dimension), discrete sites summed out
    (:func:`marginal_log_densities`)."""
    return marginal_log_densities(model, x, values)[1]


def prior_draws(model, x: torch.Tensor, num_draws: int = None) -> dict:
    """Draws of every local latent site from the model's prior, ancestrally (z₂, then z₁ | z₂, ...):
    ``{site: (num_draws, B, *shape)}``, or without the leading dimension when ``num_draws`` is None."""
    with torch.no_grad():
        if num_draws is None:
            trace = traced(model, x)
        else:
            with pyro.plate("prior_draws", num_draws, dim=-2):
                trace = traced(model, x)
    return {name: trace.nodes[name]["value"] for name in local_latent_sites(trace)}


@torch.no_grad()
def guide_draws(guide, x: torch.Tensor) -> dict:
    """One draw of every local latent site from the guide q(z|x): ``{site: (B, *shape)}``."""
    trace = poutine.trace(guide).get_trace(x, num_data=len(x))
    return {name: trace.nodes[name]["value"] for name in local_latent_sites(trace)}


def guide_log_density(guide, x: torch.Tensor, values: dict, num_data: int = None, index=None) -> torch.Tensor:
    """log q(zᵢ | xᵢ) of every datapoint at the local latents ``values`` (which the guide need not
    have drawn: it must be able to evaluate its density anywhere); ``x`` is the whole data set, or
    the rows ``index`` of one of ``num_data`` points (a guide with per-point parameters reads them)."""
    trace = poutine.trace(poutine.condition(guide, data=values)).get_trace(x, num_data=num_data or len(x), index=index)
    total = 0.0
    for name in values:  # conditioned, these sites are observed in the trace: sum them by name
        site = trace.nodes[name]
        total = total + site["fn"].log_prob(site["value"])
    return total


@torch.no_grad()
def observed_mean(model, x_like: torch.Tensor, values: dict) -> torch.Tensor:
    """E[x | latents]: the mean of the model's ``"x"`` site with its local latents set to ``values``
    (``x_like`` gives the batch size, device and dtype; its values are not used), e.g. for sample
    and reconstruction images."""
    with pyro.validation_enabled(False):
        return traced(model, x_like, values).nodes[OBSERVED]["fn"].mean
