"""An algorithm's training step traced once per input shape, then run without Pyro's per-step Python (``--compile``).

Eager Pyro rebuilds its traces in Python on every step (a fixed cost of about 2 ms per step
on the development CPU, against 0.8 ms for a plain-PyTorch step: docs/benchmark.md), work that
does not depend on the numbers: for a given input shape the
sites, plates and control flow of a model/guide pair are fixed. :class:`CompiledStep` therefore
runs the step once per input shape under :func:`torch.fx.experimental.proxy_tensor.make_fx`,
which records the ATen operations it executes (Pyro's handlers run during that trace only),
and from then on runs that graph:

* ``trace``: as recorded, on PyTorch's own kernels (tracing takes a fraction of a second);
* ``inductor``: compiled by :func:`torch.compile` (Inductor fuses the elementwise work;
  compiling takes tens of seconds per shape on a CPU, paid once).

The parameters and buffers of the model, guide and algorithm are inputs of the graph
(:func:`torch.func.functional_call`), so gradients reach them as in eager mode and an
optimiser update needs no re-trace. Why not ``torch.compile`` of the eager step alone: Dynamo
breaks Pyro's handlers into many graphs (its ``Message`` TypedDict, ``Tensor.item()`` in the
ELBOs: 10 graphs and 9 breaks for ``TraceMeanField_ELBO``, at about 0.8× eager, in the first
try recorded in the "Fast on supported APIs" issue); tracing at the ATen level leaves all of
that behind. ``pre_dispatch=True`` keeps ``detach`` and ``no_grad`` in the graph: without it,
RWS's and wake-sleep's gradients came out wrong (tested).

Randomness: the graph keeps its sampling operations, and Inductor is told to run them on
PyTorch's generator (``fallback_random``), so a step draws the ε an eager step would draw from
the same RNG state: the same losses as eager (tested) and an exact ``--resume``. The trace
itself runs in a forked RNG, so it draws nothing the eager path would not.

Two Pyro internals would stop the trace, both about reporting, not the estimate:
``torch_item`` (the ELBO's value as a float) and ``warn_if_nan`` (a data-dependent check).
The first trace puts a dispatcher in their place that behaves as the original everywhere except
inside a trace of *this* thread and context (a :class:`contextvars.ContextVar`, which no other
thread sees), where they are ``detach`` and a no-op: the values are unchanged, and the training
loop checks every step's loss and bound for finiteness itself.

Which algorithms may be compiled is their declaration ``supports_compile`` (the trace records
operations, not autograd modes: an algorithm that relies on ``torch.no_grad`` for its gradient
must not declare it), checked by :func:`compile_step`. A model whose sites depend on the values
drawn (stochastic control flow) would be traced along one path. ``auto``, the default, therefore
checks on the first batch: two traces of the model/guide pair with different draws must have the
same sites, distributions, shapes and plates (:func:`aevb.inference.preflight.dynamic_structure`),
and a trace that reads a drawn value in Python (``make_fx`` refuses data-dependent control flow)
is given up; either way the step then runs eagerly, and one line says why. ``auto`` compiles with
Inductor for a long run (:data:`INDUCTOR_STEPS`) and traces a short one, and falls back to the
trace where Inductor fails (no C++ compiler, say). Each shape's compilation is timed and reported
once (Inductor's forward and backward are both compiled then, on copies of the parameters), and
Inductor's kernels are cached in the folder a run names (the data folder's ``inductor/``), so a
second run starts warm. The compiled step is a wrapper of the step it is given (a mixed-precision
step too, :mod:`.precision`), composed once where a run is built; the algorithm is not changed.
"""

import contextlib
import contextvars
import logging
import os
import sys
import time

import pyro
import pyro.infer.trace_elbo
import pyro.infer.trace_mean_field_elbo
import torch
from torch import nn
from torch.fx.experimental.proxy_tensor import make_fx

from ..capabilities import capabilities
from ..preflight import _first_line, dynamic_structure
from ..rules import check
from .rng import isolated_rng

#: ``--compile`` values: ``off`` runs Pyro on every step; ``auto`` (the default) traces (:func:`auto_mode`)
#: wherever the algorithm declares ``supports_compile`` and the model/guide pair's structure is
#: static on the first batch, and Pyro on every step otherwise, saying why in one line.
MODES = ("auto", "off", "trace", "inductor")
#: the modes that trace the step, named explicitly (refused for an algorithm that cannot be traced)
TRACED = ("trace", "inductor")
#: ``auto`` traces with ``inductor`` for a run of at least this many training steps, with ``trace``
#: for a shorter one (:func:`auto_mode`). Inductor's step was about 1.5 ms faster than the traced
#: one here (7.2 against 8.7 ms, docs/benchmark.md), but compiling it took 9–18 s with a cold cache
#: and 2.4 s warm, against 0.15 s for the trace: it pays for itself after some 6,000–12,000 steps
#: cold, 1,600 warm (the cache is kept, so only a machine's first long run is cold).
INDUCTOR_STEPS = 5_000

