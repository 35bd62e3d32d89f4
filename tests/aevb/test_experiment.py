"""A run's configuration: resolution of the defaults that depend on other keys, the migration of old
configurations, and the combination rules, which read declarations, never names."""

import pytest

from aevb import experiment as exp
from aevb.inference import ALGORITHMS
from aevb.inference.algorithms.base import Algorithm


def resolved(**config):
    return exp.resolve_run_config(config)


def test_defaults_resolve_from_the_other_keys():
    assert resolved()["hidden_dims"] == [500] and resolved(
        dataset="fashion-mnist", likelihood="gaussian", binarize="none"
    )["hidden_dims"] == [200]
    assert resolved(model="conv")["hidden_dims"] is None  # a model that does not read them gets none
    assert resolved(optimizer="adagrad")["lr"] == 0.02 and resolved()["lr"] == 1e-3
    assert resolved()["estimator"] == "B" and resolved(guide="flow")["estimator"] == "A"
    assert resolved(model="hierarchical")["estimator"] == "A"  # z1's prior depends on z2: no closed-form KL


def test_configurations_of_earlier_versions_are_migrated():
    old = {"model": "gaussian", "hidden_dim": 200, "dataset": "fashion-mnist", "binarize": "none"}
    config = resolved(**old)
    assert (config["model"], config["likelihood"], config["hidden_dims"]) == ("mlp", "gaussian", [200])


@pytest.mark.parametrize(
    "config, message",
    [
        (dict(model="hierarchical", estimator="B"), "--model hierarchical does not declare analytic_prior"),
        (
            dict(guide="flow", estimator="B"),
            "--guide flow --flow-type iaf does not declare analytic_kl; use --estimator A",
        ),
        (dict(model="hierarchical", hidden_dims=[100]), "--model hierarchical does not read --hidden-dims"),
        (dict(model="hierarchical", likelihood="gaussian"), "--model hierarchical supports --likelihood bernoulli"),
        (
            dict(model="hierarchical", latent_dim=2, ll_estimator="appendix-d"),
            "--ll-estimator appendix-d declares max_latent_size = 4; --model hierarchical has 6",
        ),
        (
            dict(inference="rws", num_particles=3, guide="flow", flow_type="planar"),
            "--inference rws declares needs_density_anywhere .*; --guide flow --flow-type planar does not declare "
            "density_anywhere",
        ),
        (
            dict(inference="mcem", ll_estimator="is"),
            "--ll-estimator is declares needs_guide .*--inference mcem fits no guide",
        ),
        (
            dict(inference="wake-sleep", guide="meanfield"),
            "declares needs_amortised_guide .*--guide meanfield does not declare amortised",
        ),
        (
            dict(inference="full-vb", map_prior=True),
            "--inference full-vb declares infers_weights .*; --map-prior does not apply",
        ),
        (dict(inference="mcem", compile="trace", ll_estimator="ais", guide="diag"), None),
    ],
)
def test_combinations_that_cannot_work_are_refused_with_the_reason(config, message):
    if message is None:  # a combination that works, beside them
        assert resolved(**config)["compile"] == "trace"
        return
    with pytest.raises(ValueError, match=message):
        resolved(**config)


def test_a_configuration_written_with_the_removed_jit_flag_still_loads():
    assert resolved(jit=True)["compile"] == "trace" and "jit" not in resolved(jit=False)
    assert resolved(jit=True, compile="inductor")["compile"] == "inductor"


def test_appendix_d_applies_to_a_hierarchical_model_small_enough():
    assert (
        resolved(model="hierarchical", latent_dim=1, ll_estimator="appendix-d")["ll_estimator"] == "appendix-d"
    )  # 2 + 1 latents


def test_the_rules_read_an_algorithms_declarations_not_its_name(monkeypatch):
    """A new algorithm, registered under a name no rule knows, gets every rule from what it declares."""

    class Dreamer(Algorithm):
        name = "dreamer"
        needs_amortised_guide = True
        data_parallel = False
        min_particles = 3

    monkeypatch.setitem(ALGORITHMS, "dreamer", Dreamer)
    with pytest.raises(ValueError, match="--inference dreamer declares needs_amortised_guide"):
        exp.check_combination(
            exp.resolve_run_config({"inference": "dreamer", "num_particles": 3, "guide": "diag"})
            | {"guide": "meanfield"}
        )
    with pytest.raises(ValueError, match="--inference dreamer declares min_particles = 3; got --num-particles 2"):
        resolved(inference="dreamer", num_particles=2)
    with pytest.raises(ValueError, match="--inference dreamer does not declare data_parallel"):
        exp.check_data_parallel(resolved(inference="dreamer", num_particles=3))
    with pytest.raises(ValueError, match="--inference dreamer does not declare supports_compile.*use --compile off"):
        resolved(inference="dreamer", num_particles=3, compile="trace")
    with pytest.raises(ValueError, match="--guide meanfield declares per_point_state"):
        exp.check_data_parallel(resolved(guide="meanfield"))
