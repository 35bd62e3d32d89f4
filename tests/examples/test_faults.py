"""Fault injection against the programs: nothing lost, nothing silent (docs/reliability.md).

Each case of the fault-injection report has a test here: resuming keeps the history, a folder
holding a run is never silently replaced, two runs never share a folder, a finite divergence
stops, and every error path (file system, full disk, malformed checkpoints, bad numbers,
Ctrl-C) ends with one line and loses nothing already written. The fault classes run against
every program that writes a folder.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, FullDiskFile, mnist_dir, requires_mnist, run_program

from aevb import data
from aevb.examples import (
    compare_inference,
    linear_gaussian_oracle,
    mnist_aevb,
    ood_pair,
    paper_figure2,
    paper_figure3,
    paper_figure4_5,
    posterior_diagnostics,
    score,
)
from aevb.files import TEMP_SUFFIX, write_json
from aevb.folder import RunFolder
from aevb.inference import AEVB, load_checkpoint
from aevb.inference.training import checkpoint as checkpoint_module

#: program-level runs that train: the fast subset (`pytest -m "not slow"`) skips them
pytestmark = [requires_mnist, pytest.mark.slow]
SMALL = [
    "--train-size",
    "300",
    "--test-size",
    "100",
    "--eval-samples",
    "20",
    "--elbo-samples",
    "2",
    "--batch-size",
    "50",
    "--latent-dim",
    "2",
    "--hidden-dims",
    "20",
    "--device",
    "cpu",
    "--quiet",
]


def train(out, *args, check=True):
    return run_program(mnist_aevb, "--data-dir", mnist_dir(), "--out", out, *SMALL, *args, check=check)


def metrics(out):
    return json.loads((out / "metrics.json").read_text())


def one_line(result, code=1):
    assert result.returncode == code, (result.returncode, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


# ----------------------------------------------------------------------------- resume keeps what was recorded


def test_resuming_a_finished_run_keeps_its_history_and_reruns_nothing(tmp_path, monkeypatch):
    """The issue's reproduction: 2 epochs, then the same command with --resume used to rewrite
    metrics.json with "epochs": []."""
    train(tmp_path, "--epochs", "2")
    before, checkpoint = metrics(tmp_path), (tmp_path / "checkpoint.pt").read_bytes()

    def never(*a, **k):
        raise AssertionError("a finished run's evaluation was run again")

    monkeypatch.setattr(mnist_aevb.exp.Experiment, "log_likelihood", never)
    result = train(tmp_path, "--epochs", "2", "--resume")
    assert "was done before" not in result.stdout  # --quiet
    after = metrics(tmp_path)
    assert after["epochs"] == before["epochs"] and [e["epoch"] for e in after["epochs"]] == [1, 2]
    assert after["test_log_likelihood"] == before["test_log_likelihood"]
    assert (tmp_path / "checkpoint.pt").read_bytes() == checkpoint  # nothing trained, nothing rewritten


def test_an_evaluation_written_before_the_flags_is_run_again_on_resume(tmp_path):
    """A finished run's final evaluation from before the points' flags (its standard error was the
    old bounded one) counts as missing: --resume computes it again, flags included, and nothing
    else."""
    train(tmp_path, "--epochs", "1")
    before = metrics(tmp_path)
    old = {k: v for k, v in before["test_log_likelihood"].items() if k not in ("unreliable", "refused", "min_ess")}
    write_json(tmp_path / "metrics.json", {**before, "test_log_likelihood": old})
    train(tmp_path, "--epochs", "1", "--resume")
    after = metrics(tmp_path)["test_log_likelihood"]
    assert after["unreliable"] == before["test_log_likelihood"]["unreliable"] and after["value"] == old["value"]


def test_a_run_killed_during_the_final_evaluation_resumes_with_the_evaluation_only(tmp_path, monkeypatch):
    real = mnist_aevb.exp.Experiment.log_likelihood

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist_aevb.exp.Experiment, "log_likelihood", interrupted)
    result = train(tmp_path, "--epochs", "2", check=False)
    assert one_line(result, 130).startswith("interrupted during the final evaluation; training is complete")
    assert [e["epoch"] for e in metrics(tmp_path)["epochs"]] == [1, 2] and "test_log_likelihood" not in metrics(
        tmp_path
    )
    monkeypatch.setattr(mnist_aevb.exp.Experiment, "log_likelihood", real)
    checkpoint = (tmp_path / "checkpoint.pt").read_bytes()
    train(tmp_path, "--epochs", "2", "--resume")
    assert [e["epoch"] for e in metrics(tmp_path)["epochs"]] == [1, 2] and metrics(tmp_path)["test_log_likelihood"][
        "epoch"
    ] == 2
    assert (tmp_path / "checkpoint.pt").read_bytes() == checkpoint


def test_resuming_appends_to_the_history_and_matches_an_uninterrupted_run(tmp_path):
    train(tmp_path / "a", "--epochs", "3")
    train(tmp_path / "b", "--epochs", "1")
    train(tmp_path / "b", "--epochs", "3", "--resume")
    a, b = metrics(tmp_path / "a"), metrics(tmp_path / "b")
    strip = lambda m: [{k: v for k, v in e.items() if k not in ("seconds", "examples_per_second")} for e in m["epochs"]]  # noqa: E731
    assert strip(a) == strip(b) and a["test_log_likelihood"]["value"] == b["test_log_likelihood"]["value"]


def test_a_comparison_interrupted_inside_a_pair_resumes_that_pair_from_its_checkpoint(tmp_path, monkeypatch):
    args = [
        "--data-dir",
        mnist_dir(),
        "--out",
        tmp_path,
        *SMALL,
        "--epochs",
        "2",
        "--guides",
        "diag",
        "fullcov",
        "--algorithms",
        "aevb",
    ]
    real_save = checkpoint_module.Checkpointer.save
    saves = {"n": 0}

    def save_then_stop(self, state):  # the second pair is interrupted after its first epoch is saved
        real_save(self, state)
        saves["n"] += 1
        if saves["n"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module.Checkpointer, "save", save_then_stop)
    assert "finished pairs are kept in" in one_line(run_program(compare_inference, *args, check=False), 130)
    first_epoch = load_checkpoint(tmp_path / "pairs" / "fullcov_aevb" / "checkpoint.pt")["history"]
    monkeypatch.setattr(checkpoint_module.Checkpointer, "save", real_save)
    assert "holds a comparison grid (1 finished pair, 1 unfinished)" in one_line(
        run_program(compare_inference, *args, check=False)
    )
    run_program(compare_inference, *args, "--resume")
    resumed = json.loads((tmp_path / "pairs" / "fullcov_aevb" / "metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in resumed] == [1, 2] and resumed[0] == first_epoch[
        0
    ]  # epoch 1 kept, epoch 2 trained on top


def test_a_full_disk_ends_a_comparison_instead_of_failing_every_pair(tmp_path, monkeypatch):
    def full(self, state):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

    monkeypatch.setattr(checkpoint_module.Checkpointer, "save", full)
    args = [
        "--data-dir",
        mnist_dir(),
        "--out",
        tmp_path,
        *SMALL,
        "--epochs",
        "1",
        "--guides",
        "diag",
        "fullcov",
        "--algorithms",
        "aevb",
    ]
    assert "No space left on device" in one_line(run_program(compare_inference, *args, check=False))


# ----------------------------------------------------------------------------- one run per folder


def test_a_second_run_into_a_folder_holding_a_run_is_refused(tmp_path):
    train(tmp_path, "--epochs", "2")
    checkpoint = (tmp_path / "checkpoint.pt").read_bytes()
    message = one_line(train(tmp_path, "--epochs", "1", check=False))
    assert (
        f"{tmp_path} holds a finished run (2 epochs, evaluated): --resume continues it, --overwrite replaces it"
        in message
    )
    assert (tmp_path / "checkpoint.pt").read_bytes() == checkpoint
    train(tmp_path, "--epochs", "1", "--overwrite")
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1 and len(metrics(tmp_path)["epochs"]) == 1


def test_a_partial_run_is_named_as_such(tmp_path):
    train(tmp_path, "--epochs", "1")
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    state["config"]["epochs"] = 3  # as if killed after epoch 1 of 3
    torch.save(state, tmp_path / "checkpoint.pt")
    assert "holds a partial run (1 of 3 epochs)" in one_line(train(tmp_path, "--epochs", "3", check=False))


def test_two_runs_started_into_one_folder_one_is_refused_and_the_folder_stays_consistent(tmp_path):
    """Two real processes: the second starts while the first holds the folder and is refused;
    the first, stopped by a real Ctrl-C (SIGINT), says what it saved and leaves a consistent folder."""
    out = tmp_path / "run"
    command = [
        sys.executable,
        str(ROOT / "examples" / "mnist_aevb.py"),
        "--data-dir",
        str(mnist_dir()),
        "--out",
        str(out),
        *SMALL,
        "--epochs",
        "100000",
    ]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not ((out / "metrics.json").exists() and str(first.pid) in (out / ".lock").read_text()):
            assert time.time() < deadline and first.poll() is None, "the first run never took the folder"
            time.sleep(0.05)
        second = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert (
            second.returncode == 1
            and f"another run (pid {first.pid}, started" in second.stderr
            and len(second.stderr.strip().splitlines()) == 1
        )
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=300)
    finally:
        first.kill()  # whatever failed above, no run is left behind
    assert first.returncode == 130 and len(stderr.strip().splitlines()) == 1
    saved = load_checkpoint(out / "checkpoint.pt")["epoch"]
    assert f"holds a partial run ({saved} of 100000 epochs): the same command with --resume continues it" in stderr
    assert [e["epoch"] for e in metrics(out)["epochs"]] == list(range(1, saved + 1))


def test_a_run_killed_mid_training_resumes_exactly_and_its_debris_is_removed(tmp_path):
    """kill -9 in the middle of a run; --resume then matches an uninterrupted run, and a
    temporary file the killed run left is removed."""
    out = tmp_path / "killed"
    command = [
        sys.executable,
        str(ROOT / "examples" / "mnist_aevb.py"),
        "--data-dir",
        str(mnist_dir()),
        "--out",
        str(out),
        *SMALL,
        "--epochs",
        "40",
    ]
    victim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not ((out / "metrics.json").exists() and len(metrics(out)["epochs"]) >= 2):
            assert time.time() < deadline and victim.poll() is None
            time.sleep(0.02)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    debris = out / f".checkpoint.pt.k1ll3d{TEMP_SUFFIX}"
    debris.write_bytes(b"half a checkpoint")  # what a kill in the middle of a write leaves
    train(out, "--epochs", "40", "--resume")
    train(tmp_path / "whole", "--epochs", "40")
    strip = lambda m: [(e["train_elbo"], e["test_elbo"]) for e in m["epochs"]]  # noqa: E731
    assert strip(metrics(out)) == strip(metrics(tmp_path / "whole")) and not debris.exists()


# ----------------------------------------------------------------------------- divergence


@pytest.mark.parametrize("args", [["--lr", "1e4"], ["--optimizer", "adagrad", "--lr", "1e6"]])
def test_a_finite_divergence_ends_the_run_with_one_line(tmp_path, args):
    """The issue's cases: these used to exit 0 with a test ELBO of -2.4e10 or -1e14."""
    message = one_line(train(tmp_path, "--epochs", "3", *args, check=False))
    assert (
        "error: the training bound collapsed to" in message
        and "at epoch 1, step" in message
        and "nothing was saved" in message
    )
    assert not (tmp_path / "checkpoint.pt").exists() and not (tmp_path / "metrics.json").exists()


