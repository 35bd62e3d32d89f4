import pytest
import torch
from conftest import grey_split, tiny_model_and_guide

from aevb.inference import (
    AEVB,
    Checkpointer,
    CheckpointError,
    StopRules,
    TrainingDiverged,
    TrainState,
    fit,
    load_checkpoint,
    make_optimizer,
)


def make_run(tmp_path, seed=0):
    torch.manual_seed(seed)
    model, guide = tiny_model_and_guide(seed=seed)
    algorithm = AEVB(model, guide)
    optimizer = make_optimizer("adam", algorithm.parameters(), 0.01)
    checkpointer = Checkpointer(
        tmp_path / "checkpoint.pt", {"model": model, "guide": guide}, optimizer, {"latent_dim": 2}
    )
    return model, guide, algorithm, optimizer, checkpointer


def params(*modules):
    return [p.detach().clone() for m in modules for p in m.parameters()]


def without_time(history):
    return [{k: v for k, v in h.items() if k not in ("seconds", "examples_per_second")} for h in history]


def test_resume_reproduces_an_uninterrupted_run_exactly(tmp_path):
    train = grey_split()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    model, guide, algorithm, optimizer, ck = make_run(tmp_path / "a")
    full = fit(algorithm, optimizer, train, epochs=4, batch_size=16, seed=3, checkpointer=ck, progress=False)
    uninterrupted = params(model, guide)

    model, guide, algorithm, optimizer, ck = make_run(tmp_path / "b")
    fit(algorithm, optimizer, train, epochs=2, batch_size=16, seed=3, checkpointer=ck, progress=False)
    torch.manual_seed(999)  # whatever happens between the two processes must not matter
    model, guide, algorithm, optimizer, ck = make_run(tmp_path / "b", seed=5)  # a fresh process: other weights
    state = ck.restore()
    assert state.epoch == 2
    resumed = fit(
        algorithm, optimizer, train, epochs=4, batch_size=16, seed=3, state=state, checkpointer=ck, progress=False
    )
    for a, b in zip(uninterrupted, params(model, guide)):
        assert torch.equal(a, b)
    assert without_time(resumed.history) == without_time(full.history)


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_checkpoint(tmp_path):
    model, guide, algorithm, optimizer, ck = make_run(tmp_path)
    train = grey_split()
    fit(algorithm, optimizer, train, epochs=1, batch_size=10, checkpointer=ck, progress=False)
    saved = (tmp_path / "checkpoint.pt").read_bytes()
    calls = {"n": 0}
    real_step = algorithm.step

    def poisoned(x, **kw):
        calls["n"] += 1
        surrogate, bound = real_step(x, **kw)
        return (surrogate * float("nan"), bound * float("nan")) if calls["n"] == 3 else (surrogate, bound)

    algorithm.step = poisoned
    before = params(model, guide)
    with pytest.raises(TrainingDiverged, match="epoch 2, step 3"):
        fit(
            algorithm,
            optimizer,
            train,
            epochs=3,
            batch_size=10,
            state=TrainState(1, []),
            checkpointer=ck,
            progress=False,
        )
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved
    # two good steps were taken before the NaN, none with it
    assert any(not torch.equal(a, b) for a, b in zip(before, params(model, guide)))
    assert all(torch.isfinite(p).all() for p in params(model, guide))


def test_map_prior_adds_exactly_theta_to_the_decoder_gradient(tmp_path):
    """−log N(θ; 0, I) has gradient θ: with one SGD step (lr 1) on the same data and ε, the
    prior moves every decoder weight by exactly −θ more and leaves the encoder alone."""
    train = grey_split(n=20)
    after = []
    for prior in (False, True):
        model, guide, algorithm, _, _ = make_run(tmp_path)
        start = params(model, guide)
        sgd = torch.optim.SGD(algorithm.parameters(), lr=1.0)
        fit(
            algorithm,
            sgd,
            train,
            epochs=1,
            batch_size=20,
            seed=1,
            prior_params=model.parameters() if prior else None,
            progress=False,
        )
        after.append(params(model, guide))
    n_decoder = len(list(model.parameters()))
    for i, theta in enumerate(start):
        expected = -theta if i < n_decoder else torch.zeros_like(theta)
        torch.testing.assert_close(after[1][i] - after[0][i], expected, atol=1e-4, rtol=1e-4)


def test_restore_into_an_incompatible_model(tmp_path):
    _, _, algorithm, optimizer, ck = make_run(tmp_path)
    fit(algorithm, optimizer, grey_split(), epochs=1, batch_size=20, checkpointer=ck, progress=False)
    from aevb.guides import DiagonalGaussianGuide
    from aevb.models import BernoulliVAE

    model, guide = BernoulliVAE(6, 3, 8), DiagonalGaussianGuide(6, 3, 8)
    other = Checkpointer(
        ck.path,
        {"model": model, "guide": guide},
        make_optimizer("adam", list(model.parameters()) + list(guide.parameters()), 0.1),
        {},
    )
    with pytest.raises(CheckpointError, match="does not match"):
        other.restore()


def test_time_budget_ends_the_run_after_the_step_that_exhausts_it(tmp_path):
    train = grey_split()
    _, _, algorithm, optimizer, ck = make_run(tmp_path)
    full = fit(algorithm, optimizer, train, epochs=2, batch_size=16, progress=False)
    assert [h["examples"] for h in full.history] == [60, 120] and not any("partial" in h for h in full.history)
    _, _, algorithm, optimizer, ck = make_run(tmp_path)
    state = fit(
        algorithm,
        optimizer,
        train,
        epochs=5,
        batch_size=16,
        checkpointer=ck,
        progress=False,
        stops=StopRules(max_seconds=0.0),
    )
    assert len(state.history) == 1 and state.history[0]["partial"] and state.history[0]["examples"] == 16
    assert ck.restore().epoch == 1  # evaluated and checkpointed like any last epoch


