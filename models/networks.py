"""The paper's one-hidden-layer MLPs (Appendix C) and its initialisation (§5)."""

import pyro
import torch
from pyro.params import param_with_module_name
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


def make_mlp(in_dim: int, hidden_dim: int, out_dim: int, init: str) -> MLP:
    """The paper's one-hidden-layer tanh MLP with PyTorch's (``"default"``) or the paper's
    (``"paper"``) initialisation: every encoder and decoder of the collection is built here."""
    mlp = MLP(in_dim, hidden_dim, out_dim)
    if init == "paper":
        init_paper_(mlp)
    elif init != "default":
        raise ValueError(f"init must be 'default' or 'paper', got {init!r}")
    return mlp


def init_paper_(module: nn.Module, std: float = 0.01) -> nn.Module:
    """Draw every parameter from N(0, std²) in place, as in §5 of the paper (std = 0.01)."""
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0.0, std)
    return module


def register_module(name: str, module: nn.Module) -> nn.Module:
    """:func:`pyro.module`, with the module being run owning its names in the param store.

    Pyro's param store is global: after a second model is built in the same process,
    ``pyro.module("decoder", new)`` keeps returning the first model's tensors under those
    names. Eager training does not notice (the module computes with its own weights), but
    anything that reads parameters from the store (JIT replay, ``pyro.get_param_store()``,
    ``pyro.optim``) would get the stale ones. Here a stale entry is replaced by the module's
    own tensor before registering.
    """
    store = pyro.get_param_store()
    for param_name, param in module.named_parameters():
        full_name = param_with_module_name(name, param_name)
        if full_name in store and store[full_name] is not param:
            del store[full_name]
            store[full_name] = param
    return pyro.module(name, module)
