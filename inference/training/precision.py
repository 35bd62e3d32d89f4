"""Mixed-precision training steps (``--precision bf16-mixed``; Lightning's names).

Under ``bf16-mixed`` the networks' dense and convolutional layers of the model and the guide
compute in bfloat16 during a training step (``torch.autocast``: inputs and weights are cast,
the float32 weights stay the optimiser's master copy) and hand float32 results on. Everything
after a layer, the nonlinearities, the distributions' log-densities, the KL terms and the
ELBO's reductions, runs in float32: autocast is entered inside each such layer only, not
around the step, because a step-wide autocast would also run the distributions' own matrix
products (a full-covariance guide's) in bfloat16.

:class:`MixedStep` wraps a step: for the duration of one call it registers a forward pre-hook
(enter autocast) and a forward hook (leave it, cast the output to float32) on each such layer,
and removes them when the call returns, so nothing outside that call, and no other thread's
step, is affected, and the layers themselves are not changed.

Only training steps are affected: the test ELBO, IS, AIS, Appendix D, HMC and every other
evaluation run outside the wrapped step and so in float32.
"""

import torch
from torch import nn

#: ``--precision`` values
PRECISIONS = ("32", "bf16-mixed")
#: the layers whose products run in bfloat16
LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)


class MixedStep:
    """``step(x, *, num_data, index=None)`` with the layers of ``modules`` in bfloat16 (see the module docstring)."""

    def __init__(self, step, modules):
        self.step = step
        self.layers = [
            layer for module in modules if module is not None for layer in module.modules() if isinstance(layer, LAYERS)
        ]

    def __call__(self, x, *, num_data, index=None):
        entered = []  # the autocast contexts of the layers running now (a layer's hooks pair up)

        def enter(layer, args):
            context = torch.autocast(layer.weight.device.type, dtype=torch.bfloat16)
            context.__enter__()
            entered.append(context)

        def leave(layer, args, output):
            entered.pop().__exit__(None, None, None)
            return output.float()

        handles = [
            hook
            for layer in self.layers
            for hook in (layer.register_forward_pre_hook(enter), layer.register_forward_hook(leave))
        ]
        try:
            return self.step(x, num_data=num_data, index=index)
        finally:
            for handle in handles:
                handle.remove()
            while entered:  # a layer that raised left its context open
                entered.pop().__exit__(None, None, None)


def mixed_precision(step, modules, precision: str):
    """``step`` as a :class:`MixedStep` over the layers of ``modules`` (model, guide) under
    ``"bf16-mixed"``; under ``"32"`` the step as it is."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return step if precision == "32" else MixedStep(step, modules)


__all__ = ["PRECISIONS", "MixedStep", "mixed_precision"]
