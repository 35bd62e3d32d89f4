"""docs/your_model.md runs: every ```python block in order in one namespace, then every ```bash
block (its ``python`` is this interpreter), in a scratch folder, so the page cannot go stale."""

import re
import shlex
import subprocess
import sys

import pytest
from conftest import ROOT, mnist_dir, requires_mnist

PAGE = ROOT / "docs" / "your_model.md"


def blocks(text: str, language: str) -> list:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
@requires_mnist
def test_every_block_of_the_your_model_page_runs(tmp_path, monkeypatch):
    text = PAGE.read_text()
    monkeypatch.chdir(tmp_path)  # the page writes runs/, digits.npz and digit_images/ where it runs
    monkeypatch.setenv("AEVB_DATA_DIR", str(mnist_dir()))
    monkeypatch.setenv("AEVB_PROGRESS", "off")
    namespace = {}
    for number, block in enumerate(blocks(text, "python"), 1):
        exec(compile(block, f"{PAGE.name}, python block {number}", "exec"), namespace)
    for block in blocks(text, "bash"):
        command = shlex.split(block.replace("\\\n", " "))
        assert command[0] == "python"
        done = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    # what the page claims, checked: the wrapped pair trained, every estimator scored it, the data entered
    assert namespace["state"].history[-1]["train_elbo"] > namespace["state"].history[0]["train_elbo"]
    assert namespace["is_points"].value.isfinite().all() and namespace["ais_points"].value.isfinite().all()
    assert (namespace["is_points"].error > 0).all() and namespace["ais_points"].reliable.all()
    assert (namespace["sandwich"].lower <= namespace["sandwich"].upper + 1.0).all()
    assert len(namespace["rows"]) == 4 and all(row.get("error") is None for row in namespace["rows"])
    assert (tmp_path / "runs" / "digits_cli" / "checkpoint.pt").is_file()
    assert namespace["run"].train.y is not None
