"""Optimisers over θ and φ: one torch optimiser for all parameters (fused kernels where available)."""

import torch

OPTIMIZERS = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad}


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """Adam (our default, lr 1e-3) or Adagrad (the paper's, step size in {0.01, 0.02, 0.1}).

    Uses the fused single-kernel implementation when this torch build has it for the
    parameters' device; it computes the same update as the loop implementation.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    params = list(params)
    try:
        return OPTIMIZERS[name](params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device/dtype
        return OPTIMIZERS[name](params, lr=lr)
