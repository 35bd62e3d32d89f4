"""The combination rules: what cannot work together, refused with one line before any work.

Every rule reads declarations (:func:`aevb.inference.capabilities.capabilities`) of the objects
in hand, never a name, and its message names the declaration that is missing. The same rules run
wherever a pipeline is put together: from a configuration (:func:`aevb.build`, before any data
are loaded, on the registered classes), in the algorithms' constructors (a pipeline built by
hand), in the log-likelihood estimators' registry and in :func:`aevb.inference.training.fit`.

Objects may be classes, instances or a user's own Pyro functions; ``names`` replaces the
default wording of one in messages (the programs say ``--guide flow --flow-type planar``).
"""

from .capabilities import capabilities, describe

#: SGVB estimators an algorithm may read (``uses_estimator``); B is the analytic-KL one (eq. 7).
SGVB_ESTIMATORS = ("A", "B")


#: "this piece is not part of the check" (a guide of None means "no guide").
_UNSET = object()


class CombinationError(ValueError):
    """A model, guide, algorithm and estimator that cannot work together; the message names the
    declaration that is missing."""


def closed_form_kl(model, guide) -> bool:
    """Estimator B's condition: the guide declares ``analytic_kl`` and the model ``analytic_prior``."""
    return capabilities(guide, "guide").analytic_kl and capabilities(model, "model").analytic_prior


def resolve_estimator(estimator: str, model, guide) -> str:
    """``"auto"`` → ``"B"`` where :func:`closed_form_kl` holds, else ``"A"``; A or B as they are."""
    if estimator == "auto":
        return "B" if closed_form_kl(model, guide) else "A"
    if estimator not in SGVB_ESTIMATORS:
        raise ValueError(f"estimator must be auto, A or B, got {estimator!r}")
    return estimator


def check(
    algorithm=None,
    *,
    model=None,
    guide=_UNSET,
    estimator=None,
    num_particles=None,
    sgvb=None,
    map_prior=False,
    compiled=False,
    data_parallel=False,
    latent_size=None,
    names=None,
) -> None:
    """Refuse, with a :class:`CombinationError`, whatever the given pieces cannot do together.

    :param algorithm: a fitting algorithm (class or instance), or None when none is involved.
    :param model: the model (its declarations: ``analytic_prior``, ``recurrent``, ``latent_shape_varies``,
        ``discrete_latents``, ``structured_output``).
    :param guide: the guide, or None for a run without one (left out: the guide rules do not run).
    :param estimator: a log-likelihood estimator (its declarations: ``needs_guide``, ``max_latent_size``,
        ``handles_discrete``).
    :param num_particles: the algorithm's particle count (read against ``min_particles``).
    :param sgvb: the SGVB estimator ``"A"`` or ``"B"`` the algorithm is to use (``uses_estimator``).
    :param map_prior: a MAP prior on the model's weights is asked for (``infers_weights``).
    :param compiled: the step is to be compiled (``supports_compile``).
    :param data_parallel: the run is split across ranks (``data_parallel``, ``per_point_state``).
    :param latent_size: a datapoint's total latent size (read against ``max_latent_size``).
    :param names: ``{role: words}`` for messages, e.g. ``{"guide": "--guide flow --flow-type planar"}``; also the
        words for the settings ``"sgvb"``, ``"compile"``, ``"num_particles"`` and ``"map_prior"`` (e.g.
        ``"--estimator"``).
    """
    names = {
        "sgvb": "estimator",
        "compile": "compile",
        "num_particles": "num_particles",
        "map_prior": "a MAP prior",
        **(names or {}),
    }
    for role, obj in (("algorithm", algorithm), ("model", model), ("guide", guide), ("estimator", estimator)):
        names.setdefault(role, describe(None if obj is _UNSET else obj))
    if algorithm is not None:
        _algorithm_rules(
            capabilities(algorithm, "algorithm"),
            model,
            guide,
            names,
            num_particles=num_particles,
            sgvb=sgvb,
            map_prior=map_prior,
            compiled=compiled,
            data_parallel=data_parallel,
        )
    if estimator is not None:
        _estimator_rules(capabilities(estimator, "estimator"), algorithm, model, guide, names, latent_size)


