"""The traced and compiled training step (``--compile``): the same numbers as eager Pyro, one
trace per input shape, exact resume."""

import re

import pyro
import pyro.distributions as dist
import pytest
import torch
from conftest import binary_data, grey_split, mnist_dir, requires_mnist, tiny_model_and_guide
from torch._dynamo.utils import counters

from aevb import experiment as exp
from aevb.inference import AEVB, ALGORITHMS, Algorithm, Checkpointer, TrainState, fit, make_optimizer
from aevb.inference.capabilities import capabilities
from aevb.inference.preflight import dynamic_structure
from aevb.inference.training.compile import INDUCTOR_STEPS, CompiledStep, auto_mode, compile_step
from aevb.models import BernoulliVAE

# the ways a step can differ from a plain ELBO: estimator A and B, particles, detached weights
# (rws), a no-grad wake phase and a dream (wake-sleep)
TINY = [
    ("aevb", {}),
    ("aevb", {"estimator": "A", "num_particles": 2}),
    ("iwae", {"num_particles": 3}),
    ("rws", {"num_particles": 3}),
    ("wake-sleep", {}),
]


def step_and_gradients(step, params, x, index, seed=3):
    torch.manual_seed(seed)
    surrogate, bound = step(x, num_data=100, index=index)
    grads = torch.autograd.grad(surrogate, params, allow_unused=True)
    return surrogate.detach(), bound, [g.to_dense() if g is not None and g.is_sparse else g for g in grads]


def assert_same(eager, compiled, exact):
    """Equal gradients (bit for bit when ``exact``) and values. Values only to float32 rounding:
    Pyro's estimator A adds the ELBO as a Python float, the trace as a tensor."""
    check = (lambda a, b: torch.testing.assert_close(a, b, rtol=0, atol=0)) if exact else torch.testing.assert_close
    for a, b in zip(eager[:2], compiled[:2]):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0)
    for a, b in zip(eager[2], compiled[2]):
        assert (a is None) == (b is None)
        if a is not None:
            check(a, b)


@pytest.mark.parametrize("name,options", TINY)
def test_a_traced_step_gives_eager_pyros_loss_bound_and_gradients_exactly(name, options):
    model, guide = tiny_model_and_guide()
    algorithm = ALGORITHMS[name](model, guide, **options)
    params = algorithm.parameters()
    traced = CompiledStep(algorithm.step, [model, guide, algorithm], "trace")
    x, index = binary_data(20, 6, seed=1), torch.arange(20)
    for seed in (3, 4):  # the graph draws fresh ε on every call, as eager does
        assert_same(
            step_and_gradients(algorithm.step, params, x, index, seed),
            step_and_gradients(traced, params, x, index, seed),
            exact=True,
        )


@requires_mnist
@pytest.mark.parametrize(
    "config",
    [
        dict(inference="full-vb"),
        dict(inference="mcem", latent_dim=2, ll_estimator="ais"),
        dict(model="hierarchical", latent_dim=2, hidden_dims=None),
        dict(guide="flow", estimator="A"),
        dict(guide="meanfield"),
        dict(model="conv", latent_dim=2, hidden_dims=None),
    ],
    ids=["full-vb", "mcem", "hierarchical", "flow", "meanfield", "conv"],
)
def test_every_algorithm_model_and_guide_traces_to_the_eager_step(config):
    run = exp.build(
        {"train_size": 100, "test_size": 10, "hidden_dims": [16], **config},
        data_dir=mnist_dir(),
        device="cpu",
        log=None,
        progress=False,
    )
    algorithm = run.algorithm
    params = list(algorithm.parameters())
    traced = CompiledStep(algorithm.step, [run.model, run.guide, algorithm], "trace")
    x, index = torch.bernoulli(run.train.x[:20]), torch.arange(20, 40)
    begin_batch = capabilities(algorithm, "algorithm").begin_batch
    if begin_batch is not None:  # MCEM's E-step stays eager; its M-step is traced
        begin_batch(x, num_data=100, index=index)
    assert_same(
        step_and_gradients(algorithm.step, params, x, index), step_and_gradients(traced, params, x, index), exact=True
    )


