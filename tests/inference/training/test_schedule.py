"""Burda et al.'s step-size schedule: epochs and step sizes per stage, applied by the training loop."""

import math

import pytest
import torch
from conftest import mnist_dir, requires_mnist

from aevb import experiment as exp
from aevb.inference.training.optim import make_optimizer
from aevb.inference.training.schedule import BURDA_STAGES, LR_SCHEDULES, current_lr, stage_end, stage_of


def test_the_schedule_holds_lr_times_ten_to_minus_i_over_seven_for_three_to_the_i_epochs():
    """Stage i = 0 … 7: 3^i epochs at 1e-3·10^(−i/7), 3280 epochs in all (Burda et al. 2015, §5)."""
    assert stage_end(BURDA_STAGES) == 3280 and stage_end(0) == 0 and stage_end(5) == 121
    runs = []  # (step size, epochs) of consecutive epochs with one step size
    for epoch in range(1, 3281):
        lr = LR_SCHEDULES["burda"](1e-3, epoch)
        if runs and runs[-1][0] == lr:
            runs[-1][1] += 1
        else:
            runs.append([lr, 1])
    assert [n for _, n in runs] == [3**i for i in range(8)]
    for i, (lr, _) in enumerate(runs):
        assert math.isclose(lr, 1e-3 * 10 ** (-i / 7), rel_tol=1e-12)
    assert [stage_of(e) for e in (1, 2, 4, 5, 13, 14, 40, 41, 3280, 3281)] == [0, 1, 1, 2, 2, 3, 3, 4, 7, 8]
    assert LR_SCHEDULES["constant"](0.02, 3000) == 0.02
    with pytest.raises(ValueError, match="positive"):
        stage_of(0)


@requires_mnist
def test_training_steps_with_each_epochs_scheduled_step_size(tmp_path):
    """Through the run API: the optimiser's step size in every epoch (read back from it) is the
    schedule's, and the optimiser's ε is the configured one."""
    run = exp.build(
        {
            "latent_dim": 2,
            "hidden_dims": [8],
            "epochs": 5,
            "batch_size": 20,
            "train_size": 40,
            "test_size": 20,
            "lr_schedule": "burda",
            "optimizer_eps": 1e-4,
            "lr": 0.01,
        },
        data_dir=mnist_dir(),
        device="cpu",
        log=lambda *a: None,
        progress=False,
    )
    assert run.optimizer.param_groups[0]["eps"] == 1e-4
    state = exp.train(run, tmp_path, evaluate=False)
    expected = [0.01] + [0.01 * 10 ** (-1 / 7)] * 3 + [0.01 * 10 ** (-2 / 7)]
    assert [h["lr"] for h in state.history] == pytest.approx(expected, rel=1e-12)
    assert current_lr(run.optimizer) == pytest.approx(expected[-1], rel=1e-12)


def test_optimizer_eps_reaches_every_optimiser_and_is_checked():
    params = [torch.nn.Parameter(torch.zeros(3))]
    assert make_optimizer("adam", params, 1e-3, eps=1e-4).param_groups[0]["eps"] == 1e-4
    assert make_optimizer("adam", params, 1e-3).param_groups[0]["eps"] == 1e-8  # torch's default when not given
    with pytest.raises(ValueError, match="eps must be positive"):
        make_optimizer("adam", params, 1e-3, eps=0.0)


def test_the_step_size_reaches_every_optimiser_of_a_combined_one():
    """The mean-field guide's runs step a dense and a sparse optimiser as one: both take the schedule's step size."""
    from aevb.inference.training.schedule import set_lr

    dense, table = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(4, 2))
    optimizer = make_optimizer("adam", [dense, table], 1e-3, sparse_params=[table])
    set_lr(optimizer, 0.5)
    assert len(optimizer.optimizers) == 2 and [g["lr"] for o in optimizer.optimizers for g in o.param_groups] == [
        0.5,
        0.5,
    ]
    assert current_lr(optimizer) == 0.5
