"""Progress reports: plain periodic lines when stderr is not a terminal, a bar on one, nothing when off."""

import io

import pytest
import torch
from conftest import binary_data, tiny_model_and_guide
from tqdm.auto import tqdm

from aevb.inference import progress
from aevb.inference.estimators.importance import log_likelihood_per_point


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", fake)
    return fake


def lines_of(report_fn, monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(progress.sys, "stderr", err)
    monkeypatch.setenv("AEVB_PROGRESS", "lines")
    report_fn()
    return err.getvalue()


def test_lines_at_ten_percent_steps_but_not_more_often_than_the_minimum_interval(clock, monkeypatch):
    def work():
        with progress.progress(100, "IS log-likelihood (K=1000)", unit="points") as bar:
            for _ in range(100):
                clock.now += 2.0  # 200 s in all: a 10% step every 20 s, more than MIN_INTERVAL apart
                bar.update(1)

    text = lines_of(work, monkeypatch)
    lines = text.strip().splitlines()
    assert "\r" not in text
    assert lines[0] == "IS log-likelihood (K=1000): 10/100 points (10%), 20 s elapsed, about 3.0 min left"
    assert (
        len(lines) == 10 and lines[-1] == "IS log-likelihood (K=1000): done, 100 points in 3.3 min"
    )  # 10%..90%, then done


def test_fast_work_writes_no_lines_and_slow_work_at_least_one_per_max_interval(clock, monkeypatch):
    def fast():
        with progress.progress(1000, "fast") as bar:
            for _ in range(1000):
                clock.now += 0.001
                bar.update(1)

    assert lines_of(fast, monkeypatch) == ""

    def slow():  # 1% per 40 s: no 10% step within MAX_INTERVAL, so the clock writes
        with progress.progress(100, "slow") as bar:
            for _ in range(5):
                clock.now += 40.0
                bar.update(1)

    lines = lines_of(slow, monkeypatch).strip().splitlines()
    assert len(lines) == 6 and lines[0].startswith("slow: 1/100 it (1%), 40 s elapsed")


def test_only_the_outermost_report_writes_and_inner_work_keeps_its_clock(clock, monkeypatch):
    def sweep():
        with progress.progress(2, "sweep", unit="runs") as outer:
            outer.set_postfix_str("run 1")
            with progress.progress(1000, "epoch 1/1", unit="steps") as inner:
                for _ in range(1000):
                    clock.now += 0.1  # 100 s inside the inner report
                    inner.update(1)
            outer.update(1)

    lines = lines_of(sweep, monkeypatch).strip().splitlines()
    assert lines and all(line.startswith("sweep:") for line in lines)
    assert lines[0] == "sweep: 0/2 runs, 30 s elapsed; run 1"  # written by the inner report's updates


def test_mode_follows_the_environment_and_the_terminal(monkeypatch):
    monkeypatch.setenv("AEVB_PROGRESS", "off")
    assert isinstance(progress.progress(10, "x"), progress.Silent) and not isinstance(
        progress.progress(10, "x"), progress.Lines
    )
    monkeypatch.setenv("AEVB_PROGRESS", "bar")
    bar = progress.progress(10, "x", file=io.StringIO())
    assert isinstance(bar, tqdm)
    bar.close()
    monkeypatch.delenv("AEVB_PROGRESS")
    monkeypatch.setattr(progress.sys, "stderr", io.StringIO())  # not a terminal
    report = progress.progress(10, "x")
    assert isinstance(report, progress.Lines)
    report.close()
    assert isinstance(progress.progress(10, "x", enabled=False), progress.Silent)
    monkeypatch.setenv("AEVB_PROGRESS", "loud")
    with pytest.raises(ValueError, match="AEVB_PROGRESS must be one of"):
        progress.progress(10, "x")


def test_an_estimator_reports_its_points_and_returns_the_same_numbers(monkeypatch):
    """With no minimum interval every 10% step writes: 5 batches of 50 points give lines at 20% ...
    80% and a closing line; the estimate is the one computed without reporting."""
    monkeypatch.setattr(progress, "MIN_INTERVAL", 0.0)
    model, guide = tiny_model_and_guide()
    x = binary_data(250, 6)
    quiet = log_likelihood_per_point(model, guide, x, num_samples=20, batch_size=50)
    result = {}
    text = lines_of(
        lambda: result.setdefault(
            "value", log_likelihood_per_point(model, guide, x, num_samples=20, batch_size=50, progress=True)
        ),
        monkeypatch,
    )
    assert torch.equal(result["value"], quiet)  # reporting changes no number
    lines = text.strip().splitlines()
    assert [line.split(":")[1].split("(")[1].split(")")[0] for line in lines[:-1]] == ["20%", "40%", "60%", "80%"]
    assert lines[-1].startswith("IS log-likelihood (K=20): done, 250 points in")