def test_the_inductor_step_draws_eager_pyros_epsilon():
    """Inductor runs the graph's sampling on PyTorch's generator (fallback_random): the same ε
    as eager, so the same loss up to the fused kernels' rounding."""
    model, guide = tiny_model_and_guide()
    algorithm = AEVB(model, guide)
    compiled = CompiledStep(algorithm.step, [model, guide, algorithm], "inductor")
    x, index = binary_data(20, 6, seed=1), torch.arange(20)
    for seed in (3, 4):
        assert_same(
            step_and_gradients(algorithm.step, algorithm.parameters(), x, index, seed),
            step_and_gradients(compiled, algorithm.parameters(), x, index, seed),
            exact=False,
        )


@pytest.mark.parametrize("mode", ["trace", "inductor"])
def test_an_epoch_with_a_short_last_batch_compiles_twice_and_never_again(mode):
    model, guide = tiny_model_and_guide()
    algorithm = AEVB(model, guide)
    step = compile_step(algorithm, mode, modules=[model, guide])
    optimizer = make_optimizer("adam", algorithm.parameters(), 0.01)
    counters.clear()
    # 50 points in batches of 20: two of 20, a last one of 10; three epochs
    fit(algorithm, optimizer, grey_split(n=50), epochs=3, batch_size=20, seed=0, step=step, progress=False)
    assert step.compilations == 2 and len(step.graphs) == 2
    if mode == "inductor":
        assert counters["stats"]["unique_graphs"] == 2  # Dynamo compiled each traced graph once


def test_resume_is_exact_with_the_traced_step(tmp_path):
    train = grey_split(n=50)
    results = []
    for split in ([3], [1, 2]):
        folder = tmp_path / str(len(split))
        folder.mkdir()
        state = TrainState()
        for epochs in (1, 3) if len(split) == 2 else (3,):
            torch.manual_seed(0)
            model, guide = tiny_model_and_guide()
            algorithm = AEVB(model, guide)
            step = compile_step(algorithm, "trace", modules=[model, guide])
            optimizer = make_optimizer("adam", algorithm.parameters(), 0.01)
            ck = Checkpointer(folder / "c.pt", {"model": model, "guide": guide}, optimizer, {})
            if state.epoch:
                state = ck.restore()
            state = fit(
                algorithm,
                optimizer,
                train,
                epochs=epochs,
                batch_size=20,
                seed=2,
                step=step,
                state=state,
                checkpointer=ck,
                progress=False,
            )
        results.append(
            (
                [p.detach().clone() for p in algorithm.parameters()],
                [{k: v for k, v in h.items() if "second" not in k} for h in state.history],
            )
        )
    assert results[0][1] == results[1][1]
    assert all(torch.equal(a, b) for a, b in zip(results[0][0], results[1][0]))
    torch.manual_seed(0)  # and the traced run is the eager run
    model, guide = tiny_model_and_guide()
    algorithm = AEVB(model, guide)
    eager = fit(
        algorithm,
        make_optimizer("adam", algorithm.parameters(), 0.01),
        train,
        epochs=3,
        batch_size=20,
        seed=2,
        progress=False,
    )
    assert [h["train_elbo"] for h in eager.history] == [h["train_elbo"] for h in results[0][1]]


def test_a_step_that_does_not_declare_itself_traceable_is_refused():
    class Opaque(Algorithm):
        name = "opaque"

    with pytest.raises(ValueError, match="Opaque does not declare supports_compile"):
        compile_step(Opaque(), "trace", modules=[])
    algorithm = AEVB(*tiny_model_and_guide())
    with pytest.raises(ValueError, match="mode"):
        CompiledStep(algorithm.step, [algorithm], "jit")