def test_resuming_a_diverged_checkpoint_gives_one_line(tmp_path):
    train(tmp_path, "--epochs", "1")
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    next(iter(state["modules"]["model"].values())).fill_(float("nan"))
    torch.save(state, tmp_path / "checkpoint.pt")
    assert "holds non-finite values" in one_line(train(tmp_path, "--epochs", "2", "--resume", check=False))


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda c: c.pop("latent_dim"),
            "cannot resume",
        ),  # it takes the default (20): another run than the flags ask for
        (lambda c: c.update(latent_dim="two"), "holds an unusable configuration: latent_dim must be an integer"),
        (lambda c: c.update(guide=["diag"]), "holds an unusable configuration: guide must be a string"),
        (lambda c: c.update(colour="blue"), "holds an unusable configuration: unknown key 'colour'"),
    ],
)
def test_a_checkpoint_with_a_bad_configuration_gives_one_line(tmp_path, change, message):
    train(tmp_path, "--epochs", "1")
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    change(state["config"])
    torch.save(state, tmp_path / "checkpoint.pt")
    assert message in one_line(train(tmp_path, "--epochs", "2", "--resume", check=False))


# ----------------------------------------------------------------------------- disk full, Ctrl-C


def test_a_disk_that_fills_during_a_checkpoint_keeps_the_last_one(tmp_path, small_disk, monkeypatch):
    """The first checkpoint fits on the disk; the second does not (an atomic write needs room for
    both copies): the run ends with one line and the first checkpoint stays loadable."""
    train(tmp_path / "sizing", "--epochs", "1")
    size = (
        (tmp_path / "sizing" / "checkpoint.pt").stat().st_size
    )  # room for one checkpoint and a half, with metrics and figures
    disk = small_disk(int(1.5 * size) // 1024 + 64)
    if disk is None:  # no filesystem can be mounted here: the second checkpoint's write fails in the middle instead
        disk, calls = tmp_path, {"n": 0}
        real_fdopen = os.fdopen

        def fdopen(fd, mode):
            calls["n"] += 1
            return FullDiskFile(real_fdopen(fd, mode), budget=10**9 if calls["n"] == 1 else 4096)

        monkeypatch.setattr(checkpoint_module.os, "fdopen", fdopen)
    out = disk / "run"
    message = one_line(train(out, "--epochs", "3", check=False))
    assert "No space left on device" in message and "(the disk is full)" in message
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1 and [e["epoch"] for e in metrics(out)["epochs"]] == [1]
    assert not [p for p in out.iterdir() if p.name.endswith(TEMP_SUFFIX)]


def test_a_disk_that_fills_during_a_figure_keeps_everything_written(tmp_path, monkeypatch):
    def full(grid, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(mnist_aevb.figures, "save_grid", full)
    message = one_line(train(tmp_path, "--epochs", "1", check=False))
    assert message.startswith("error: No space left on device") and "samples.png (the disk is full)" in message
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1 and "test_log_likelihood" in metrics(tmp_path)


@pytest.mark.parametrize(
    "at, expected",
    [
        ("first step", "interrupted before the first epoch finished: nothing was saved"),
        ("second epoch", "holds a partial run (1 of 3 epochs): the same command with --resume continues it"),
    ],
)
def test_ctrl_c_says_what_was_saved(tmp_path, monkeypatch, at, expected):
    real_step = AEVB.step
    calls = {"n": 0}

    def step(self, x, **kw):
        calls["n"] += 1
        if at == "first step" or calls["n"] > 6:  # 300 points in batches of 50: epoch 2 begins at step 7
            raise KeyboardInterrupt
        return real_step(self, x, **kw)

    monkeypatch.setattr(AEVB, "step", step)
    # eager: the interrupt is injected into the Python step, which a traced step runs once, to trace it
    assert expected in one_line(train(tmp_path, "--epochs", "3", "--compile", "off", check=False), 130)


def test_an_interrupted_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    train(tmp_path, "--epochs", "1")
    saved = (tmp_path / "checkpoint.pt").read_bytes()

    def interrupted(obj, f, *a, **k):
        f.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module.torch, "save", interrupted)
    assert "holds a finished run (1 epoch, evaluated)" in one_line(
        train(tmp_path, "--epochs", "2", "--resume", check=False), 130
    )
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved and not [
        p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)
    ]


