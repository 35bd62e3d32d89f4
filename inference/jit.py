"""JIT-compiled ELBOs that compile once: estimator B with Pyro 1.9.2's tracing bug fixed.

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
            with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
                elbo(x, num_data=num_data)  # compile; its draws and result are discarded
            self.compiled[x.shape] = elbo
        return self.compiled[x.shape](x, num_data=num_data)