def test_max_examples_stops_at_the_step_that_reaches_it_and_continues_with_a_larger_budget(tmp_path):
    model, guide, algorithm, optimizer, ck = make_run(tmp_path)
    train = grey_split(n=60)
    state = fit(
        algorithm,
        optimizer,
        train,
        epochs=50,
        batch_size=10,
        checkpointer=ck,
        progress=False,
        stops=StopRules(max_examples=25),
    )
    assert [h["examples"] for h in state.history] == [30] and state.history[-1]["partial"]  # 3 steps of 10
    before = params(model, guide)
    again = fit(
        algorithm,
        optimizer,
        train,
        epochs=50,
        batch_size=10,
        state=state,
        progress=False,
        stops=StopRules(max_examples=30),
    )
    assert len(again.history) == 1 and all(
        torch.equal(a, b) for a, b in zip(before, params(model, guide))
    )  # nothing to do
    state = fit(
        algorithm,
        optimizer,
        train,
        epochs=50,
        batch_size=10,
        state=state,
        progress=False,
        stops=StopRules(max_examples=150),
    )
    # a fresh epoch (a new permutation) of 60, then 60 of the next: 30 + 60 + 60 = 150
    assert [h["examples"] for h in state.history] == [30, 90, 150] and state.epoch == 3
    assert "partial" not in state.history[1] and state.history[2]["partial"]
    with pytest.raises(ValueError, match="max_examples"):
        fit(algorithm, optimizer, train, epochs=50, batch_size=10, progress=False, stops=StopRules(max_examples=0))


def checkpoint_bytes(tmp_path):
    return (tmp_path / "checkpoint.pt").read_bytes()


def test_a_finite_divergence_stops_naming_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path):
    """The issue's case: a step size so large that the bound falls by orders of magnitude but
    stays finite used to be reported as success."""
    model, guide, algorithm, optimizer, ck = make_run(tmp_path)
    train = grey_split()
    state = fit(algorithm, optimizer, train, epochs=1, batch_size=10, checkpointer=ck, progress=False)
    saved = checkpoint_bytes(tmp_path)
    assert state.reference is not None and -10 < state.reference < 0  # the first step's bound per datapoint
    for group in optimizer.param_groups:
        group["lr"] = 1e4
    with pytest.raises(
        TrainingDiverged, match=r"the training bound collapsed to .* at epoch 2, step \d+ \(it started at -\d"
    ):
        fit(algorithm, optimizer, train, epochs=3, batch_size=10, state=state, checkpointer=ck, progress=False)
    assert checkpoint_bytes(tmp_path) == saved and load_checkpoint(ck.path)["reference"] == state.reference


def test_a_non_finite_evaluation_stops_and_is_never_checkpointed(tmp_path):
    model, guide, algorithm, optimizer, ck = make_run(tmp_path)
    train = grey_split()
    values = iter([-4.0, float("nan")])
    with pytest.raises(
        TrainingDiverged,
        match="epoch 2 ended with non-finite test_elbo = nan; stopped: the checkpoint after epoch 1 is intact",
    ):
        fit(
            algorithm,
            optimizer,
            train,
            epochs=3,
            batch_size=10,
            evaluate=lambda: {"test_elbo": next(values)},
            checkpointer=ck,
            progress=False,
        )
    assert load_checkpoint(ck.path)["epoch"] == 1


def test_a_divergence_in_the_first_epoch_says_nothing_was_saved(tmp_path):
    model, guide, algorithm, optimizer, ck = make_run(tmp_path)
    real_step = algorithm.step
    algorithm.step = lambda x, **kw: tuple(v * float("nan") for v in real_step(x, **kw))
    with pytest.raises(
        TrainingDiverged, match="at epoch 1, step 1; stopped: no epoch had finished, so nothing was saved"
    ) as info:
        fit(algorithm, optimizer, grey_split(), epochs=2, batch_size=10, checkpointer=ck, progress=False)
    assert "after epoch 0" not in str(info.value) and not ck.path.exists()


def test_parameters_that_stop_being_finite_are_never_checkpointed(tmp_path):
    model, guide, algorithm, optimizer, ck = make_run(tmp_path)
    real_step = optimizer.step

    def overflow():
        real_step()
        with torch.no_grad():
            next(model.parameters()).fill_(float("inf"))

    optimizer.step = overflow
    with pytest.raises(TrainingDiverged, match="the parameters stopped being finite in epoch 1"):
        fit(algorithm, optimizer, grey_split(n=20), epochs=2, batch_size=20, checkpointer=ck, progress=False)
    assert not ck.path.exists()


def test_a_ctrl_c_whose_exception_was_swallowed_still_stops_training_at_the_next_step(tmp_path):
    """Python drops a KeyboardInterrupt raised inside a finaliser; the programs' Ctrl-C handler
    also sets ``interrupt_requested``, and fit raises again after the step it lands in."""
    from aevb.inference.training.loop import interrupt_requested

    train = grey_split()
    _, _, algorithm, optimizer, ck = make_run(tmp_path)
    steps = []
    step = algorithm.step

    def counting(*args, **kwargs):
        steps.append(1)
        if len(steps) == 2:
            interrupt_requested.set()  # as the handler does; its exception is taken to be lost
        return step(*args, **kwargs)

    algorithm.step = counting
    with pytest.raises(KeyboardInterrupt):
        fit(algorithm, optimizer, train, epochs=3, batch_size=16, progress=False)
    assert len(steps) == 2 and not interrupt_requested.is_set()
