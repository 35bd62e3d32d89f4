"""Worker processes for tests/inference/training/test_distributed.py (importable by spawned children)."""

from pathlib import Path

import pyro
import pyro.distributions as dist
import torch
import torch.distributed as torch_dist

from aevb.data import Split
from aevb.guides import DiagonalGaussianGuide
from aevb.inference import AEVB, fit, make_optimizer
from aevb.inference.estimators.elbo import elbo_per_point
from aevb.inference.estimators.importance import log_likelihood_per_point
from aevb.models import BernoulliVAE
from aevb.models.contract import data_plate

NUM_DATA, DATA_DIM, LATENT_DIM, HIDDEN_DIM = 32, 6, 2, 8


class FixedNoiseGuide(DiagonalGaussianGuide):
    """The diagonal guide with ε read from a fixed table by data index: z = μ + σ ε, its density
    log q(z|x) attached to a Delta site. Estimator A on it is the usual estimator A with the
    same ε whoever computes the point, so data-parallel and single-process steps can be equal.
    A Delta at its own draw has no density elsewhere (the preflight check refuses the inherited claim)."""

    density_anywhere = False

    def __init__(self):
        super().__init__(DATA_DIM, LATENT_DIM, HIDDEN_DIM)
        self.register_buffer("eps", torch.randn(NUM_DATA, LATENT_DIM, generator=torch.Generator().manual_seed(7)))

    def forward(self, x, *, num_data=None, index=None):
        self.register()
        q = self.posterior(x)
        z = q.base_dist.loc + q.base_dist.scale * self.eps[index]
        with data_plate(x, num_data, index):
            return pyro.sample("z", dist.Delta(z, log_density=q.log_prob(z), event_dim=1))


def problem(seed=0):
    torch.manual_seed(seed)
    model, guide = BernoulliVAE(DATA_DIM, LATENT_DIM, HIDDEN_DIM), FixedNoiseGuide()
    train = Split(torch.rand(NUM_DATA, DATA_DIM, generator=torch.Generator().manual_seed(4)), (2, 3), dynamic=True)
    return model, guide, train


def train_and_record(batch_size: int, epochs: int = 2):
    """Parameters after every optimiser step of a small AEVB run (estimator A, fixed ε)."""
    model, guide, train = problem()
    algorithm = AEVB(model, guide, estimator="A")
    optimizer = make_optimizer("adam", algorithm.parameters(), 0.01)
    snapshots = []
    step = optimizer.step

    def recording_step():
        step()
        snapshots.append([p.detach().clone() for p in algorithm.parameters()])

    optimizer.step = recording_step
    state = fit(algorithm, optimizer, train, epochs=epochs, batch_size=batch_size, seed=3, progress=False)
    return {"snapshots": snapshots, "history": state.history}


def evaluate_all():
    model, _, train = problem()
    guide = DiagonalGaussianGuide(DATA_DIM, LATENT_DIM, HIDDEN_DIM)
    x = torch.bernoulli(train.x, generator=torch.Generator().manual_seed(1))
    return {
        "elbo": elbo_per_point(model, guide, x, num_samples=7, batch_size=5, seed=2),
        "ll": log_likelihood_per_point(model, guide, x, num_samples=50, batch_size=3, seed=2),
    }


def worker(rank: int, world_size: int, port: int, out_dir: str, mode: str):
    torch.set_num_threads(1)
    torch_dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        result = train_and_record(batch_size=4) if mode == "train" else evaluate_all()
        torch.save(result, Path(out_dir) / f"{mode}_{rank}.pt")
    finally:
        torch_dist.destroy_process_group()