# ----------------------------------------------------------------------------- every program


def diagnostics_checkpoint(tmp_path):
    if not (tmp_path / "trained" / "checkpoint.pt").exists():
        train(tmp_path / "trained", "--epochs", "1")
    return ["--checkpoint", tmp_path / "trained" / "checkpoint.pt"]


PROGRAMS = {  # program, its arguments on a tiny budget, and what it loads first (where Ctrl-C is injected)
    "mnist_aevb": (mnist_aevb, lambda t: [*SMALL, "--epochs", "1"]),
    "compare_inference": (
        compare_inference,
        lambda t: [*SMALL, "--epochs", "1", "--guides", "diag", "--algorithms", "aevb"],
    ),
    "paper_figure2": (
        paper_figure2,
        lambda t: [
            "--latent-dims",
            "2",
            "--budget",
            "200",
            "--train-size",
            "300",
            "--test-size",
            "100",
            "--hidden-dims",
            "10",
            "--lr-search-samples",
            "100",
            "--quiet",
            "--device",
            "cpu",
        ],
    ),
    "paper_figure3": (
        paper_figure3,
        lambda t: [
            "--train-sizes",
            "200",
            "--budget",
            "200",
            "--methods",
            "aevb",
            "--test-size",
            "50",
            "--curve-points",
            "10",
            "--appendix-d-samples",
            "4",
            "--ais-points",
            "0",
            "--lr-search-samples",
            "100",
            "--quiet",
            "--device",
            "cpu",
        ],
    ),
    "paper_figure4_5": (
        paper_figure4_5,
        lambda t: [
            "--latent-dims",
            "2",
            "--budget",
            "200",
            "--train-size",
            "300",
            "--test-size",
            "100",
            "--hidden-dims",
            "10",
            "--lr-search-samples",
            "100",
            "--grid",
            "3",
            "--sample-images",
            "4",
            "--quiet",
            "--device",
            "cpu",
        ],
    ),
    "posterior_diagnostics": (
        posterior_diagnostics,
        lambda t: [
            *diagnostics_checkpoint(t),
            "--indices",
            "0",
            "--num-samples",
            "10",
            "--warmup",
            "10",
            "--guide-samples",
            "20",
            "--quiet",
        ],
    ),
    "linear_gaussian_oracle": (linear_gaussian_oracle, lambda t: []),
    "score": (score, lambda t: [*diagnostics_checkpoint(t), "--eval-points", "5", "--eval-samples", "5", "--quiet"]),
    # its folder logic only (it trains on Fashion-MNIST, which CI does not have): tests/examples/test_score.py runs it
    "ood_pair": (
        ood_pair,
        lambda t: [*("--train-size", "300", "--latent-dim", "2", "--hidden-dims", "20", "--epochs", "1", "--quiet")],
    ),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_program_gives_one_line_for_an_unusable_out(tmp_path, name):
    program, args = PROGRAMS[name]
    (tmp_path / "a file").write_text("x")
    base = ["--data-dir", mnist_dir()] if name != "linear_gaussian_oracle" else []
    for out, message in (
        (tmp_path / "a file", "is a file, not a folder"),
        (tmp_path / "a file" / "sub", "cannot create the output folder"),
    ):
        assert message in one_line(run_program(program, *base, *args(tmp_path), "--out", out, check=False))
    with RunFolder(tmp_path / "busy"):  # another run holds the folder
        assert f"another run (pid {os.getpid()}" in one_line(
            run_program(program, *base, *args(tmp_path), "--out", tmp_path / "busy", check=False)
        )


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_program_ends_ctrl_c_with_one_line(tmp_path, name, monkeypatch):
    program, args = PROGRAMS[name]
    arguments = args(tmp_path)  # before the interrupt is armed (the diagnostics train a checkpoint first)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    if name == "linear_gaussian_oracle":
        monkeypatch.setattr(program, "fit", interrupted)
        base = []
    else:
        monkeypatch.setattr(data, "load_dataset", interrupted)
        base = ["--data-dir", mnist_dir()]
    result = run_program(program, *base, *arguments, "--out", tmp_path / "out", check=False)
    message = one_line(result, 130)
    assert message.startswith("interrupted") and ("nothing was" in message or "kept in" in message), (
        message
    )  # says what is kept


@pytest.mark.parametrize(
    "name", ["mnist_aevb", "compare_inference", "posterior_diagnostics", "linear_gaussian_oracle", "score"]
)
def test_every_program_refuses_to_replace_what_its_folder_holds(tmp_path, name, monkeypatch):
    program, args = PROGRAMS[name]
    base = ["--data-dir", mnist_dir()] if name != "linear_gaussian_oracle" else []
    if name == "linear_gaussian_oracle":  # its folder logic only: the whole program runs in test_linear_gaussian_oracle
        monkeypatch.setattr(
            program, "compare_with_exact_answers", lambda settings, out: write_json(out / "metrics.json", {"ran": 1})
        )
    arguments = args(tmp_path)
    run_program(program, *base, *arguments, "--out", tmp_path / "out")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file() and p.name != ".lock"}
    message = one_line(run_program(program, *base, *arguments, "--out", tmp_path / "out", check=False))
    assert f"{tmp_path / 'out'} holds " in message and "--overwrite replaces it" in message
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file() and p.name != ".lock"} == before
    run_program(program, *base, *arguments, "--out", tmp_path / "out", "--overwrite")


