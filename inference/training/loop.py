"""The one training loop every fitting algorithm runs through.

It owns what algorithms share: data order, dynamic binarisation, device, progress bar, the
optional N(0, I) prior on θ (the paper's weight decay), the stop rules (:mod:`.stops`), per-epoch
evaluation, metrics and atomic checkpoints with exact resume. An algorithm supplies its step and
parameters and declares the rest (:class:`aevb.inference.contracts.Algorithm`,
:class:`aevb.inference.capabilities.AlgorithmCapabilities`): ``updates_per_batch``, the name of its
``train_metric`` and an optional ``begin_batch`` hook (Monte Carlo EM's E-step).

Read top to bottom: :func:`fit` runs epochs; :func:`run_epoch` runs one epoch's minibatches;
:func:`update` is one optimiser update; :func:`end_epoch` records, evaluates and checkpoints.
"""

import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

import pyro
import torch

from aevb.data import as_split

from ..capabilities import AlgorithmCapabilities, capabilities
from ..preflight import preflight
from ..rules import check
from . import distributed
from .checkpoint import Checkpointer, TrainState
from .prior import log_standard_normal_prior
from .progress import progress as report
from .schedule import current_lr, set_lr
from .stops import StopRules, check_collapse, check_epoch, check_step

#: Set by the programs' Ctrl-C handler (:func:`aevb.cli.run`) before it raises KeyboardInterrupt.
#: Python drops an exception raised while it runs a finaliser (``__del__``, a weakref callback:
#: "Exception ignored in ..."), so a Ctrl-C that lands there would be lost and a long run would
#: go on; :func:`update` checks this flag after every step and raises again.
interrupt_requested = threading.Event()


