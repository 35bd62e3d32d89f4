"""Data-parallel training and evaluation with :mod:`torch.distributed` (one process per device).

Launch any program of the collection with ``torchrun --nproc-per-node K`` (and the usual
multi-node flags): :func:`init_distributed` reads torchrun's environment and joins the process
group, with backend ``nccl`` on CUDA and ``gloo`` on the CPU. Without torchrun nothing changes.

What each rank does (see ``inference/training/loop.py``):

* every rank draws the same random order of the N training points per epoch and the same
  global minibatch of K·M indices, binarises the whole global batch with the epoch's shared
  generator, and trains on its own slice of M (an equivalent split of the on-device data set
  to :class:`~torch.utils.data.distributed.DistributedSampler`, chosen so that one step on K
  ranks sees exactly the examples of one single-process step with batch K·M);
* the plate keeps ``num_data`` = N, so each rank's loss is the eq. 8 estimate (N/M) Σ of the
  full-data bound and their average is the estimate on the K·M points;
* gradients of every parameter are averaged with one all-reduce of a flat buffer between the
  backward pass and the optimiser step (:func:`average_gradients`), not with
  ``DistributedDataParallel``: the parameters live in Pyro programs (model, guide, AutoGuides,
  flows) rather than in one module with one forward, and the bound estimate rides in the same
  buffer, so the progress bar, the metrics and the NaN stop agree on every rank;
* ε draws differ between ranks: each rank's RNG is reseeded at every epoch from (seed, epoch,
  rank), so the same seed and world size reproduce a run and ``--resume`` continues it exactly.

Evaluation splits its point batches across ranks and gathers the results
(:func:`aevb.inference.estimators.batching.seeded_point_batches`); each batch is seeded by its position, so the
number is the one a single process computes.
"""

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current() -> DistributedContext:
    """This process's place in the process group (rank 0 of 1 when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return DistributedContext()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """Rank 0, or a plain single process; readable before the process group exists (torchrun's
    ``RANK``), so programs can keep their other ranks quiet from the start."""
    return current().is_main if dist.is_available() and dist.is_initialized() else int(os.environ.get("RANK", "0")) == 0


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def init_distributed(device: torch.device) -> tuple:
    """Join the process group torchrun set up, if any; returns ``(context, device)`` where a CUDA
    device becomes this process's own GPU (``cuda:LOCAL_RANK``)."""
    if not launched_by_torchrun():
        return DistributedContext(), device
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend_for(device))
    return current(), device


def derived_seed(*keys: int) -> int:
    """An RNG seed that is a pure function of ``keys``, well mixed (NumPy's SeedSequence): e.g.
    (seed, epoch, rank) for a rank's training draws in an epoch, so runs and resumes reproduce,
    or (seed, first point) for an evaluation batch, so any rank draws it the same way."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def average_gradients(params, *extras: torch.Tensor) -> list:
    """Replace every parameter's gradient by its mean over the ranks (a missing gradient counts as
    zero), with one all-reduce of one flat buffer that also carries ``extras`` (scalars, e.g. the
    bound estimate); returns the extras' means."""
    ctx = current()
    if not ctx.enabled:
        return list(extras)
    params = list(params)
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    if any(g.is_sparse for g in grads):
        raise RuntimeError("sparse gradients (per-datapoint tables) cannot be averaged across ranks")
    flat = torch.cat([g.reshape(-1) for g in grads] + [e.detach().reshape(-1).to(grads[0].dtype) for e in extras])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n
    return [flat[offset + i] for i in range(len(extras))]


@torch.no_grad()
def broadcast_parameters(params) -> None:
    """Every rank starts from rank 0's values."""
    if current().enabled:
        for p in params:
            dist.broadcast(p.data, src=0)


def gather_objects(obj) -> list:
    """``obj`` from every rank, in rank order (every rank gets the list)."""
    ctx = current()
    if not ctx.enabled:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out
