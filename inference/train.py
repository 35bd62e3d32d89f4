"""The one training loop every fitting algorithm runs through (DESIGN.md).

It owns what algorithms share: data order, dynamic binarisation, device, progress bar,
the optional N(0, I) prior on θ (the paper's weight decay), the NaN stop, per-epoch
evaluation, metrics and atomic checkpoints with exact resume. An algorithm supplies:

* ``parameters()``: what the optimiser updates;
* ``step(x, *, num_data, index) -> (surrogate, bound)``: a differentiable surrogate whose
  gradient is the algorithm's update direction (minimised), and a detached estimate of the
  variational bound on all ``num_data`` points for the progress bar and the train ELBO
  (for AEVB the surrogate is −L̃ᴹ of eq. 8 and the bound is L̃ᴹ; for wake-sleep the
  surrogate is no bound at all);
* optionally ``begin_batch(x, *, num_data, index)``, run once per minibatch before the
  updates (Monte Carlo EM's E-step), and ``updates_per_batch`` (default 1: MCEM takes 5).
"""

import math
import threading
import time

import pyro
import torch

from aevb.models.vae import log_standard_normal_prior

from . import distributed
from .checkpoint import Checkpointer, TrainState
from .progress import progress as report
from .schedule import current_lr, set_lr


class TrainingDiverged(RuntimeError):
    """Training stopped because it diverged (a non-finite loss, evaluation or parameter, or a
    collapsed bound); the last checkpoint was left as it was."""


#: The collapse stop (measured with benchmarks/divergence.py, docs/reliability.md): a step's bound
#: estimate per datapoint is *collapsed* when it lies more than COLLAPSE_FACTOR × max(|reference|, D)
#: below the reference (the run's first estimate; D the data dimension). Training stops after
#: COLLAPSE_STEPS collapsed steps in a row, or when an epoch ends on a collapsed step (so a
#: collapsed model is never checkpointed). Measured: runs that recover dip for at most 4
#: steps and never end an epoch there; runs that do not recover stay collapsed at nearly every step.
COLLAPSE_FACTOR, COLLAPSE_STEPS = 100.0, 20


def _kept(state: TrainState) -> str:
    """What a stopped run keeps, for its message."""
    if state.epoch == 0:
        return "no epoch had finished, so nothing was saved"
    return f"the checkpoint after epoch {state.epoch} is intact"


#: Set by the programs' Ctrl-C handler (:func:`aevb.cli.run`) before it raises KeyboardInterrupt.
#: Python drops an exception raised while it runs a finaliser (``__del__``, a weakref callback:
#: "Exception ignored in ..."), so a Ctrl-C that lands there would be lost and a long run would
#: go on; :func:`fit` checks this flag after every step and raises again.
interrupt_requested = threading.Event()


