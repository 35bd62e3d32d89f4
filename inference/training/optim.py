"""Optimisers over θ and φ: one torch optimiser for the dense parameters (fused kernels where
available), and a sparse one for per-datapoint tables (the mean-field guide's)."""

import torch

OPTIMIZERS = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad}
#: The same update rules for parameters with sparse gradients: only the minibatch's rows move.
SPARSE_OPTIMIZERS = {"adam": torch.optim.SparseAdam, "adagrad": torch.optim.Adagrad}


class CombinedOptimizer:
    """Several torch optimisers stepped, zeroed and checkpointed as one."""

    def __init__(self, optimizers):
        self.optimizers = list(optimizers)

    @property
    def param_groups(self) -> list:
        """Every inner optimiser's parameter groups (what learning-rate schedules set)."""
        return [group for optimizer in self.optimizers for group in optimizer.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for optimizer in self.optimizers:
            optimizer.step()

    def state_dict(self) -> dict:
        return {"optimizers": [optimizer.state_dict() for optimizer in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        states = state.get("optimizers", [])
        if len(states) != len(self.optimizers):
            raise ValueError(f"optimizer state holds {len(states)} optimisers, this run has {len(self.optimizers)}")
        for optimizer, s in zip(self.optimizers, states):
            optimizer.load_state_dict(s)


def make_optimizer(name: str, params, lr: float, sparse_params=(), eps: float = None):
    """Adam (our default, lr 1e-3) or Adagrad (the paper's, step size in {0.01, 0.02, 0.1}).
    ``eps`` is the rule's ε added to the denominator (default: torch's, 1e-8 for Adam; Burda et
    al. used 1e-4).

    Uses the fused single-kernel implementation when this torch build has it for the
    parameters' device; it computes the same update as the loop implementation. Parameters in
    ``sparse_params`` (those of ``params`` with sparse gradients) get the sparse variant of the
    same rule (SparseAdam, sparse Adagrad) and the result is a :class:`CombinedOptimizer`.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    sparse_ids = {id(p) for p in sparse_params}
    params = list(params)
    dense = [p for p in params if id(p) not in sparse_ids]
    sparse = [p for p in params if id(p) in sparse_ids]
    if eps is not None and not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    options = {"lr": lr} if eps is None else {"lr": lr, "eps": eps}
    optimizers = []
    if dense or not sparse:
        try:
            optimizers.append(OPTIMIZERS[name](dense, fused=True, **options))
        except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device/dtype
            optimizers.append(OPTIMIZERS[name](dense, **options))
    if sparse:
        optimizers.append(SPARSE_OPTIMIZERS[name](sparse, **options))
    return optimizers[0] if len(optimizers) == 1 else CombinedOptimizer(optimizers)
