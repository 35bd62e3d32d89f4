"""docs/api.md's code runs: every ```python block, in order, in one namespace (so the page cannot go stale)."""

import re

import pytest
from conftest import ROOT, mnist_dir, requires_mnist

PAGE = ROOT / "docs" / "api.md"


def code_blocks(text: str) -> list:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
@requires_mnist
def test_every_code_block_of_the_api_page_runs(tmp_path, monkeypatch):
    blocks = code_blocks(PAGE.read_text())
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)  # the page writes runs/... relative to where it runs
    monkeypatch.setenv("AEVB_DATA_DIR", str(mnist_dir()))
    monkeypatch.setenv("AEVB_PROGRESS", "off")
    namespace = {}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"{PAGE.name}, block {number}", "exec"), namespace)
    assert (tmp_path / "runs" / "api" / "checkpoint.pt").is_file() and any((tmp_path / "runs" / "api_tb").iterdir())
    assert namespace["run"].config["epochs"] == 1 and namespace["decoder"].latent_dim == 20
