"""Every program's flags come from the one table: the same name, default and help everywhere;
``--config`` files and flags resolve in one order; one error wrapper for every program."""

import importlib
import subprocess
import sys
from collections import defaultdict

import pytest
from conftest import ROOT, load_script, run_program

from aevb import cli
from aevb import config as cfg
from aevb import experiment as exp

EXAMPLES = [
    "mnist_aevb",
    "compare_inference",
    "paper_figure2",
    "paper_figure3",
    "paper_figure4_5",
    "posterior_diagnostics",
    "linear_gaussian_oracle",
    "iwae_table1",
    "score",
    "ood_pair",
    "dmm_chorales",
    "semi_supervised_m2",
    "conditional_vae",
]
BENCHMARKS = [
    "throughput",
    "quality",
    "overheads",
    "allreduce",
    "appendix_d_start",
    "divergence",
    "active_units",
    "bdmc",
    "evaluation",
    "compile_cost",
    "dmm_peer",
    "supervised_peer",
]
#: The modules beside the benchmark scripts that are not programs (the peers they import).
SIBLINGS = ("reference_vae", "pyro_dmm", "pyro_ss_vae", "pyro_cvae")
REQUIRED = {
    "posterior_diagnostics": ["--checkpoint", "runs/x/checkpoint.pt"],
    "score": ["--checkpoint", "runs/x/checkpoint.pt"],
    "active_units": ["--run-dirs", "runs/x"],
    "bdmc": ["--run-dirs", "runs/x"],
}


@pytest.fixture(scope="module")
def programs():
    """Every program of the repository: name → module (with PROGRAM and main)."""
    found = {name: importlib.import_module(f"aevb.examples.{name}") for name in EXAMPLES}
    found["aevb.data"] = importlib.import_module("aevb.data.__main__")
    # the scripts import their siblings (reference_vae, throughput), as `python benchmarks/NAME.py` lets them
    siblings = {name: load_script(ROOT / "benchmarks" / f"{name}.py") for name in SIBLINGS}
    saved = {name: sys.modules.get(name) for name in (*SIBLINGS, *BENCHMARKS)}
    sys.modules.update(siblings)
    try:
        for name in BENCHMARKS:
            found[name] = sys.modules[name] = load_script(ROOT / "benchmarks" / f"{name}.py")
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return found


def test_the_list_above_is_every_program():
    scripts = {p.stem for p in (ROOT / "examples").glob("*.py") if p.stem != "__init__"}
    assert scripts == set(EXAMPLES)
    assert {p.stem for p in (ROOT / "benchmarks").glob("*.py")} - set(SIBLINGS) == set(BENCHMARKS)


def test_a_flag_has_the_same_default_help_and_form_in_every_program(programs):
    """For every flag that several programs offer: the same resolved default, help text, metavar and
    number of values (``--out`` defaults to runs/PROGRAM by its one definition), except where a
    program declares a default of its own (a published protocol's, ``Program(defaults=...)``):
    that one is what it parses to and what its help says."""
    seen = defaultdict(dict)
    for name, module in programs.items():
        program = module.PROGRAM
        settings = program.parse(REQUIRED.get(name, []))
        actions = {a.dest: a for a in program.parser()._actions if a.dest in cfg.TABLE}
        for key, value in program.defaults.items():
            shown = cli._shown(program.table[key], value)
            assert settings[key] == value and actions[key].help.endswith(f"(this program's default: {shown})"), (
                name,
                key,
            )
        for key in program.inherited:  # a default read from the checkpoint: unset until then, and said so
            assert settings[key] is None and actions[key].help.endswith(f"(this program's default: {cli.INHERITED})")
        for key, action in actions.items():
            if key in program.defaults or key in program.inherited:
                continue
            value = settings[key] if key != "out" else None
            seen[key][name] = (
                tuple(value) if isinstance(value, list) else value,
                action.help,
                action.metavar,
                action.nargs,
            )
        assert settings["out"] == f"runs/{program.name}" if "out" in settings else True
    shared = {key: per for key, per in seen.items() if len(per) > 1}
    assert {
        "seed",
        "device",
        "data_dir",
        "quiet",
        "epochs",
        "optimizer",
        "estimator",
        "lr",
        "train_size",
        "latent_dims",
    } <= set(shared)
    for key, per in shared.items():
        assert len(set(per.values())) == 1, f"--{key} differs between programs: {per}"