def epoch_generator(seed: int, epoch: int, device) -> torch.Generator:
    """The generator for an epoch's data order and binarisation: a pure function of (seed, epoch),
    so a resumed run draws exactly what an uninterrupted one would."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)


def minibatches(num_data: int, batch_size: int, generator: torch.Generator, device):
    """Random minibatch indices covering every point once (the last batch may be smaller)."""
    order = torch.randperm(num_data, generator=generator, device=generator.device).to(device)
    return order.split(batch_size)


@dataclass
class _Run:
    """What every epoch of one :func:`fit` call reads (and the counters it advances)."""

    step: Callable
    declared: AlgorithmCapabilities
    optimizer: torch.optim.Optimizer
    train: object
    params: list
    prior_params: list
    stops: StopRules
    state: TrainState
    ctx: distributed.DistributedContext
    global_batch: int
    seed: int
    epochs: int
    progress: bool
    examples: int = 0  # training examples seen over the whole run
    trained: float = 0.0  # seconds of training in this call
    auxiliary: Optional[Callable] = None  # the guide's declared auxiliary_loss (M2's classification term)


def fit(
    algorithm,
    optimizer: torch.optim.Optimizer,
    train,
    *,
    epochs: int,
    batch_size: int = 100,
    seed: int = 0,
    step=None,
    prior_params=None,
    state: TrainState = None,
    stops: StopRules = None,
    evaluate=None,
    checkpointer: Checkpointer = None,
    on_epoch_end=None,
    lr_at=None,
    progress: bool = True,
) -> TrainState:
    """Train ``algorithm`` for ``epochs`` epochs in total (continuing from ``state.epoch``).

    :param train: a :class:`aevb.data.Split` (its ``dynamic`` flag asks for a fresh Bernoulli
        draw of every minibatch, dynamic binarisation; a streamed split's minibatches are copied to
        its device as they are used), or a tensor or NumPy array of rows
        (:func:`aevb.data.as_split`).
    :param step: the step to run (default ``algorithm.step``); a run passes its composed step
        (compiled, mixed precision: :mod:`aevb.inference.training.compile`, :mod:`.precision`).
    :param prior_params: parameters that get the N(0, I) prior of §5 (``--map-prior``): its
        log-density is added once per step to the N-datapoint bound estimate, so the objective is
        the MAP objective log p(θ) + Σᵢ L(θ, φ; xᵢ) at its right relative weight.
    :param stops: the budgets and the collapse stop (:class:`~aevb.inference.training.stops.StopRules`).
    :param evaluate: optional ``callable() -> dict`` run after each epoch (e.g. test ELBO).
    :param checkpointer: when given, a checkpoint is written atomically after every epoch.
    :param on_epoch_end: optional ``callable(state)`` run after each epoch's checkpoint. Under
        :mod:`torch.distributed` (:mod:`aevb.inference.training.distributed`) every rank trains on
        its slice of each global batch of K·M points and evaluates its share, but only rank 0
        shows the progress bar, writes checkpoints and runs ``on_epoch_end``.
    :param lr_at: optional ``callable(epoch) -> step size`` (:mod:`aevb.inference.training.schedule`),
        set on every parameter group at the start of each epoch and recorded as the epoch's
        ``"lr"``; a pure function of the epoch, so a resumed run takes the same steps.
    :raises TrainingDiverged: naming the epoch and step (:mod:`.stops`); the last checkpoint is
        then left as it was: nothing non-finite is ever written.
    :raises aevb.inference.preflight.ContractError: before any work, when the algorithm's model and
        guide fail :func:`aevb.inference.preflight.preflight` on the first batch.

    Every record carries ``"examples"``, the training examples seen so far, so runs with
    different budgets can be compared. A guide that declares an ``auxiliary_loss``
    (:class:`~aevb.inference.capabilities.GuideCapabilities`; M2's classification term) has it added
    to every step's objective; the recorded bound is the algorithm's alone.
    """
    if not isinstance(batch_size, int) or not 1 <= batch_size:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    ctx = distributed.current()
    check(algorithm, data_parallel=ctx.enabled)
    train = as_split(train, name="training data")
    check_first_batch(algorithm, train, batch_size)
    state = state or TrainState()
    params = list(algorithm.parameters())
    distributed.broadcast_parameters(params)
    run = _Run(
        step=step or algorithm.step,
        declared=capabilities(algorithm, "algorithm"),
        optimizer=optimizer,
        train=train,
        params=params,
        prior_params=list(prior_params or []),
        stops=stops or StopRules(),
        state=state,
        ctx=ctx,
        # one step sees a global batch of K·M points, M per rank (K = 1 without torch.distributed)
        global_batch=min(batch_size * ctx.world_size, len(train)),
        seed=seed,
        epochs=epochs,
        progress=progress,
        examples=state.history[-1].get("examples", 0) if state.history else 0,
        auxiliary=capabilities(getattr(algorithm, "guide", None), "guide").auxiliary_loss,
    )
    for epoch in range(state.epoch + 1, epochs + 1):
        if run.stops.examples_spent(run.examples):
            break
        if lr_at is not None:
            set_lr(optimizer, lr_at(epoch))
        total, count, seconds, stopped = run_epoch(run, epoch)
        record = {
            "epoch": epoch,
            run.declared.train_metric: total / count / len(train),
            "seconds": seconds,
            "examples_per_second": count / seconds,
            "examples": run.examples,
        }
        if lr_at is not None:  # the step size the optimiser used, read back from it
            record["lr"] = current_lr(optimizer)
        if stopped:
            record["partial"] = True
        end_epoch(run, epoch, record, evaluate, checkpointer, on_epoch_end)
        if stopped:
            break
    return state


def check_first_batch(algorithm, train, batch_size: int) -> None:
    """:func:`aevb.inference.preflight.preflight` of the algorithm's model and guide (the contract's
    ``model`` and ``guide``; an algorithm that exposes no model is not checked) on the first rows of
    ``train`` as a minibatch of the whole, binarised as training will binarise them."""
    model = getattr(algorithm, "model", None)
    if model is None:
        return
    index = torch.arange(min(batch_size, len(train)), device=train.device)
    x = train.rows(index)
    if train.dynamic:
        x = torch.bernoulli(x, generator=torch.Generator(device=x.device).manual_seed(0))
    preflight(model, getattr(algorithm, "guide", None), x, num_data=len(train), index=index)


def run_epoch(run: _Run, epoch: int) -> tuple:
    """One epoch's minibatches: (Σ of the bound estimates × batch sizes, examples, seconds, stopped by the budget)."""
    num_data, device = len(run.train), run.train.device
    generator = epoch_generator(run.seed, epoch, device)
    batches = [b for b in minibatches(num_data, run.global_batch, generator, device) if len(b) >= run.ctx.world_size]
    if run.ctx.enabled:  # ε draws differ between ranks, reproducibly (and exactly on --resume)
        pyro.set_rng_seed(distributed.derived_seed(run.seed, epoch, run.ctx.rank))
    metric = run.declared.train_metric.replace("_", " ")
    total, count, start, stopped, collapsed = 0.0, 0, time.perf_counter(), False, 0
    # Pyro's per-step argument checks are off in the hot loop: the data layer has validated the
    # data once, and the guides' scales are positive by construction.
    with (
        report(len(batches), f"epoch {epoch}/{run.epochs}", unit="steps", enabled=run.progress) as bar,
        pyro.validation_enabled(False),
    ):
        for number, global_index in enumerate(batches, 1):
            x, index = batch_of(run, global_index, generator)
            if run.declared.begin_batch is not None:
                run.declared.begin_batch(x, num_data=num_data, index=index)
            for _ in range(run.declared.updates_per_batch):
                seen = run.examples + count + len(global_index)
                value, late, collapsed = update(
                    run,
                    x,
                    index,
                    epoch=epoch,
                    number=number,
                    last=number == len(batches),
                    start=start,
                    seen=seen,
                    collapsed=collapsed,
                )
            total += value * len(global_index)
            count += len(global_index)
            bar.update(1)
            if number % 20 == 0 or number == len(batches):
                bar.set_postfix_str(f"{metric} {total / count / num_data:.2f} nats")
            if late:
                stopped = True
                break
    seconds = time.perf_counter() - start
    run.trained += seconds
    run.examples += count
    return total, count, seconds, stopped


