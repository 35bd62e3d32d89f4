"""Per-point scores of any data under a trained run (aevb.scoring): the run's own evaluation
reproduced point by point, rows read as the run's test set is, and bad data refused."""

import numpy as np
import pytest
import torch

import aevb
from aevb.data import DataError, scored_rows
from aevb.data.complexity import compressed_bits
from aevb.scoring import Scores, csv_text, detect, rows_for, score

CONFIG = {
    "epochs": 1,
    "latent_dim": 2,
    "hidden_dims": [16],
    "batch_size": 20,
    "eval_samples": 30,
    "elbo_samples": 3,
    "binarize": "dynamic",
}


def silent(*args):
    pass


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run trained on an .npz file of grey levels with labels, and the file."""
    folder = tmp_path_factory.mktemp("scoring")
    g = torch.Generator().manual_seed(7)  # not the test set's binarisation seed (0): its draws would be these
    x = (torch.rand(150, 16, generator=g) * torch.linspace(0.1, 0.9, 16)).numpy()
    path = folder / "grey.npz"
    np.savez(path, x=x, y=np.arange(150) % 3)
    run = aevb.build(CONFIG, data=str(path), device="cpu", log=silent, progress=False)
    aevb.train(run, folder / "run")
    return run, path, folder


def test_scores_of_the_runs_own_test_points_are_its_final_evaluation_point_by_point(trained):
    run, path, folder = trained
    reported = run.log_likelihood()
    scores = score(run, log=silent)
    assert len(scores) == reported["num_points"] == len(run.test)
    assert scores.summary()["log_likelihood"]["value"] == pytest.approx(reported["value"], abs=1e-6)
    assert scores.summary()["log_likelihood"]["standard_error"] == pytest.approx(reported["standard_error"], abs=1e-6)
    assert scores.summary()["elbo"] == pytest.approx(run.evaluate()["test_elbo"], abs=1e-5)
    # the run as a program loads it: from its checkpoint, the same numbers
    loaded = aevb.load(folder / "run", device="cpu", log=silent, progress=False)
    again = score(loaded, log=silent)
    assert torch.equal(again.log_p, scores.log_p) and torch.equal(again.elbo, scores.elbo)
    # every column per point; the ELBO a lower bound: below IS on average
    assert scores.bits_per_dim.allclose(-scores.log_p.double() / (16 * np.log(2)))
    assert scores.corrected_bits.allclose(scores.log_p.double() / np.log(2) + scores.complexity_bits)
    assert scores.elbo.mean() < scores.log_p.mean()


def test_rows_are_read_and_prepared_as_the_runs_test_set_is(trained):
    run, path, _ = trained
    test = rows_for(run, split="test", log=silent)
    assert torch.equal(test.x, run.test.x) and torch.equal(test.y, run.test.y)
    every = rows_for(run, str(path), split="all", log=silent)
    file_rows = torch.from_numpy(np.load(path)["x"]).float()
    assert len(every) == 150 and torch.equal(every.y, torch.arange(150) % 3)  # the file's order
    assert set(every.x.unique().tolist()) <= {0.0, 1.0}  # binarised once, as the test set is
    assert (every.x.mean(0) - file_rows.mean(0)).abs().max() < 0.15  # draws of the file's grey levels
    train = rows_for(run, split="train", log=silent)
    assert len(train) + len(test) == 150 and set(train.x.unique().tolist()) <= {0.0, 1.0}
    # the same call twice gives the same binary draw (the test set's fixed seed)
    assert torch.equal(rows_for(run, str(path), split="all", log=silent).x, every.x)


def test_any_file_is_scored_in_its_own_order_with_its_complexity(trained, tmp_path):
    run, _, _ = trained
    new = (torch.rand(7, 16, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    path = tmp_path / "new.npy"
    np.save(path, new.numpy())
    scores = score(run, str(path), split="all", log=silent)
    assert len(scores) == 7 and scores.index.tolist() == list(range(7)) and (scores.label == -1).all()
    assert torch.equal(scores.complexity_bits, compressed_bits(new, run.train.image_shape))
    assert scores.about["data"] == str(path) and scores.about["split"] == "all"
    first = score(run, str(path), points=3, log=silent)  # split "auto": every row of new data
    assert len(first) == 3 and first.about["split"] == "all"
    text = csv_text({"new": scores})
    assert text.splitlines()[0] == "set," + ",".join(Scores.COLUMNS) and len(text.splitlines()) == 8


def test_data_of_another_shape_or_too_few_rows_are_refused_with_one_line(trained, tmp_path):
    run, _, _ = trained
    path = tmp_path / "wide.npy"
    np.save(path, np.zeros((5, 20), dtype=np.float32))
    with pytest.raises(DataError, match="have 20 values per row .* trained on 16"):
        score(run, str(path), split="all", log=silent)
    with pytest.raises(ValueError, match="points must be between 1 and 15"):
        score(run, points=16, log=silent)
    with pytest.raises(DataError, match="split must be one of"):
        scored_rows("mnist", split="validation")


def test_detection_of_noise_under_a_model_of_structured_data(trained, tmp_path):
    """Points of uniform noise are far less likely under the model than its own test points: the
    raw score finds them; both scores are reported with the refused points counted."""
    run, _, _ = trained
    path = tmp_path / "noise.npy"
    np.save(path, (np.random.default_rng(0).random((40, 16)) > 0.5).astype(np.float32))
    inside, outside = score(run, log=silent), score(run, str(path), split="all", log=silent)
    found = detect(inside, outside)
    assert found["raw"]["auroc"] > 0.7 and found["refused"] == {"inside": 0, "outside": 0}
    assert 0 <= found["corrected"]["auroc"] <= 1


def test_a_summary_of_points_an_estimator_refused_leaves_them_out_and_keeps_the_rest():
    """Appendix D refuses points (NaN): the log-likelihood's summary counts them, the columns that
    need log p(x) average the rest, and the complexity and the ELBO average every point."""
    nan = float("nan")
    log_p = torch.tensor([-10.0, nan, nan])
    scores = Scores(
        index=torch.arange(3),
        label=torch.full((3,), -1),
        log_p=log_p,
        standard_error=torch.tensor([0.1, nan, nan]),
        ess=torch.tensor([50.0, nan, nan]),
        reliable=torch.tensor([True, False, False]),
        elbo=torch.tensor([-11.0, -12.0, -13.0]),
        bits_per_dim=-log_p.double() / (2 * np.log(2)),
        complexity_bits=torch.tensor([8.0, 16.0, 24.0], dtype=torch.float64),
        corrected_bits=log_p.double() / np.log(2) + 8.0,
        about={},
    )
    summary = scores.summary()
    assert summary["log_likelihood"]["refused"] == 2 and summary["log_likelihood"]["value"] == -10.0
    assert summary["complexity_bits"] == 16.0 and summary["elbo"] == -12.0
    assert summary["bits_per_dim"] == pytest.approx(10 / (2 * np.log(2)))
    every_refused = Scores(**{**scores.__dict__, "log_p": torch.full((3,), nan), "bits_per_dim": torch.full((3,), nan)})
    assert every_refused.summary()["bits_per_dim"] is None and every_refused.summary()["complexity_bits"] == 16.0
