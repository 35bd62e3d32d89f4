"""JIT-compiled ELBOs that compile once: estimator B with Pyro 1.9.2's tracing bug fixed (``--jit``).

``--jit`` rests on ``torch.jit.trace``, which torch 2.14 deprecates; :mod:`aevb.inference.compiled`
(``--compile``) is its supported successor. It is kept while it is still the fastest float32
path on a CPU (docs/benchmark.md: 1.04-1.06x the plain-PyTorch reference against 1.00x for
``--compile inductor``), and its deprecation warning is silenced where the trace is made.

Pyro 1.9.2's :class:`pyro.infer.JitTraceMeanField_ELBO` caches its compiled loss in
``self._differentiable_loss`` but checks ``self._loss_and_surrogate_loss`` before
compiling, so it re-traces on every call (about 4x slower than eager here). Its sibling
:class:`pyro.infer.JitTrace_ELBO` does not have the bug. We subclass and correct the check.

Both cache compiled functions by the number of positional arguments and the keyword
arguments, not by tensor shapes, while a trace bakes in the batch size; :class:`ShapeKeyed`
therefore keeps one compiled ELBO per input shape (an epoch has at most two).

Compiling runs the program twice (Pyro's parameter capture, then the trace), which would
consume random numbers that eager execution does not; :class:`ShapeKeyed` compiles with a
throwaway call in a forked RNG, so the compiled loss draws exactly what the eager loss
draws from its first real call on (and ``--resume`` stays exact).
"""

import warnings
import weakref

import pyro
import torch
from pyro.infer import JitTrace_ELBO, JitTraceMeanField_ELBO


class FixedJitTraceMeanField_ELBO(JitTraceMeanField_ELBO):
    """:class:`pyro.infer.JitTraceMeanField_ELBO` that traces once (see the module docstring)."""

    def differentiable_loss(self, model, guide, *args, **kwargs):
        kwargs["_pyro_model_id"] = id(model)
        kwargs["_pyro_guide_id"] = id(guide)
        if getattr(self, "_differentiable_loss", None) is None:
            weakself = weakref.ref(self)

            @pyro.ops.jit.trace(ignore_warnings=self.ignore_jit_warnings, jit_options=self.jit_options)
            def differentiable_loss(*args, **kwargs):
                kwargs.pop("_pyro_model_id")
                kwargs.pop("_pyro_guide_id")
                self = weakself()
                loss = 0.0
                for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
                    _, loss_particle = self._differentiable_loss_particle(model_trace, guide_trace)
                    loss = loss + loss_particle / self.num_particles
                return loss

            self._differentiable_loss = differentiable_loss
        return self._differentiable_loss(*args, **kwargs)


JIT_ESTIMATORS = {"A": JitTrace_ELBO, "B": FixedJitTraceMeanField_ELBO}


class ShapeKeyed:
    """One compiled ``elbo(model, guide)`` per shape of ``x``; called as ``loss(x, num_data=N)``.

    Guides and models are traced without the ``index`` argument (their rows default to
    ``0..M-1``), so only guides that do not read ``index`` can be compiled.
    """

    def __init__(self, make_elbo, model, guide):
        self.make_elbo, self.model, self.guide, self.compiled = make_elbo, model, guide, {}

    def __call__(self, x, *, num_data, index=None):
        if x.shape not in self.compiled:
            elbo = self.make_elbo()(self.model, self.guide)
            # torch 2.14 deprecates torch.jit.trace, which Pyro's JIT ELBOs are built on; --jit is kept
            # while it still beats --compile (float32 on a CPU, docs/benchmark.md), so its warning is
            # silenced here, where the trace is made, and nowhere else
            with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="`torch.jit.trace` is deprecated", category=FutureWarning)
                elbo(x, num_data=num_data)  # compile; its draws and result are discarded
            self.compiled[x.shape] = elbo
        return self.compiled[x.shape](x, num_data=num_data)
