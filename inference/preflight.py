"""The one check a model and guide pass before any work: :func:`preflight`.

The combination rules (:mod:`aevb.inference.rules`) read declarations; this reads the programs
themselves, from one trace of each on the first rows of the data, with Pyro's argument
validation on for that one batch (the training loop turns it off in its hot loop). It runs at the
start of :func:`aevb.inference.training.fit` and of every estimator, so a model the collection
cannot read is refused with one line before any work, instead of giving a number that is wrong
(an ELBO off by N/M, an AIS estimate of exactly 0.0) or a bare ``KeyError``. In order:

* the program takes the contract's keywords (``num_data``, ``index``);
* the model observes the data at ``"x"``, inside the plate ``"data"``;
* that plate weighs each datapoint N/M (its size is the data set's, not the batch's);
* the data are in the support of the observed site's distribution;
* the guide samples every local latent site the model has, inside ``"data"`` and weighed as the
  model weighs it, and no site the model does not have (auxiliary sites aside);
* a guide that declares ``density_anywhere`` evaluates log q at points it did not draw.

Each refusal is a :class:`ContractError`, one line naming the site, the declaration or the fix;
:func:`aevb.inference.programs.wrap` is the fix for most of them.
"""

import math
import re

import pyro
import pyro.poutine as poutine
import torch

from .capabilities import capabilities, describe
from .latents import (
    DATA_PLATE,
    OBSERVED,
    enumerated_sites,
    guide_log_density,
    is_latent,
    local_latent_sites,
    observed_sites,
)
from .training.rng import isolated_rng

#: How many rows of the data the check traces (all of them when the batch is smaller).
ROWS = 8
WRAP = "aevb.wrap(model, guide)"