def test_pyros_reporting_helpers_change_only_inside_a_trace_of_this_thread():
    """The trace replaces ``torch_item`` and ``warn_if_nan`` for its own context only: eager Pyro, and
    another thread running while a trace is made, see the originals."""
    import threading

    import pyro.infer.trace_elbo as trace_elbo

    from aevb.inference.training.compile import _tracing

    model, guide = tiny_model_and_guide()
    algorithm = AEVB(model, guide)
    CompiledStep(algorithm.step, [model, guide, algorithm], "trace")(binary_data(20, 6), num_data=20)
    value = torch.tensor(2.0)
    assert trace_elbo.torch_item(value) == 2.0 and not torch.is_tensor(trace_elbo.torch_item(value))
    seen = {}
    with _tracing():
        assert torch.is_tensor(trace_elbo.torch_item(value))
        other = threading.Thread(target=lambda: seen.update(item=trace_elbo.torch_item(value)))
        other.start()
        other.join()
    assert seen["item"] == 2.0 and not torch.is_tensor(seen["item"])
    assert not torch.is_tensor(trace_elbo.torch_item(value))


class BranchingVAE(BernoulliVAE):
    """A model whose sites depend on the values drawn: a global count k, then k + 1 more draws."""

    def forward(self, x, *, num_data=None, index=None):
        k = pyro.sample("k", dist.Poisson(torch.tensor(20.0)))
        pyro.sample("w", dist.Normal(0.0, 1.0).expand([int(k) + 1]).to_event(1))
        return super().forward(x, num_data=num_data, index=index)


def test_auto_traces_a_static_pair_once_per_shape_and_reports_it():
    model, guide = tiny_model_and_guide()
    algorithm = AEVB(model, guide)
    lines = []
    auto = compile_step(algorithm, "auto", modules=[model, guide], log=lines.append)
    x, index = binary_data(20, 6, seed=1), torch.arange(20)
    assert_same(
        step_and_gradients(algorithm.step, algorithm.parameters(), x, index),
        step_and_gradients(auto, algorithm.parameters(), x, index),
        exact=True,
    )
    step_and_gradients(auto, algorithm.parameters(), x, index, seed=4)
    assert auto.mode == "trace" and auto.compilations == 1 and auto.eager_because is None
    assert len(lines) == 1
    assert re.match(r"the training step \(trace\) compiled for batches of shape \(20, 6\) in", lines[0])


def auto_step_of(model_class):
    """``--compile auto``'s step for AEVB (estimator A) on ``model_class``, its log lines, and the
    algorithm, after two steps that equal eager Pyro's exactly."""
    torch.manual_seed(0)
    model, guide = model_class(6, 2, 8), tiny_model_and_guide()[1]
    algorithm = AEVB(model, guide, estimator="A")
    lines = []
    auto = compile_step(algorithm, "auto", modules=[model, guide], log=lines.append)
    x, index = binary_data(20, 6, seed=1), torch.arange(20)
    for seed in (3, 4):
        assert_same(
            step_and_gradients(algorithm.step, algorithm.parameters(), x, index, seed),
            step_and_gradients(auto, algorithm.parameters(), x, index, seed),
            exact=True,
        )
    return auto, lines, algorithm


@pytest.mark.filterwarnings("ignore:Found vars in model but not guide")
def test_auto_runs_a_model_with_stochastic_control_flow_eagerly_and_says_why():
    auto, lines, _ = auto_step_of(BranchingVAE)
    assert auto.compilations == 0 and "stochastic control flow" in auto.eager_because
    assert lines == ["the training step runs eagerly (Pyro on every step): " + auto.eager_because]
    assert "'w'" in auto.eager_because  # the first site whose shape changed


def test_auto_leaves_a_step_that_does_not_declare_itself_traceable_as_it_is():
    class Opaque(Algorithm):
        name = "opaque"

        def step(self, x, *, num_data, index=None):
            return x.sum(), 0.0

    opaque, lines = Opaque(), []
    assert compile_step(opaque, "auto", modules=[], log=lines.append) == opaque.step
    assert lines == ["the training step runs eagerly (Pyro on every step): Opaque does not declare supports_compile"]


def test_dynamic_structure_sees_the_same_sites_twice_in_a_static_pair():
    model, guide = tiny_model_and_guide()
    x = binary_data(8, 6)
    state = torch.get_rng_state()
    assert dynamic_structure(model, guide, x, num_data=100, index=torch.arange(8)) is None
    assert dynamic_structure(model, None, x, num_data=100) is None
    assert torch.equal(torch.get_rng_state(), state)  # the check draws nothing the run would