@pytest.mark.parametrize("name", ["paper_figure2", "paper_figure4_5"])
def test_figure_programs_disk_full_gives_one_line_and_keeps_finished_runs(tmp_path, name, monkeypatch):
    program, args = PROGRAMS[name]
    out = tmp_path / "out"

    def full(fig, path, dpi=120):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(program.common.figures, "save_figure", full)
    message = one_line(run_program(program, "--data-dir", mnist_dir(), *args(tmp_path), "--out", out, check=False))
    assert "No space left on device" in message and "(the disk is full)" in message
    assert all(json.loads((run / "curve.json").read_text())["complete"] for run in (out / "runs").iterdir())


# ----------------------------------------------------------------------------- a run owns only what it wrote


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_program_refuses_a_folder_of_the_users_files_and_leaves_them_as_they_were(tmp_path, name):
    """A folder holding the user's own ``config.yaml`` and ``samples.png`` (no run) is refused with one
    line naming them, even with --overwrite: the files keep their bytes and their mode."""
    program, args = PROGRAMS[name]
    base = ["--data-dir", mnist_dir()] if name != "linear_gaussian_oracle" else []
    arguments = args(tmp_path)
    out = tmp_path / "mine"
    out.mkdir()
    for file, text in (("config.yaml", "my: settings\n"), ("samples.png", "my picture")):
        (out / file).write_text(text)
        os.chmod(out / file, 0o644)
    before = {p.name: (p.read_bytes(), p.stat().st_mode) for p in out.iterdir()}
    for extra in ([], ["--overwrite"]):
        message = one_line(run_program(program, *base, *arguments, "--out", out, *extra, check=False))
        assert f"{out} holds files this collection did not write (config.yaml, samples.png)" in message, message
    assert {p.name: (p.read_bytes(), p.stat().st_mode) for p in out.iterdir() if p.name != ".lock"} == before


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_program_refuses_an_empty_out(tmp_path, name):
    program, args = PROGRAMS[name]
    base = ["--data-dir", mnist_dir()] if name != "linear_gaussian_oracle" else []
    message = one_line(run_program(program, *base, *args(tmp_path), "--out", "", check=False), 2)  # a usage error
    assert "--out must name a folder, got an empty name" in message