def _algorithm_rules(a, model, guide, names, *, num_particles, sgvb, map_prior, compiled, data_parallel):
    alg = names["algorithm"]
    if num_particles is not None and num_particles < a.min_particles:
        raise CombinationError(
            f"{alg} declares min_particles = {a.min_particles}; got {names['num_particles']} {num_particles}"
        )
    if map_prior and a.infers_weights:
        raise CombinationError(
            f"{alg} declares infers_weights (its own prior on the model's weights); {names['map_prior']} does not apply"
        )
    if a.infers_weights and model is not None and capabilities(model, "model").recurrent:
        raise CombinationError(
            f"{alg} declares infers_weights (it draws the model's weights from their prior), and {names['model']} "
            "declares recurrent: a recurrence with prior-drawn weights diverges over its steps"
        )
    if a.keeps_latents and model is not None and capabilities(model, "model").latent_shape_varies:
        raise CombinationError(
            f"{alg} declares keeps_latents (a chain per training point, of one size), and {names['model']} "
            "declares latent_shape_varies (a datapoint's latents are as long as its minibatch's longest sequence)"
        )
    if not a.handles_discrete and model is not None and capabilities(model, "model").discrete_latents:
        raise CombinationError(
            f"{alg} does not declare handles_discrete, and {names['model']} declares discrete_latents (a "
            "discrete site it cannot sum out); use --inference aevb or iwae"
        )
    if a.dreams and model is not None and capabilities(model, "model").structured_output:
        raise CombinationError(
            f"{alg} declares dreams (it runs the guide on data generated by the model), and {names['model']} "
            "declares structured_output (it generates only part of a row)"
        )
    if compiled and not a.supports_compile:
        raise CombinationError(
            f"{alg} does not declare supports_compile, so its step cannot be compiled; use {names['compile']} off"
        )
    if data_parallel and not a.data_parallel:
        raise CombinationError(
            f"{alg} does not declare data_parallel (it keeps state per training point); it runs on one process"
        )
    if guide is _UNSET:
        return
    if not a.needs_guide:
        if guide is not None:
            raise CombinationError(f"{alg} declares needs_guide = False (it fits no encoder); build it without a guide")
        return
    if guide is None:
        raise CombinationError(f"{alg} declares needs_guide, and no guide was given")
    g = capabilities(guide, "guide")
    if g.needs_sequence_model and model is not None and not capabilities(model, "model").sequence_model:
        raise CombinationError(
            f"{names['guide']} declares needs_sequence_model (it follows the data's time steps); "
            f"{names['model']} does not declare sequence_model (e.g. --model dmm on --dataset chorales)"
        )
    if g.needs_fixed_latent_shape and model is not None and capabilities(model, "model").latent_shape_varies:
        raise CombinationError(
            f"{names['guide']} declares needs_fixed_latent_shape (its encoders are sized by the model's local "
            f"sites), and {names['model']} declares latent_shape_varies (e.g. --guide structured for --model dmm)"
        )
    if a.needs_amortised_guide and not g.amortised:
        raise CombinationError(
            f"{alg} declares needs_amortised_guide (it runs q on data it was not fitted to); "
            f"{names['guide']} does not declare amortised"
        )
    if a.needs_density_anywhere and not g.density_anywhere:
        raise CombinationError(
            f"{alg} declares needs_density_anywhere (log q at points the guide did not draw); "
            f"{names['guide']} does not declare density_anywhere"
        )
    if data_parallel and g.per_point_state:
        raise CombinationError(
            f"{names['guide']} declares per_point_state (parameters per training point); it does not run data-parallel"
        )
    if a.uses_estimator and sgvb == "B" and model is not None and not closed_form_kl(model, guide):
        missing = (
            f"{names['guide']} does not declare analytic_kl"
            if not g.analytic_kl
            else f"{names['model']} does not declare analytic_prior (its priors depend on other latents)"
        )
        raise CombinationError(
            f"{names['sgvb']} B needs KL(q || p) in closed form, and {missing}; use {names['sgvb']} A"
        )


def _estimator_rules(e, algorithm, model, guide, names, latent_size):  # guide: None, a guide, or _UNSET
    est = names["estimator"]
    if not e.handles_discrete and model is not None and capabilities(model, "model").discrete_latents:
        raise CombinationError(
            f"{est} does not declare handles_discrete, and {names['model']} declares discrete_latents (a "
            "discrete site its chains cannot move); use is or ais, which sum it out"
        )
    if e.needs_guide:
        if algorithm is not None and not capabilities(algorithm, "algorithm").needs_guide:
            raise CombinationError(
                f"{est} declares needs_guide (it samples from q(z|x)), and {names['algorithm']} fits no guide"
            )
        if guide is None:
            raise CombinationError(f"{est} declares needs_guide (it samples from q(z|x)), and no guide was given")
    if e.max_latent_size is not None and latent_size is not None and latent_size > e.max_latent_size:
        raise CombinationError(
            f"{est} declares max_latent_size = {e.max_latent_size}; {names['model']} has {latent_size} "
            "latent dimensions per datapoint"
        )


__all__ = ["SGVB_ESTIMATORS", "CombinationError", "check", "closed_form_kl", "resolve_estimator"]