class ValueBranchingVAE(BernoulliVAE):
    """The same sites on every trace, but a Python branch on a value drawn."""

    def forward(self, x, *, num_data=None, index=None):
        u = pyro.sample("u", dist.Normal(torch.tensor(0.0), 1.0))
        with pyro.poutine.scale(scale=1.0 if float(u) > 0 else 2.0):
            return super().forward(x, num_data=num_data, index=index)


@pytest.mark.filterwarnings("ignore:Found vars in model but not guide")
def test_auto_runs_a_step_that_branches_on_a_drawn_value_eagerly_and_trace_refuses_it():
    auto, lines, algorithm = auto_step_of(ValueBranchingVAE)
    assert auto.compilations == 0 and "data-dependent control flow" in auto.eager_because and len(lines) == 1
    with pytest.raises(RuntimeError, match="data-dependent"):
        compile_step(algorithm, "trace", modules=[algorithm.model, algorithm.guide])(
            binary_data(20, 6, seed=1), num_data=100, index=torch.arange(20)
        )


def test_auto_compiles_a_long_run_with_inductor_and_traces_where_inductor_fails(monkeypatch):
    assert auto_mode(None) == auto_mode(INDUCTOR_STEPS - 1) == "trace" and auto_mode(INDUCTOR_STEPS) == "inductor"
    model, guide = tiny_model_and_guide()
    algorithm = AEVB(model, guide)

    def no_compiler(*args, **kwargs):
        raise RuntimeError("no C++ compiler found\n(details)")

    monkeypatch.setattr(torch, "compile", no_compiler)
    lines = []
    auto = compile_step(algorithm, "auto", modules=[model, guide], steps=INDUCTOR_STEPS, log=lines.append)
    assert auto.mode == "inductor"
    x, index = binary_data(20, 6, seed=1), torch.arange(20)
    assert_same(
        step_and_gradients(algorithm.step, algorithm.parameters(), x, index),
        step_and_gradients(auto, algorithm.parameters(), x, index),
        exact=True,
    )
    assert auto.mode == "trace" and lines[0] == (
        "Inductor could not compile the training step (no C++ compiler found); it is traced instead"
    )
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):  # named explicitly, it fails as it is
        compile_step(algorithm, "inductor", modules=[model, guide])(x, num_data=100, index=index)


@requires_mnist
def test_a_run_built_with_the_default_traces_its_step_says_so_and_trains_as_eager(tmp_path):
    histories, logs = {}, {}
    for mode in ("off", None):  # None: the default, --compile auto
        config = {"train_size": 200, "test_size": 10, "hidden_dims": [16], "epochs": 2, "batch_size": 50}
        logs[mode] = []
        run = exp.build(
            config if mode is None else {**config, "compile": mode},
            data_dir=mnist_dir(),
            device="cpu",
            log=logs[mode].append,
            progress=False,
        )
        state = exp.train(run, tmp_path / str(mode))
        histories[mode] = [{k: v for k, v in h.items() if "second" not in k} for h in state.history]
    assert run.config["compile"] == "auto" and run.step.mode == "trace" and run.step.compilations == 1
    seconds = run.step.seconds[(50, 784)]
    assert [line for line in logs[None] if "training step" in line] == [
        f"the training step (trace) compiled for batches of shape (50, 784) in {seconds:.2f} s, once"
    ]
    assert not [line for line in logs["off"] if "training step" in line]
    assert histories[None] == histories["off"]  # the trace is eager Pyro's computation, bit for bit


def test_pyros_nan_warnings_name_pyros_line_not_the_dispatcher():
    """Outside a trace the dispatcher is invisible: ``warn_if_nan`` still names the line that called it."""
    import pyro.infer.trace_elbo as trace_elbo

    from aevb.inference.training.compile import _tracing

    with _tracing():  # installs the dispatchers
        pass
    with pytest.warns(UserWarning, match="Encountered NaN: loss") as caught:
        trace_elbo.warn_if_nan(torch.tensor(float("nan")), "loss")
    assert caught[0].filename == __file__