class ContractError(ValueError):
    """A model or guide does not follow the contract (docs/contracts.md); the message names the fix."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _trace(program, role: str, x, kwargs):
    """A trace of ``program`` on ``x``, its refusals of the call itself as one line."""
    try:
        return poutine.trace(program).get_trace(x, **kwargs)
    except TypeError as e:
        if re.search(r"unexpected keyword argument '(num_data|index)'", str(e)):
            raise ContractError(
                f"the {role} {describe(program)} does not take the contract's keywords num_data and index "
                f"({_first_line(e)}): wrap it, {WRAP}"
            ) from None
        raise
    except ValueError as e:  # Pyro's validation of arguments and values (support), or the program's own checks
        raise ContractError(f"the {role} {describe(program)} refused the data: {_first_line(e)}") from None


def _plates(site) -> str:
    return ", ".join(repr(f.name) for f in site["cond_indep_stack"]) or "none"


def check_model(model, trace, x, num_data: int) -> None:
    """The model's observed site, its plate and scale, and the data's support."""
    name = describe(model)
    if OBSERVED not in trace.nodes or not trace.nodes[OBSERVED]["is_observed"]:
        observed = observed_sites(trace)
        if len(observed) == 1:
            fix = f"wrap it, aevb.wrap(model, guide, observed={observed[0]!r})"
        else:
            fix = "observe the data with pyro.sample('x', ..., obs=x)"
        found = ", ".join(repr(n) for n in observed) or "none"
        raise ContractError(f"the model {name} observes no site {OBSERVED!r} (observed sites: {found}): {fix}")
    site = trace.nodes[OBSERVED]
    if not any(frame.name == DATA_PLATE for frame in site["cond_indep_stack"]):
        plates = [f.name for f in site["cond_indep_stack"]]
        fix = (
            f"wrap it, aevb.wrap(model, guide, plate={plates[0]!r})"
            if len(plates) == 1
            else "put the datapoints in pyro.plate('data', num_data, subsample=index)"
        )
        raise ContractError(
            f"the model {name} observes {OBSERVED!r} outside a plate named {DATA_PLATE!r} "
            f"(its plates: {_plates(site)}): {fix}"
        )
    batch = len(x)
    scale = float(site["scale"]) if not torch.is_tensor(site["scale"]) else site["scale"].max().item()
    if num_data > batch and math.isclose(scale, 1.0):
        raise ContractError(
            f"the model {name}'s plate {DATA_PLATE!r} has the batch's size, not the data set's: "
            f"every ELBO would be off by a factor N/M (N = {num_data}, M the batch's size); "
            f"use pyro.plate('data', num_data, subsample=index) or wrap it, {WRAP}"
        )
    fn, value = site["fn"], site["value"]
    if not bool(fn.support.check(value).all()):
        family = type(getattr(fn, "base_dist", fn)).__name__
        raise ContractError(
            f"the data are not in the support of the model {name}'s observed site {OBSERVED!r} ({family}: "
            f"{fn.support}); e.g. binarise grey levels for a Bernoulli likelihood (--binarize dynamic) or choose "
            "a likelihood for the data"
        )


def check_guide(model_trace, guide, guide_trace) -> None:
    """The guide samples exactly the model's local latent sites, those the model sums out itself
    (marked for enumeration, as Pyro's TraceEnum_ELBO allows) aside, and, auxiliary sites aside, only
    latent sites the model has."""
    model_latents = {n for n, s in model_trace.nodes.items() if is_latent(s)}
    # auxiliary sites (Pyro's AutoNormal samples "<site>_unconstrained" ones) are the guide's own
    guide_latents = [n for n, s in guide_trace.nodes.items() if is_latent(s) and not s["infer"].get("is_auxiliary")]
    summed = set(enumerated_sites(model_trace))
    local = [n for n in local_latent_sites(model_trace) if n in guide_latents or n not in summed]
    missing = [n for n in local if n not in guide_latents]
    extra = [n for n in guide_latents if n not in model_latents]
    name = describe(guide)
    if missing:
        raise ContractError(
            f"the guide {name} does not sample the model's local latent site {missing[0]!r}: a guide samples "
            "every local latent site of the model"
        )
    for site_name in local:
        site = guide_trace.nodes[site_name]
        if not any(frame.name == DATA_PLATE for frame in site["cond_indep_stack"]):
            raise ContractError(
                f"the guide {name} samples {site_name!r} outside a plate named {DATA_PLATE!r} (its plates: "
                f"{_plates(site)}): sample it in the model's data plate"
            )
        if not torch.allclose(torch.as_tensor(site["scale"]), torch.as_tensor(model_trace.nodes[site_name]["scale"])):
            raise ContractError(
                f"the guide {name} weighs {site_name!r} by {float(torch.as_tensor(site['scale']).max()):g} and the "
                f"model by {float(torch.as_tensor(model_trace.nodes[site_name]['scale']).max()):g}: give the guide's "
                "plate the model's size and subsample (num_data, index)"
            )
    if extra:
        raise ContractError(
            f"the guide {name} samples {extra[0]!r}, which the model does not have (its latent sites: "
            f"{', '.join(repr(n) for n in sorted(model_latents)) or 'none'})"
        )


def check_density_anywhere(model_trace, guide, x, kwargs) -> None:
    """A guide that declares ``density_anywhere`` evaluates a finite log q at the model's own draws."""
    values = {n: model_trace.nodes[n]["value"] for n in local_latent_sites(model_trace)}
    try:
        log_q = guide_log_density(guide, x, values, **kwargs)
    except Exception as e:  # noqa: BLE001 - whatever stops it, the declaration does not hold
        raise ContractError(
            f"the guide {describe(guide)} declares density_anywhere but cannot evaluate log q at points it did "
            f"not draw ({_first_line(e) or type(e).__name__}): declare density_anywhere=False"
        ) from None
    if not torch.isfinite(torch.as_tensor(log_q)).all():
        raise ContractError(
            f"the guide {describe(guide)} declares density_anywhere but its log q at the model's prior draws is "
            "not finite: declare density_anywhere=False"
        )


def _structure(model, guide, x, kwargs) -> list:
    """(site, distribution, value shape, plates) of every sample site of a trace of ``guide`` and of
    ``model`` replayed on its draws (of ``model`` alone when ``guide`` is None)."""
    traces = []
    if guide is not None:
        traces.append(poutine.trace(guide).get_trace(x, **kwargs))
        model = poutine.replay(model, trace=traces[0])
    traces.append(poutine.trace(model).get_trace(x, **kwargs))
    return [
        (
            role,
            name,
            type(site["fn"]).__name__,
            tuple(torch.as_tensor(site["value"]).shape),
            tuple((f.name, f.size, f.dim) for f in site["cond_indep_stack"]),
        )
        for role, trace in zip(("guide", "model")[-len(traces) :], traces)
        for name, site in trace.nodes.items()
        if site["type"] == "sample"
    ]


@torch.no_grad()
def dynamic_structure(model, guide, x: torch.Tensor, *, num_data: int, index: torch.Tensor = None):
    """Why the pair's structure changes with the values drawn (one line), or None: two traces of the
    guide and of the model replayed on its draws, on ``x`` with different draws, must have the same
    sample sites, distributions, shapes and plates. A step whose structure is static is the same
    tensor computation on every batch of this shape, so it can be traced once and replayed
    (:mod:`aevb.inference.training.compile`). The random state is left as it was."""
    kwargs = {"num_data": num_data, "index": index}
    with isolated_rng(x.device), pyro.validation_enabled(False):
        structures = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            structures.append(_structure(model, guide, x, kwargs))
    first, second = structures
    if first == second:
        return None
    changed = next((a, b) for a, b in zip(first + [None], second + [None]) if a != b)
    site = next(s for s in changed if s is not None)
    return f"the {site[0]}'s sample sites change with the values drawn (at site {site[1]!r}: stochastic control flow)"


@torch.no_grad()
def preflight(model, guide, x: torch.Tensor, *, num_data: int = None, index: torch.Tensor = None) -> None:
    """Check ``model`` (and ``guide`` unless None) on the first :data:`ROWS` rows of ``x``, a batch of
    a data set of ``num_data`` points (default: ``x`` is the whole data set), before any work; see
    the module docstring. torch's RNG is left as it was (Pyro draws from it only)."""
    if len(x) == 0:
        raise ContractError("the data are empty: there is nothing to check or fit")
    batch = x[:ROWS]
    num_data = num_data or len(x)
    index = index[:ROWS] if index is not None else torch.arange(len(batch), device=x.device)
    kwargs = {"num_data": max(num_data, len(batch)), "index": index}
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), pyro.validation_enabled(True):
        model_trace = _trace(model, "model", batch, kwargs)
        check_model(model, model_trace, batch, kwargs["num_data"])
        if guide is None:
            return
        guide_trace = _trace(guide, "guide", batch, kwargs)
        check_guide(model_trace, guide, guide_trace)
        if capabilities(guide, "guide").density_anywhere and local_latent_sites(model_trace):
            check_density_anywhere(model_trace, guide, batch, kwargs)
