"""One import namespace: the installed collection works inside a project that has its own ``data/``,
``models/`` and ``inference/`` packages, as an editable install and as a regular one."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, mnist_dir, requires_mnist

#: A user's project: its own packages named like the repository's folders, each recording that it was imported.
USER_PACKAGES = ("data", "models", "inference", "guides")
CHECK = """
import json, sys
import aevb, aevb.data, aevb.models, aevb.inference, aevb.guides
import data, models, inference, guides  # the project's own
print(json.dumps({"aevb": aevb.__file__, "aevb.models": aevb.models.__file__, "user": [data.OWNER, models.OWNER,
inference.OWNER, guides.OWNER]}))
"""


def make_user_project(folder):
    for name in USER_PACKAGES:
        (folder / name).mkdir()
        (folder / name / "__init__.py").write_text(f'OWNER = "user {name}"\n')


def run(args, cwd, env=None):
    result = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def train_one_epoch(cwd, env=None):
    out = cwd / "run"
    run(
        [
            "-m",
            "aevb.examples.mnist_aevb",
            "--epochs",
            "1",
            "--train-size",
            "200",
            "--test-size",
            "50",
            "--batch-size",
            "50",
            "--eval-samples",
            "10",
            "--latent-dim",
            "2",
            "--hidden-dims",
            "20",
            "--device",
            "cpu",
            "--quiet",
            "--data-dir",
            str(mnist_dir()),
            "--out",
            str(out),
        ],
        cwd,
        env,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 1 and -800 < metrics["epochs"][0]["test_elbo"] < 0
    return metrics


def test_no_module_of_the_repository_touches_sys_path():
    needle = "sys" + ".path"
    offenders = [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if ".venv" not in p.parts and "build" not in p.parts and needle in p.read_text()
    ]
    assert offenders == []


@pytest.mark.slow
@requires_mnist
def test_editable_install_beside_a_projects_own_packages(tmp_path):
    make_user_project(tmp_path)
    found = json.loads(run(["-c", CHECK], tmp_path).stdout)
    assert found["user"] == [f"user {n}" for n in USER_PACKAGES]
    assert found["aevb.models"] == str(ROOT / "models" / "__init__.py")
    train_one_epoch(tmp_path)


@pytest.mark.slow
@requires_mnist
def test_regular_install_beside_a_projects_own_packages(tmp_path):
    """A wheel built from the repository and installed into a folder of its own (no access to the
    checkout): the subpackages live under site/aevb/, and training runs."""
    source, site = tmp_path / "source", tmp_path / "site"  # built from a copy: the build leaves nothing in the checkout
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".venv", ".data", ".git", "runs", "build", "*.egg-info", "__pycache__"),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    if (site / "aevb" / "models" / "__init__.py").exists() is False:
        pytest.fail(f"the wheel has no aevb/models: {sorted(p.name for p in (site / 'aevb').iterdir())}")
    project = tmp_path / "project"
    project.mkdir()
    make_user_project(project)
    env = {**os.environ, "PYTHONPATH": str(site)}
    found = json.loads(run(["-c", CHECK], project, env).stdout)
    assert found["aevb"] == str(site / "aevb" / "__init__.py") and found["aevb.models"] == str(
        site / "aevb" / "models" / "__init__.py"
    )
    assert found["user"] == [f"user {n}" for n in USER_PACKAGES]
    train_one_epoch(project, env)


def test_inference_holds_algorithms_and_estimators_only():
    """``aevb.inference`` imports the models and guides it works on, never the data package or the
    layer above it (configuration, run assembly, programs)."""
    import ast

    above = (
        "aevb.data",
        "aevb.config",
        "aevb.experiment",
        "aevb.curves",
        "aevb.cli",
        "aevb.paper",
        "aevb.tracking",
        "aevb.files",
        "aevb.figures",
        "aevb.examples",
    )
    found = {}
    for path in (ROOT / "inference").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if isinstance(node, ast.ImportFrom) and node.level:  # relative: inside aevb.inference, or ..x
                names = [f"aevb.{node.module}" if node.level == 2 else "aevb.inference"]
            bad = [n for n in names if n == "aevb" or n.startswith(above)]
            if bad:
                found.setdefault(path.name, []).extend(bad)
    assert found == {}