def epoch_generator(seed: int, epoch: int, device) -> torch.Generator:
    """The generator for an epoch's data order and binarisation: a pure function of (seed, epoch),
    so a resumed run draws exactly what an uninterrupted one would."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)


def minibatches(num_data: int, batch_size: int, generator: torch.Generator, device):
    """Random minibatch indices covering every point once (the last batch may be smaller)."""
    order = torch.randperm(num_data, generator=generator, device=generator.device).to(device)
    return order.split(batch_size)


def fit(
    algorithm,
    optimizer: torch.optim.Optimizer,
    train,
    *,
    epochs: int,
    batch_size: int = 100,
    seed: int = 0,
    prior_params=None,
    state: TrainState = None,
    evaluate=None,
    checkpointer: Checkpointer = None,
    progress: bool = True,
    on_epoch_end=None,
    max_seconds: float = None,
    max_examples: int = None,
    collapse_factor: float = COLLAPSE_FACTOR,
    lr_at=None,
) -> TrainState:
    """Train ``algorithm`` for ``epochs`` epochs in total (continuing from ``state.epoch``).

    :param train: a :class:`aevb.data.Split`; its ``dynamic`` flag asks for a fresh Bernoulli
        draw of every minibatch (dynamic binarisation).
    :param prior_params: parameters that get the N(0, I) prior of §5 (``--map-prior``): its
        log-density is added once per step to the N-datapoint bound estimate, so the
        objective is the MAP objective log p(θ) + Σᵢ L(θ, φ; xᵢ) at its right relative weight.
    :param evaluate: optional ``callable() -> dict`` run after each epoch (e.g. test ELBO).
    :param checkpointer: when given, a checkpoint is written atomically after every epoch.
    :param on_epoch_end: optional ``callable(state)`` run after each epoch's checkpoint (e.g. to write metrics).
        Under :mod:`torch.distributed` (see :mod:`aevb.inference.distributed`) every rank trains on its
        slice of each global batch of K·M points and evaluates its share, but only rank 0 shows
        the progress bar, writes checkpoints and runs ``on_epoch_end``.
    :param max_seconds: a training-time budget (evaluation not counted): the epoch in which it
        runs out stops after the step that exhausts it, is evaluated and checkpointed as the
        last one, and is marked ``"partial": True``. Every record carries ``"examples"``, the
        training examples seen so far, so runs with different budgets can be compared.
    :param max_examples: a budget of training examples, counted over the whole run (resumed
        calls included): training stops after the step that reaches it, that epoch is marked
        ``"partial"`` like a time stop, and a call that starts at or beyond it trains nothing.
        Calling again with a larger budget continues with the next epoch (a fresh permutation),
        which is how training curves are evaluated at chosen sample counts (:mod:`aevb.curves`).
    :param collapse_factor: the collapse stop for a divergence that stays finite: a step whose
        bound estimate per datapoint lies more than ``collapse_factor × max(|reference|, D)``
        below the reference (the estimate at the run's first step, before any update; kept in
        the checkpoint; D the data dimension) is collapsed, and training stops after
        :data:`COLLAPSE_STEPS` collapsed steps in a row or when an epoch ends on one. The
        defaults come from measured runs (``benchmarks/divergence.py``, docs/reliability.md);
        None turns the stop off.
    :param lr_at: optional ``callable(epoch) -> step size`` (:mod:`aevb.inference.schedule`), set on
        every parameter group at the start of each epoch and recorded as the epoch's ``"lr"``; a
        pure function of the epoch, so a resumed run takes the same steps.
    :raises TrainingDiverged: naming the epoch and step, when the loss is not finite, when the
        bound collapses (``collapse_factor``), when an evaluation returns a non-finite number
        or when the parameters stop being finite. The last checkpoint is then left as it was:
        nothing non-finite is ever written.
    """
    state = state or TrainState()
    num_data = len(train)
    if not isinstance(batch_size, int) or not 1 <= batch_size:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    ctx = distributed.current()
    # One step sees a global batch of K·M points, M per rank (K = 1 without torch.distributed).
    global_batch = min(batch_size * ctx.world_size, num_data)
    prior_params = list(prior_params or [])
    params = list(algorithm.parameters())
    distributed.broadcast_parameters(params)
    device = train.x.device
    updates = getattr(algorithm, "updates_per_batch", 1)
    metric = getattr(algorithm, "train_metric", "train_elbo")
    begin_batch = getattr(algorithm, "begin_batch", None)
    examples = state.history[-1].get("examples", 0) if state.history else 0
    trained = 0.0  # seconds of training in this call
    if max_examples is not None and not (isinstance(max_examples, int) and max_examples >= 1):
        raise ValueError(f"max_examples must be a positive integer, got {max_examples!r}")
    for epoch in range(state.epoch + 1, epochs + 1):
        if max_examples is not None and examples >= max_examples:
            break
        if lr_at is not None:
            set_lr(optimizer, lr_at(epoch))
        generator = epoch_generator(seed, epoch, device)
        batches = [b for b in minibatches(num_data, global_batch, generator, device) if len(b) >= ctx.world_size]
        if ctx.enabled:  # ε draws differ between ranks, reproducibly (and exactly on --resume)
            pyro.set_rng_seed(distributed.derived_seed(seed, epoch, ctx.rank))
        bar = report(len(batches), f"epoch {epoch}/{epochs}", unit="steps", enabled=progress)
        total, count, start = 0.0, 0, time.perf_counter()
        stop, collapsed = False, 0  # collapsed: consecutive collapsed steps (never across a checkpoint: see the stop)
        # Pyro's per-step argument checks are off in the hot loop: the data layer has
        # validated the data once, and the guides' scales are positive by construction.
        with pyro.validation_enabled(False):
            for step, global_index in enumerate(batches, 1):
                x = train.x[global_index]
                if train.dynamic:  # the whole global batch, from the shared generator: ranks agree
                    x = torch.bernoulli(x, generator=generator)
                if ctx.enabled:
                    mine = torch.arange(len(global_index), device=device).tensor_split(ctx.world_size)[ctx.rank]
                    index, x = global_index[mine], x[mine]
                else:
                    index = global_index
                if begin_batch is not None:
                    begin_batch(x, num_data=num_data, index=index)
                for _ in range(updates):
                    optimizer.zero_grad(set_to_none=True)
                    surrogate, bound = algorithm.step(x, num_data=num_data, index=index)
                    objective = surrogate - log_standard_normal_prior(prior_params) if prior_params else surrogate
                    objective.backward()
                    out_of_time = (max_seconds is not None and trained + time.perf_counter() - start > max_seconds) or (
                        max_examples is not None and examples + count + len(global_index) >= max_examples
                    )
                    late = out_of_time
                    if ctx.enabled:  # one all-reduce averages the gradients and carries the bound, the
                        # objective and the time flag, so every rank takes the same decisions below
                        bound, objective, flag = distributed.average_gradients(params, bound, objective, objective.new_tensor(float(out_of_time)))
                        late = flag.item() > 0
                    value, checked = torch.stack([bound.detach().double(), objective.detach().double()]).tolist()  # one device sync per step
                    if not (math.isfinite(value) and math.isfinite(checked)):
                        bar.close()
                        raise TrainingDiverged(f"the loss became {checked} (bound {value}) at epoch {epoch}, step {step}; "
                                               f"stopped: {_kept(state)}. Try a smaller --lr.")
                    per_point = value / num_data
                    if state.reference is None:
                        state.reference = per_point
                    floor = state.reference - collapse_factor * max(abs(state.reference), train.x.shape[-1]) if collapse_factor else None
                    collapsed = collapsed + 1 if floor is not None and per_point < floor else 0
                    if collapsed and (collapsed >= COLLAPSE_STEPS or step == len(batches) or late):  # an epoch ends here
                        bar.close()
                        raise TrainingDiverged(
                            f"the training bound collapsed to {per_point:.4g} nats per datapoint at epoch {epoch}, step {step} "
                            f"(it started at {state.reference:.1f}; runs that recover never stay below {floor:.0f}); stopped: "
                            f"{_kept(state)}. Try a smaller --lr."
                        )
                    optimizer.step()
                    if interrupt_requested.is_set():  # a Ctrl-C whose KeyboardInterrupt was swallowed (see above)
                        interrupt_requested.clear()
                        raise KeyboardInterrupt
                total += value * len(global_index)
                count += len(global_index)
                bar.update(1)
                if step % 20 == 0 or step == len(batches):
                    bar.set_postfix_str(f"{metric.replace('_', ' ')} {total / count / num_data:.2f} nats")
                if late:
                    stop = True
                    break
        bar.close()
        seconds = time.perf_counter() - start
        trained += seconds
        examples += count
        record = {"epoch": epoch, metric: total / count / num_data, "seconds": seconds, "examples_per_second": count / seconds, "examples": examples}
        if lr_at is not None:  # the step size the optimiser used, read back from it
            record["lr"] = current_lr(optimizer)
        if stop:
            record["partial"] = True
        if evaluate is not None:
            record.update(evaluate())
        broken = {k: v for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)}
        if broken:
            raise TrainingDiverged(f"epoch {epoch} ended with non-finite {', '.join(f'{k} = {v}' for k, v in broken.items())}; "
                                   f"stopped: {_kept(state)}. Try a smaller --lr.")
        if not all(torch.isfinite(p).all() for p in params):
            raise TrainingDiverged(f"the parameters stopped being finite in epoch {epoch}; stopped: {_kept(state)}. Try a smaller --lr.")
        state.epoch = epoch
        state.history.append(record)
        if ctx.is_main:  # one writer: rank 0
            if checkpointer is not None:
                checkpointer.save(state)
            if on_epoch_end is not None:
                on_epoch_end(state)
        if stop:
            break
    return state
