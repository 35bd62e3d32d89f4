"""Data-parallel training and evaluation on 2 CPU processes (gloo on loopback)."""

import socket

import distributed_worker as w
import torch
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(mode, tmp_path, world_size=2):
    mp.spawn(w.worker, args=(world_size, free_port(), str(tmp_path), mode), nprocs=world_size, join=True)
    return [torch.load(tmp_path / f"{mode}_{r}.pt", weights_only=False) for r in range(world_size)]


def test_data_parallel_steps_equal_single_process_steps_on_the_doubled_batch(tmp_path):
    """(a) after every step both ranks hold identical parameters; (b) K = 2 ranks with M = 4
    points each take the same steps as one process with M = 8 on the same examples and ε."""
    rank0, rank1 = launch("train", tmp_path)
    single = w.train_and_record(batch_size=8)
    assert len(rank0["snapshots"]) == len(single["snapshots"]) == 2 * 4  # 32 points, 8 per step, 2 epochs
    for a, b, ref in zip(rank0["snapshots"], rank1["snapshots"], single["snapshots"]):
        for pa, pb, pr in zip(a, b, ref):
            assert torch.equal(pa, pb)
            torch.testing.assert_close(pa, pr, rtol=1e-5, atol=1e-6)
    assert rank0["history"][0]["examples"] == 32
    for ha, hr in zip(rank0["history"], single["history"]):  # the bound of the global batch, averaged over ranks
        assert abs(ha["train_elbo"] - hr["train_elbo"]) < 1e-4 * abs(hr["train_elbo"])


def test_distributed_evaluation_equals_single_process_evaluation(tmp_path):
    """(c) point batches split across ranks and gathered give exactly the single-process numbers."""
    rank0, rank1 = launch("eval", tmp_path)
    single = w.evaluate_all()
    for key in ("elbo", "ll"):
        assert rank0[key].shape == (32,)
        assert torch.equal(rank0[key], single[key]) and torch.equal(rank1[key], single[key])
