"""A run's configuration: resolution of the defaults that depend on other keys, the migration of old
configurations, and the combination rules, which read declarations, never names."""

import pytest

from aevb import experiment as exp
from aevb.inference import ALGORITHMS
from aevb.inference.algorithm import Algorithm


def resolved(**config):
    return exp.resolve_run_config(config)


def test_defaults_resolve_from_the_other_keys():
    assert resolved()["hidden_dims"] == [500] and resolved(dataset="fashion-mnist", likelihood="gaussian", binarize="none")["hidden_dims"] == [200]
    assert resolved(model="conv")["hidden_dims"] is None  # a model that does not read them gets none
    assert resolved(optimizer="adagrad")["lr"] == 0.02 and resolved()["lr"] == 1e-3
    assert resolved()["estimator"] == "B" and resolved(guide="flow")["estimator"] == "A"
    assert resolved(model="hierarchical")["estimator"] == "A"  # z1's prior depends on z2: no closed-form KL


def test_configurations_of_earlier_versions_are_migrated():
    old = {"model": "gaussian", "hidden_dim": 200, "dataset": "fashion-mnist", "binarize": "none"}
    config = resolved(**old)
    assert (config["model"], config["likelihood"], config["hidden_dims"]) == ("mlp", "gaussian", [200])


@pytest.mark.parametrize("config, message", [
    (dict(model="hierarchical", estimator="B"), "--model hierarchical's priors depend on other latents"),
    (dict(guide="flow", estimator="B"), "which --guide flow does not have"),
    (dict(model="hierarchical", hidden_dims=[100]), "--model hierarchical does not read --hidden-dims"),
    (dict(model="hierarchical", likelihood="gaussian"), "--model hierarchical supports --likelihood bernoulli"),
    (dict(model="hierarchical", latent_dim=2, ll_estimator="appendix-d"), "at most 4 latent dimensions per datapoint .* has 6"),
    (dict(inference="rws", num_particles=3, guide="flow", flow_type="planar"), "evaluates log q at points the guide did not draw"),
    (dict(inference="mcem", ll_estimator="is"), "fits no encoder, so --ll-estimator is"),
    (dict(inference="wake-sleep", guide="meanfield"), "needs an amortised guide"),
    (dict(inference="full-vb", map_prior=True), "already puts a N.0, I. prior on the model's weights"),
    (dict(inference="iwae", jit=True), "--jit compiles the losses of aevb only"),
    (dict(jit=True, compile="trace"), "--jit and --compile are two ways"),
])
def test_combinations_that_cannot_work_are_refused_with_the_reason(config, message):
    with pytest.raises(ValueError, match=message):
        resolved(**config)


def test_appendix_d_applies_to_a_hierarchical_model_small_enough():
    assert resolved(model="hierarchical", latent_dim=1, ll_estimator="appendix-d")["ll_estimator"] == "appendix-d"  # 2 + 1 latents


def test_the_rules_read_an_algorithms_declarations_not_its_name(monkeypatch):
    """A new algorithm, registered under a name no rule knows, gets every rule from what it declares."""

    class Dreamer(Algorithm):
        name = "dreamer"
        needs_amortised_guide = True
        data_parallel = False
        min_particles = 3

    monkeypatch.setitem(ALGORITHMS, "dreamer", Dreamer)
    with pytest.raises(ValueError, match="--inference dreamer needs an amortised guide"):
        exp.check_combination(exp.resolve_run_config({"inference": "dreamer", "num_particles": 3, "guide": "diag"}) | {"guide": "meanfield"})
    with pytest.raises(ValueError, match="--inference dreamer needs --num-particles >= 3"):
        resolved(inference="dreamer", num_particles=2)
    with pytest.raises(ValueError, match="--inference dreamer keeps state per training point"):
        exp.check_data_parallel(resolved(inference="dreamer", num_particles=3))
    with pytest.raises(ValueError, match="--inference dreamer needs --compile off"):  # it does not declare supports_compile
        resolved(inference="dreamer", num_particles=3, compile="trace")
    with pytest.raises(ValueError, match="--guide meanfield keeps parameters per training point"):
        exp.check_data_parallel(resolved(guide="meanfield"))