def test_the_same_optimizer_flag_gives_the_same_step_size_and_estimator_everywhere(programs):
    """The issue's example: --optimizer adagrad meant step size 0.02 in one program and 1e-3 in
    another, and --estimator defaulted to B in one and A in the other."""
    resolved = {}
    for name in ("mnist_aevb", "compare_inference"):
        settings = programs[name].PROGRAM.parse(["--optimizer", "adagrad"])
        resolved[name] = exp.resolve_run_config({**settings.run_keys(), "guide": "diag", "inference": "aevb"})
    assert resolved["mnist_aevb"]["lr"] == resolved["compare_inference"]["lr"] == 0.02
    assert resolved["mnist_aevb"]["estimator"] == resolved["compare_inference"]["estimator"] == "B"


def test_defaults_then_config_file_then_flags(tmp_path, programs):
    program = programs["mnist_aevb"].PROGRAM
    path = tmp_path / "c.yaml"
    path.write_text("latent_dim: 5\nepochs: 3\nlr: 1e-4\n")
    settings = program.parse(["--config", str(path), "--epochs", "7"])
    assert (settings["latent_dim"], settings["epochs"], settings["lr"], settings["batch_size"]) == (5, 7, 1e-4, 100)
    assert settings.explicit == {"latent_dim", "epochs", "lr"}
    assert settings.run_keys(explicit_only=True) == {"latent_dim": 5, "epochs": 7, "lr": 1e-4}
    path.write_text("gap_points: 3\n")  # a key of another program
    with pytest.raises(cfg.ConfigError, match="unknown key 'gap_points' in the configuration file"):
        program.parse(["--config", str(path)])


def test_the_error_wrapper_gives_one_line_and_an_exit_status(capsys):
    def usage(argv):
        raise cli.UsageError("--x is wrong")

    def failed(argv):
        raise FileNotFoundError(2, "No such file or directory", "runs/missing.pt")

    def interrupted(argv):
        raise KeyboardInterrupt

    def bug(argv):
        raise ZeroDivisionError("a bug keeps its traceback")

    assert cli.run(usage) == 2 and capsys.readouterr().err == "error: --x is wrong\n"
    assert cli.run(failed) == 1 and capsys.readouterr().err == "error: No such file or directory: runs/missing.pt\n"
    assert cli.run(interrupted, interrupted="stopped; rerun with --resume") == 130
    assert capsys.readouterr().err == "stopped; rerun with --resume\n"
    with pytest.raises(ZeroDivisionError):
        cli.run(bug)


@pytest.mark.parametrize("name", [*EXAMPLES, "aevb.data", *BENCHMARKS])
def test_every_program_refuses_bad_input_with_one_line(programs, name, tmp_path):
    result = run_program(programs[name], *REQUIRED.get(name, []), "--no-such-flag", check=False)
    assert result.returncode == 2 and result.stderr.startswith("error: unrecognized arguments: --no-such-flag")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "command",
    [
        [str(ROOT / "examples" / "mnist_aevb.py"), "--latent-dim", "0"],
        ["-m", "aevb.examples.paper_figure3", "--budget", "many"],
    ],
)
def test_programs_run_as_scripts_and_modules_with_the_same_wrapper(command, tmp_path):
    result = subprocess.run([sys.executable, *command], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "must be" in result.stderr, (
        result.stderr
    )


def test_a_programs_own_options_are_its_alone_and_the_shared_table_holds_only_shared_keys(programs):
    """Each program declares only its own options; a key in the shared table is a run key or is read
    by more than one program (the figure programs also read the run keys through --config)."""
    readers = {}
    for name, module in programs.items():
        for key in module.PROGRAM.config_keys:
            readers.setdefault(key, set()).add(name)
    own = {key: name for name, module in programs.items() for key in module.PROGRAM.table if key not in cfg.TABLE}
    assert "gap_points" in own and "rows" in own and "indices" in own
    assert all(readers[key] == {name} for key, name in own.items())
    alone = sorted(o.key for o in cfg.OPTIONS if not o.run and o.key != "config" and len(readers.get(o.key, ())) < 2)
    assert alone == []
