"""``--tensorboard DIR``: the event files read back to the numbers of metrics.json."""

import json

import numpy as np
import pytest
from conftest import mnist_dir, requires_mnist, run_program

from aevb.examples import mnist_aevb

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


@requires_mnist
def test_event_files_hold_the_metrics_images_and_configuration(tmp_path):
    board = tmp_path / "tb"
    run_program(
        mnist_aevb,
        "--epochs",
        "3",
        "--train-size",
        "300",
        "--test-size",
        "100",
        "--eval-samples",
        "20",
        "--batch-size",
        "50",
        "--latent-dim",
        "3",
        "--hidden-dims",
        "30",
        "--device",
        "cpu",
        "--quiet",
        "--data-dir",
        mnist_dir(),
        "--out",
        tmp_path / "run",
        "--tensorboard",
        board,
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    events = event_accumulator.EventAccumulator(str(board), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    for key in ("train_elbo", "test_elbo", "examples_per_second", "seconds", "examples"):
        assert f"epoch/{key}" in scalars
        logged = [(e.step, e.value) for e in events.Scalars(f"epoch/{key}")]
        expected = [(r["epoch"], np.float32(r[key])) for r in metrics["epochs"]]  # TensorBoard stores float32
        assert logged == expected, key
    final = events.Scalars("final/test_log_likelihood")
    assert [(e.step, e.value) for e in final] == [(3, np.float32(metrics["test_log_likelihood"]["value"]))]
    for tag in ("samples", "reconstructions"):
        assert [e.step for e in events.Images(tag)] == [1, 2, 3]
    config_text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "latent_dim: 3" in config_text and "hidden_dims:\n    - 30" in config_text


def test_without_the_package_the_flag_fails_with_one_line(monkeypatch, tmp_path):
    import builtins

    from aevb import tracking
    from aevb.config import ConfigError

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("no tensorboard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ConfigError, match="--tensorboard needs the tensorboard package"):
        tracking.logger(tmp_path, {"latent_dim": 3})
    assert tracking.logger(None, {}) is None
