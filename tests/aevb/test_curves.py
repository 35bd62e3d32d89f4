import json

import pytest
import torch
from conftest import mnist_dir, requires_mnist

from aevb import curves

CONFIG = {
    "train_size": 300,
    "test_size": 50,
    "latent_dim": 2,
    "hidden_dims": [16],
    "batch_size": 50,
    "binarize": "static",
    "optimizer": "adagrad",
    "lr": 0.02,
    "init": "paper",
    "map_prior": True,
}


def test_sample_targets_are_log_spaced_whole_batches_ending_at_the_budget():
    targets = curves.sample_targets(1_000_000, first=10_000, per_decade=2)
    assert targets == [10_000, 31_700, 100_000, 316_300, 1_000_000]
    assert curves.sample_targets(250, first=10_000, batch_size=50) == [250]
    with pytest.raises(ValueError, match="budget"):
        curves.sample_targets(10, batch_size=100)


class Crash(RuntimeError):
    pass


def counting_evaluator(crash_after=None):
    calls = []

    def evaluate(experiment):
        calls.append(1)
        if crash_after is not None and len(calls) > crash_after:
            raise Crash
        return {"test_bound": curves.bound_evaluator(100)(experiment)["test_bound"]}

    return evaluate


@requires_mnist
def test_an_interrupted_curve_resumes_to_the_uninterrupted_one(tmp_path):
    targets = [100, 250, 600]
    full = curves.train_curve(
        CONFIG, tmp_path / "a", targets, counting_evaluator(), data_dir=mnist_dir(), device="cpu", progress=False
    )
    assert [p["examples"] for p in full["points"]] == targets and full["complete"]

    with pytest.raises(Crash):  # dies while evaluating at 250 samples: the point at 100 is on disk
        curves.train_curve(
            CONFIG,
            tmp_path / "b",
            targets,
            counting_evaluator(crash_after=1),
            data_dir=mnist_dir(),
            device="cpu",
            progress=False,
        )
    saved = json.loads((tmp_path / "b" / "curve.json").read_text())
    assert [p["examples"] for p in saved["points"]] == [100] and not saved["complete"]
    advanced = []
    resumed = curves.train_curve(
        CONFIG,
        tmp_path / "b",
        targets,
        counting_evaluator(),
        data_dir=mnist_dir(),
        device="cpu",
        progress=False,
        advance=advanced.append,
    )
    assert sum(advanced) == 600
    assert [p["examples"] for p in resumed["points"]] == targets
    # the checkpoint had gone on to 250 before the crash; the resumed run trains nothing twice
    assert [p["test_bound"] for p in resumed["points"]] == [p["test_bound"] for p in full["points"]]

    evaluate = counting_evaluator(crash_after=0)  # a complete run is read back, not evaluated again
    assert (
        curves.train_curve(
            CONFIG, tmp_path / "a", targets, evaluate, data_dir=mnist_dir(), device="cpu", progress=False
        )
        == full
    )
    with pytest.raises(curves.exp.CheckpointError, match="another configuration"):
        curves.train_curve(
            {**CONFIG, "latent_dim": 3}, tmp_path / "a", targets, evaluate, data_dir=mnist_dir(), device="cpu"
        )


@requires_mnist
def test_choose_lr_picks_the_best_running_bound_and_remembers_it(tmp_path):
    search = curves.choose_lr(CONFIG, [0.01, 0.1, 50.0], 200, tmp_path, data_dir=mnist_dir(), device="cpu")
    scores = search["scores"]
    assert set(scores) == {"0.01", "0.1", "50"} and search["metric"] == "train_elbo"
    best = max((v, k) for k, v in scores.items() if v is not None)[1]
    assert search["chosen"] == float(best) and search["chosen"] != 50.0  # a step size of 50 wrecks the first steps
    assert not list(tmp_path.glob("lr_0*")) and not list(tmp_path.glob("lr_50"))  # the trials' checkpoints are removed
    again = curves.choose_lr(CONFIG, [0.01, 0.1, 50.0], 200, tmp_path, data_dir=mnist_dir(), device="cpu")
    assert again == search
    with pytest.raises(curves.exp.CheckpointError, match="another configuration"):
        curves.choose_lr(
            {**CONFIG, "hidden_dims": [8]}, [0.01, 0.1, 50.0], 200, tmp_path, data_dir=mnist_dir(), device="cpu"
        )


@requires_mnist
def test_held_out_points_are_the_training_points_after_the_subset():
    config = curves.exp.resolve_run_config(CONFIG)
    x = curves.held_out_points(config, 20, data_dir=mnist_dir())
    everything, _ = curves.data.load_dataset(
        "mnist", mnist_dir(), binarize_mode="static", seed=config["seed"], test_size=1
    )
    assert torch.equal(x, everything.x[300:320])  # never among the 300 the run trains on
    with pytest.raises(ValueError, match="smaller --train-size"):
        curves.held_out_points({**config, "train_size": None}, 20, data_dir=mnist_dir())


@pytest.mark.slow
@requires_mnist
def test_mcem_step_size_is_chosen_by_ais_on_held_out_points_not_by_its_log_joint(tmp_path):
    """MCEM has no training bound; its running log p(x, z) at the chains' states rewards large
    steps, so its trials are scored by AIS from the prior on held-out training points."""
    config = {**CONFIG, "inference": "mcem", "ll_estimator": "ais"}
    search = curves.choose_lr(
        config, [0.01, 0.1], 200, tmp_path / "search", held_out=20, data_dir=mnist_dir(), device="cpu"
    )
    assert search["metric"] == "held_out_ais" and search["held_out"] == {
        "first": 300,
        "points": 20,
        "ais_steps": curves.HELD_OUT_AIS_STEPS,
    }
    assert search["chosen"] == float(max(search["scores"], key=search["scores"].get))
    # the score is AIS on points 300..319 of the trial's model, trained again here the same way
    experiment = curves.exp.build({**config, "lr": 0.1}, data_dir=mnist_dir(), device="cpu")
    experiment.config["epochs"] = 1
    state = curves.exp.train_in(experiment, tmp_path / "again", max_examples=200, evaluate=False, progress=False)
    x = curves.held_out_points(experiment.config, 20, data_dir=mnist_dir())
    ais = (
        curves.LL_ESTIMATORS["ais"]
        .estimate(experiment.model, None, x, num_samples=curves.HELD_OUT_AIS_STEPS, seed=0)
        .mean()
        .item()
    )
    assert search["scores"]["0.1"] == pytest.approx(ais, abs=1e-4)
    assert abs(ais - state.history[-1]["train_log_joint"]) > 1.0  # not the log joint it used to be ranked by
    again = curves.choose_lr(
        config, [0.01, 0.1], 200, tmp_path / "search", held_out=20, data_dir=mnist_dir(), device="cpu"
    )
    assert again == search  # read back
    other = curves.choose_lr(
        config, [0.01, 0.1], 200, tmp_path / "search", held_out=10, data_dir=mnist_dir(), device="cpu"
    )
    assert other["held_out"]["points"] == 10  # other held-out points: searched again
