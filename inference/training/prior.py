"""The paper's N(0, I) prior on the generative weights (§5, "weight decay"), for the MAP objective."""

import math

import torch


def log_standard_normal_prior(params) -> torch.Tensor:
    """log N(θ; 0, I) summed over the given parameters: the paper's weight decay (§5)."""
    total = 0.0
    count = 0
    for p in params:
        total = total + p.pow(2).sum()
        count += p.numel()
    return -0.5 * total - 0.5 * count * math.log(2 * math.pi)