#: the Pyro modules whose reporting helpers are replaced while tracing
_REPORTING = (pyro.infer.trace_elbo, pyro.infer.trace_mean_field_elbo)
#: True inside a trace of this thread and context only
_TRACING = contextvars.ContextVar("aevb_tracing_step", default=False)


def auto_mode(steps: int = None) -> str:
    """What ``--compile auto`` traces with, for a run of ``steps`` training steps (None: unknown, a short run)."""
    return "inductor" if steps is not None and steps >= INDUCTOR_STEPS else "trace"


def _detached(value):
    return value.detach() if torch.is_tensor(value) else value


def _unchecked(value, *args, **kwargs):
    return value


class _ReportingHelper:
    """Pyro's ``original`` helper, or ``traced`` inside a trace of the calling context (see the module
    docstring). ``locates_caller``: the helper names its caller's file and line (``warn_if_nan``'s
    warnings), which is then the dispatcher's caller, not the dispatcher."""

    def __init__(self, original, traced, locates_caller=False):
        self.original, self.traced, self.locates_caller = original, traced, locates_caller

    def __call__(self, *args, **kwargs):
        if _TRACING.get():
            return self.traced(*args, **kwargs)
        if self.locates_caller and "filename" not in kwargs:
            caller = sys._getframe(1)
            kwargs.update(filename=caller.f_code.co_filename, lineno=caller.f_lineno)
        return self.original(*args, **kwargs)


def _install_reporting_helpers() -> None:
    """Put the dispatchers in place (once; idempotent)."""
    for module in _REPORTING:
        for name, traced in (("torch_item", _detached), ("warn_if_nan", _unchecked)):
            helper = vars(module).get(name)
            if helper is not None and not isinstance(helper, _ReportingHelper):
                setattr(module, name, _ReportingHelper(helper, traced, locates_caller=name == "warn_if_nan"))


@contextlib.contextmanager
def _tracing():
    _install_reporting_helpers()
    token = _TRACING.set(True)
    try:
        yield
    finally:
        _TRACING.reset(token)


class _Step(nn.Module):
    """The modules a step reads, as one module whose ``forward`` is the step (for ``functional_call``)."""

    def __init__(self, step, modules):
        super().__init__()
        self.parts = nn.ModuleList(modules)
        object.__setattr__(self, "step", step)  # a bound method or a wrapper: not a submodule

    def forward(self, x, index, num_data):
        return self.step(x, num_data=num_data, index=index)


class CompiledStep:
    """``step(x, *, num_data, index=None) -> (surrogate, bound)`` traced once per input shape (see the
    module docstring); ``compilations`` counts the traces made.

    :param step: the step to trace (an algorithm's, or a wrapper of it).
    :param modules: the :class:`torch.nn.Module` s whose parameters and buffers the step reads.
    :param str mode: ``"trace"`` or ``"inductor"``.
    """

    def __init__(self, step, modules, mode: str, *, check_structure=None, log=None, cache_dir=None):
        if mode not in TRACED:
            raise ValueError(f"mode must be one of {TRACED}, got {mode!r}")
        unique = list({id(m): m for m in modules if isinstance(m, nn.Module)}.values())
        self.module = _Step(step, unique)
        self.mode, self.graphs, self.compilations = mode, {}, 0
        self.check_structure, self.log, self.cache_dir = check_structure, log or (lambda *a, **k: None), cache_dir
        #: ``--compile auto``: a step the trace cannot follow runs eagerly instead of failing
        self.auto = check_structure is not None
        #: why the step runs eagerly after all (``check_structure``'s answer on the first batch), or None
        self.eager_because = None
        #: seconds spent tracing (and compiling) per input shape, the first call of each graph included
        self.seconds = {}

    def _state(self) -> dict:
        return {**dict(self.module.named_parameters()), **dict(self.module.named_buffers())}

    def _build(self, x, index, num_data):
        def step(state, x, index):
            return torch.func.functional_call(self.module, state, (x, index, num_data))

        with isolated_rng(x.device), pyro.validation_enabled(False), _tracing():
            graph = make_fx(step, pre_dispatch=True)(self._state(), x, index)
        self.compilations += 1
        if self.mode == "inductor":
            try:
                return self._inductor(graph, x, index)
            except Exception as e:  # noqa: BLE001 - no compiler, an unsupported operation: auto traces instead
                if not self.auto:
                    raise
                self.mode = "trace"
                self.log(f"Inductor could not compile the training step ({_first_line(e)}); it is traced instead")
        return graph

    def _inductor(self, graph, x, index):
        """``graph`` compiled by Inductor, forward and backward, here: run once on copies of the
        parameters (their ``.grad`` untouched) in a forked RNG, so the cost is paid and reported at once."""
        if self.cache_dir is not None:  # Inductor's compiled kernels kept where a second run finds them
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(self.cache_dir))
        _quiet_cuda_home_warning()
        compiled = torch.compile(graph, dynamic=False, options={"fallback_random": True})
        with isolated_rng(x.device):
            state = {k: _copy(v) for k, v in self._state().items()}
            surrogate = compiled(state, x, index)[0]
            leaves = [v for v in state.values() if v.requires_grad]
            if torch.is_tensor(surrogate) and surrogate.requires_grad and leaves:
                torch.autograd.grad(surrogate, leaves, allow_unused=True)
        return compiled

    def __call__(self, x, *, num_data, index=None):
        if self.check_structure is not None:  # the first batch decides, once
            check_structure, self.check_structure = self.check_structure, None
            self.eager_because = check_structure(x, num_data=num_data, index=index)
            if self.eager_because:
                self.log(_eagerly(self.eager_because))
        if self.eager_because:
            return self.module.step(x, num_data=num_data, index=index)
        key = (tuple(x.shape), x.dtype, x.device, num_data, None if index is None else tuple(index.shape))
        graph = self.graphs.get(key)
        if graph is None:
            start = time.perf_counter()
            try:
                graph = self._build(x, index, num_data)
            except RuntimeError as e:  # a Python branch on a drawn value: the trace cannot follow it
                if "data-dependent" not in str(e):
                    raise
                if not self.auto:
                    raise RuntimeError(
                        "the training step cannot be traced: its control flow reads the values drawn "
                        "(data-dependent control flow); use --compile auto or off"
                    ) from None
                self.eager_because = "the step's control flow reads the values drawn (data-dependent control flow)"
                self.log(_eagerly(self.eager_because))
                return self.module.step(x, num_data=num_data, index=index)
            self.graphs[key] = graph
            self.seconds[key[0]] = time.perf_counter() - start
            self.log(
                f"the training step ({self.mode}) compiled for batches of shape {tuple(x.shape)} in "
                f"{self.seconds[key[0]]:.2f} s, once"
            )
        return graph(self._state(), x, index)