def batch_of(run: _Run, global_index, generator) -> tuple:
    """The rows of one global batch this process trains on, binarised afresh when the data are dynamic."""
    x = run.train.rows(global_index)
    if run.train.dynamic:  # the whole global batch, from the shared generator: ranks agree
        x = torch.bernoulli(x, generator=generator)
    if not run.ctx.enabled:
        return x, global_index
    mine = torch.arange(len(global_index), device=x.device).tensor_split(run.ctx.world_size)[run.ctx.rank]
    return x[mine], global_index[mine]


def update(
    run: _Run, x, index, *, epoch: int, number: int, last: bool, start: float, seen: int, collapsed: int
) -> tuple:
    """One optimiser update: (the bound estimate, whether the budget is spent, consecutive collapsed steps)."""
    run.optimizer.zero_grad(set_to_none=True)
    surrogate, bound = run.step(x, num_data=len(run.train), index=index)
    if run.auxiliary is not None:  # a term of the objective only: the bound is reported as it is
        surrogate = surrogate + run.auxiliary(x, num_data=len(run.train), index=index)
    objective = surrogate - log_standard_normal_prior(run.prior_params) if run.prior_params else surrogate
    objective.backward()
    late = run.stops.out_of_budget(run.trained + time.perf_counter() - start, seen)
    if run.ctx.enabled:  # one all-reduce averages the gradients and carries the bound, the objective and
        # the budget flag, so every rank takes the same decisions below
        bound, objective, flag = distributed.average_gradients(
            run.params, bound, objective, objective.new_tensor(float(late))
        )
        late = flag.item() > 0
    value, checked = torch.stack(
        [bound.detach().double(), objective.detach().double()]
    ).tolist()  # one device sync per step
    check_step(value, checked, epoch=epoch, step=number, state=run.state)
    per_point = value / len(run.train)
    if run.state.reference is None:
        run.state.reference = per_point
    floor = run.stops.collapse_floor(run.state.reference, run.train.x.shape[-1])
    collapsed = check_collapse(
        per_point, floor, collapsed, ends_epoch=last or late, epoch=epoch, step=number, state=run.state
    )
    run.optimizer.step()
    if interrupt_requested.is_set():  # a Ctrl-C whose KeyboardInterrupt was swallowed (see above)
        interrupt_requested.clear()
        raise KeyboardInterrupt
    return value, late, collapsed


def end_epoch(run: _Run, epoch: int, record: dict, evaluate: Optional[Callable], checkpointer, on_epoch_end) -> None:
    """Evaluate, check, record and (on rank 0) checkpoint a finished epoch."""
    if evaluate is not None:
        record.update(evaluate())
    check_epoch(record, run.params, epoch=epoch, state=run.state)
    run.state.epoch = epoch
    run.state.history.append(record)
    if run.ctx.is_main:  # one writer: rank 0
        if checkpointer is not None:
            checkpointer.save(run.state)
        if on_epoch_end is not None:
            on_epoch_end(run.state)
