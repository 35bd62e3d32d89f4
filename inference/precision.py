"""Mixed-precision training steps (``--precision bf16-mixed``; Lightning's names).

Under ``bf16-mixed`` the networks' dense and convolutional layers of the model and the guide
compute in bfloat16 during a training step (``torch.autocast``: inputs and weights are cast,
the float32 weights stay the optimiser's master copy) and hand float32 results on. Everything
after a layer, the nonlinearities, the distributions' log-densities, the KL terms and the
ELBO's reductions, runs in float32: autocast is entered inside each such layer only, not
around the step, because a step-wide autocast would also run the distributions' own matrix
products (a full-covariance guide's) in bfloat16.

Only training steps are affected: the test ELBO, IS, AIS, Appendix D, HMC and every other
evaluation run outside :func:`mixed_step` and so in float32.
"""

import contextlib

import torch
from torch import nn

#: ``--precision`` values
PRECISIONS = ("32", "bf16-mixed")
#: the layers whose products run in bfloat16
LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)
_active = False


def _mixed_forward(forward, device_type):
    def run(*args, **kwargs):
        if not _active:
            return forward(*args, **kwargs)
        with torch.autocast(device_type, dtype=torch.bfloat16):
            return forward(*args, **kwargs).float()

    return run


@contextlib.contextmanager
def _bf16_layers():
    global _active
    _active = True
    try:
        yield
    finally:
        _active = False


class MixedStep:
    """``step(x, *, num_data, index=None)`` of an algorithm with its layers in bfloat16 (see the module docstring)."""

    def __init__(self, step):
        self.step = step

    def __call__(self, x, *, num_data, index=None):
        with _bf16_layers():
            return self.step(x, num_data=num_data, index=index)


def mixed_precision(algorithm, modules, precision: str):
    """Under ``"bf16-mixed"``, wrap the layers of ``modules`` (model, guide) and ``algorithm.step``
    (see the module docstring); ``"32"`` leaves them as they are."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "32":
        return algorithm
    for module in modules:
        if module is None:
            continue
        for layer in module.modules():
            if isinstance(layer, LAYERS) and "forward" not in vars(layer):
                device_type = next(layer.parameters()).device.type
                layer.forward = _mixed_forward(layer.forward, device_type)
    algorithm.step = MixedStep(algorithm.step)
    return algorithm


__all__ = ["PRECISIONS", "MixedStep", "mixed_precision"]