def _no_cuda_runtime(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("No CUDA runtime is found")


def _quiet_cuda_home_warning() -> None:
    """Inductor's C++ toolchain looks for CUDA_HOME and, on a machine with CUDA tools but no CUDA
    runtime, warns on stderr that it found none: irrelevant to CPU kernels, and a second line in
    a run's one-line messages. That one warning is dropped (idempotent); the logger's others stay."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    if _no_cuda_runtime not in logger.filters:
        logger.addFilter(_no_cuda_runtime)


def _eagerly(reason: str) -> str:
    """The one line a run prints when ``--compile auto`` leaves its step eager."""
    return f"the training step runs eagerly (Pyro on every step): {reason}"


def _copy(tensor):
    """A tensor sharing ``tensor``'s storage, of its type (a parameter stays one: Dynamo's guards read it)."""
    if isinstance(tensor, nn.Parameter):
        return nn.Parameter(tensor.detach(), requires_grad=tensor.requires_grad)
    return tensor.detach()


def compile_step(algorithm, mode: str, *, modules, step=None, programs=None, steps=None, log=None, cache_dir=None):
    """``step`` (default ``algorithm.step``) as a :class:`CompiledStep` reading ``modules``.

    ``"trace"`` and ``"inductor"`` first check that ``algorithm`` declares ``supports_compile``
    (refused otherwise). ``"auto"`` traces (:func:`auto_mode` of the run's ``steps``: Inductor for a
    long run, falling back to the trace where Inductor fails) where the algorithm declares it and, on
    the first batch, the model/guide pair ``programs`` (default: the algorithm's ``model`` and
    ``guide``) has a static structure (:func:`aevb.inference.preflight.dynamic_structure`); it runs
    the step as it is otherwise, saying why through ``log``. ``"off"``: the step as it is.
    ``log`` also reports each shape's compilation time; ``cache_dir`` keeps Inductor's kernels."""
    step = step or algorithm.step
    if mode == "off":
        return step
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    say = log or (lambda *a, **k: None)
    if mode == "auto":
        if not capabilities(algorithm, "algorithm").supports_compile:
            say(_eagerly(f"{type(algorithm).__name__} does not declare supports_compile"))
            return step
        model, guide = programs or (getattr(algorithm, "model", None), getattr(algorithm, "guide", None))

        def check_structure(x, *, num_data, index):
            return dynamic_structure(model, guide, x, num_data=num_data, index=index)

        return CompiledStep(
            step,
            list(modules) + [algorithm],
            auto_mode(steps),
            check_structure=check_structure,
            log=log,
            cache_dir=cache_dir,
        )
    check(algorithm, compiled=True)
    return CompiledStep(step, list(modules) + [algorithm], mode, log=log, cache_dir=cache_dir)


__all__ = ["INDUCTOR_STEPS", "MODES", "TRACED", "CompiledStep", "auto_mode", "compile_step"]
