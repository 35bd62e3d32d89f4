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
drawn (stochastic control flow) would be traced along one path: such a model is run with
``--compile off``. The compiled step is a wrapper of the step it is given (a mixed-precision
step too, :mod:`.precision`), composed once where a run is built; the algorithm is not changed.
"""

import contextlib
import contextvars

import pyro
import pyro.infer.trace_elbo
import pyro.infer.trace_mean_field_elbo
import torch
from torch import nn
from torch.fx.experimental.proxy_tensor import make_fx

from ..rules import check

#: ``--compile`` values: ``off`` runs Pyro on every step.
MODES = ("off", "trace", "inductor")
#: the Pyro modules whose reporting helpers are replaced while tracing
_REPORTING = (pyro.infer.trace_elbo, pyro.infer.trace_mean_field_elbo)
#: True inside a trace of this thread and context only
_TRACING = contextvars.ContextVar("aevb_tracing_step", default=False)


def _detached(value):
    return value.detach() if torch.is_tensor(value) else value


def _unchecked(value, *args, **kwargs):
    return value


class _ReportingHelper:
    """Pyro's ``original`` helper, or ``traced`` inside a trace of the calling context (see the module docstring)."""

    def __init__(self, original, traced):
        self.original, self.traced = original, traced

    def __call__(self, *args, **kwargs):
        return (self.traced if _TRACING.get() else self.original)(*args, **kwargs)


def _install_reporting_helpers() -> None:
    """Put the dispatchers in place (once; idempotent)."""
    for module in _REPORTING:
        for name, traced in (("torch_item", _detached), ("warn_if_nan", _unchecked)):
            helper = vars(module).get(name)
            if helper is not None and not isinstance(helper, _ReportingHelper):
                setattr(module, name, _ReportingHelper(helper, traced))


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

    def __init__(self, step, modules, mode: str):
        if mode not in MODES[1:]:
            raise ValueError(f"mode must be one of {MODES[1:]}, got {mode!r}")
        unique = list({id(m): m for m in modules if isinstance(m, nn.Module)}.values())
        self.module = _Step(step, unique)
        self.mode, self.graphs, self.compilations = mode, {}, 0

    def _state(self) -> dict:
        return {**dict(self.module.named_parameters()), **dict(self.module.named_buffers())}

    def _build(self, x, index, num_data):
        def step(state, x, index):
            return torch.func.functional_call(self.module, state, (x, index, num_data))

        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), pyro.validation_enabled(False), _tracing():
            graph = make_fx(step, pre_dispatch=True)(self._state(), x, index)
        self.compilations += 1
        if self.mode == "inductor":
            graph = torch.compile(graph, dynamic=False, options={"fallback_random": True})
        return graph

    def __call__(self, x, *, num_data, index=None):
        key = (tuple(x.shape), x.dtype, x.device, num_data, None if index is None else tuple(index.shape))
        graph = self.graphs.get(key)
        if graph is None:
            graph = self.graphs[key] = self._build(x, index, num_data)
        return graph(self._state(), x, index)


def compile_step(algorithm, mode: str, *, modules, step=None):
    """``step`` (default ``algorithm.step``) as a :class:`CompiledStep` reading ``modules`` (mode
    ``"off"``: the step as it is), after checking that ``algorithm`` declares ``supports_compile``."""
    step = step or algorithm.step
    if mode == "off":
        return step
    check(algorithm, compiled=True)
    return CompiledStep(step, list(modules) + [algorithm], mode)


__all__ = ["MODES", "CompiledStep", "compile_step"]
