"""docs/contracts.md states every declaration of every role with its one default: the tables are
read back and compared with :mod:`aevb.inference.capabilities`, so the page cannot drift."""

import ast
import re
from dataclasses import fields

from conftest import ROOT

from aevb.inference.capabilities import ROLES

PAGE = ROOT / "docs" / "contracts.md"
HEADINGS = {"Model": "model", "Guide": "guide", "Algorithm": "algorithm", "Log-likelihood estimator": "estimator"}


def documented() -> dict:
    """``{role: {declaration: default}}`` from the page's "### Role" tables."""
    tables, role = {}, None
    for line in PAGE.read_text().splitlines():
        heading = re.match(r"### (.+)", line)
        if heading:
            role = HEADINGS.get(heading.group(1).strip())
            continue
        row = re.match(r"\| `(\w+)` \| `([^`]+)` \|", line)
        if role and row:
            tables.setdefault(role, {})[row.group(1)] = ast.literal_eval(row.group(2))
    return tables


def test_the_page_lists_every_declaration_with_its_default():
    expected = {role: {f.name: f.default for f in fields(kind)} for role, kind in ROLES.items()}
    assert documented() == expected
