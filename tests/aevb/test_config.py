"""The option table: conversion and checks of every value, configuration files."""

import json

import pytest

from aevb import config as cfg


@pytest.mark.parametrize(
    "key, given, expected",
    [
        ("latent_dim", "7", 7),
        ("latent_dim", 7.0, 7),
        ("lr", "1e-3", 1e-3),
        ("lr", 2, 2.0),
        ("map_prior", True, True),
        ("guide", "flow", "flow"),
        ("latent_dims", [2, "3"], [2, 3]),
        ("latent_dims", 5, [5]),
        ("hidden_dims", None, None),
        ("hidden_dims", [200, "200"], [200, 200]),
    ],
)
def test_values_are_converted_to_the_options_type(key, given, expected):
    value = cfg.TABLE[key].validate(given)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "key, given, message",
    [
        ("latent_dim", 0, "latent_dim must be at least 1, got 0"),
        ("latent_dim", 2.5, "latent_dim must be an integer, got 2.5"),
        ("latent_dim", True, "latent_dim must be an integer"),
        ("lr", 0, "lr must be greater than 0"),
        ("lr", "inf", "lr must be a finite number, got 'inf'"),
        ("lr", float("nan"), "lr must be a finite number"),
        ("refine_lr", "fast", "refine_lr must be a number, got 'fast'"),
        (
            "guide",
            "nope",
            "guide must be one of ['diag', 'flow', 'fullcov', 'meanfield', 'steps', 'structured', 'structured-iaf'], "
            "got 'nope'",
        ),
        ("map_prior", "yes", "map_prior must be true or false"),
        ("epochs", None, "epochs must be set"),
        ("latent_dims", [], "latent_dims needs at least one value"),
    ],
)
def test_bad_values_are_refused_with_the_reason(key, given, message):
    with pytest.raises(cfg.ConfigError, match=None) as info:
        cfg.TABLE[key].validate(given)
    assert message in str(info.value)


def test_validate_refuses_keys_outside_the_table_or_the_program():
    with pytest.raises(cfg.ConfigError, match="unknown key 'latent_size' in the configuration"):
        cfg.validate({"latent_size": 3})
    with pytest.raises(cfg.ConfigError, match="unknown key 'guides'.*this program reads"):
        cfg.validate({"guides": ["diag"]}, allowed={"latent_dim"})


def test_every_run_key_has_a_default_and_the_resumable_ones_are_run_keys():
    assert set(cfg.DEFAULTS) == set(cfg.RUN_KEYS) and cfg.RESUMABLE <= set(cfg.RUN_KEYS)
    for option in cfg.OPTIONS:  # every default passes its own checks
        assert option.validate(option.default) == option.default or option.default is None, option.key


def test_files_round_trip_and_a_metrics_file_gives_its_configuration(tmp_path):
    values = {"latent_dim": 3, "lr": 0.0003, "guides": ["diag", "flow"], "hidden_dims": None, "map_prior": True}
    path = tmp_path / "config.yaml"
    path.write_text(cfg.dump(values))
    assert cfg.load_file(path) == values
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"config": {"latent_dim": 3}, "epochs": []}))
    assert cfg.load_file(metrics) == {"latent_dim": 3}
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(cfg.ConfigError, match="must hold a mapping"):
        cfg.load_file(tmp_path / "list.yaml")
    with pytest.raises(cfg.ConfigError, match="cannot read the configuration file"):
        cfg.load_file(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "text, message",
    [
        ("1: 2\nepochs: 3\n", "has keys that are not names: 1"),  # mixed key types: no TypeError while sorting
        ("latent_dim: 3000000000\n", "latent_dim must be at most 2147483647 in size"),
    ],
)
def test_a_config_file_is_validated_as_strictly_as_a_flag(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.validate(cfg.load_file(path))


def test_a_binary_config_file_is_named_in_its_error(tmp_path):
    path = tmp_path / "weights.yaml"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(cfg.ConfigError, match=f"the configuration file {path} is not a text file"):
        cfg.load_file(path)


def test_every_integer_key_has_a_range_a_tensor_can_hold():
    for option in cfg.OPTIONS:
        if option.type is int:
            with pytest.raises(cfg.ConfigError, match="at most 2147483647"):
                option.validate([2**40] if option.many else 2**40)


def test_the_held_out_split_defaults_of_the_table_are_the_data_layers():
    # the data layer (below aevb, and without the table) keeps its own copy for Python callers
    from aevb.data import SPLIT_SEED, TEST_FRACTION

    assert (cfg.DEFAULTS["test_fraction"], cfg.DEFAULTS["split_seed"]) == (TEST_FRACTION, SPLIT_SEED)
