"""The paper's one-hidden-layer MLPs (Appendix C) and its initialisation (§5)."""

import torch
from torch import nn

#: log-variances are clamped to this range before exponentiation (DESIGN.md: scales come
#: from exp of a clamped log-variance), so a wild early step cannot produce 0 or inf.
LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0


class MLP(nn.Module):
    """``h = tanh(W x + b)``, then one linear head: Appendix C.1/C.2's hidden layer.

    :param int in_dim: input size.
    :param int hidden_dim: number of tanh units (the paper: 500 for MNIST, 200 for Frey Face).
    :param int out_dim: size of the linear output.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.hidden = nn.Linear(in_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, out_dim)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(inputs)))


def init_paper_(module: nn.Module, std: float = 0.01) -> nn.Module:
    """Draw every parameter from N(0, std²) in place, as in §5 of the paper (std = 0.01)."""
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0.0, std)
    return module