def test_resuming_with_another_model_names_the_key_that_changed(tmp_path):
    train(tmp_path / "run", "--epochs", "1")
    message = one_line(train(tmp_path / "run", "--epochs", "2", "--resume", "--model", "hierarchical", check=False))
    assert "with a different configuration (model: checkpoint 'mlp', asked 'hierarchical')" in message, message
    assert "hidden-dims" not in message


# ----------------------------------------------------------------------------- signals from the first instruction


def started(program: str, out, *args):
    """``python examples/PROGRAM.py`` as a user starts it, in a process of its own."""
    command = [sys.executable, str(ROOT / "examples" / f"{program}.py"), "--out", str(out), *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_at_any_moment_of_start_up_ends_with_one_line(tmp_path, signum, status):
    """At several delays (while torch, Pyro and the data load), then during training: one line, the
    shell's status for the signal, never a traceback; a stop in training keeps the last checkpoint."""
    args = ["--data-dir", mnist_dir(), *SMALL, "--train-size", "3000", "--epochs", "200"]
    for delay in (0.3, 1.0, 2.5):
        process = started("mnist_aevb", tmp_path / f"early{delay}", *args)
        time.sleep(delay)
        process.send_signal(signum)
        _, err = process.communicate(timeout=120)
        assert process.returncode == status and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    process = started("mnist_aevb", tmp_path / "late", *args)
    deadline = time.time() + 300
    while not (tmp_path / "late" / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == status and len(err.strip().splitlines()) == 1, err
    assert "--resume" in err and load_checkpoint(tmp_path / "late" / "checkpoint.pt")["epoch"] >= 1, err


@pytest.mark.parametrize("program", [n for n in sorted(PROGRAMS)])
def test_every_program_ends_sigterm_in_start_up_with_one_line(tmp_path, program):
    process = started(program, tmp_path / "out")
    time.sleep(0.5)  # importing torch and Pyro takes longer
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143 and err.strip() == "terminated while starting: nothing was written", err


def test_resuming_beside_a_damaged_metrics_file_rebuilds_it_from_the_checkpoint(tmp_path):
    """metrics.json is the run's own output: one that is not a JSON object (a list, here) is read as
    unreadable and rebuilt from the checkpoint's records, never a traceback."""
    train(tmp_path / "run", "--epochs", "1")
    (tmp_path / "run" / "metrics.json").write_text('["not", "a", "run"]')
    result = train(tmp_path / "run", "--epochs", "1", "--resume", check=False)  # finished: it reads the file back
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert [record["epoch"] for record in metrics(tmp_path / "run")["epochs"]] == [1]
