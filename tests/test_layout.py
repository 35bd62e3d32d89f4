"""The layout's rules, read from the source: dependencies point down (aevb → inference → guides →
models → data; the programs in examples/ and benchmarks/ sit above them all), no package imports one
above it, and no module imports another in a circle."""

import ast
from pathlib import Path

from conftest import ROOT

#: folder of the repository → the package it installs as (setup.cfg's package_dir)
PACKAGES = {
    "aevb": "aevb",
    "data": "aevb.data",
    "models": "aevb.models",
    "guides": "aevb.guides",
    "inference": "aevb.inference",
}
#: each package's layer: a module may import its own layer and those below, never one above
LAYERS = {"aevb.data": 0, "aevb.models": 1, "aevb.guides": 2, "aevb.inference": 3, "aevb": 4}


def modules() -> dict:
    """module name → its file, for every module of the installed packages."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def imports_of(name: str, path: Path, known: set) -> set:
    """The collection's modules that ``name`` imports at any depth of its code (relative imports resolved)."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(here[: len(here) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            # ``from package import submodule`` depends on the submodule (the package's __init__ is
            # only its container); ``from module import name`` depends on the module
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def layer(module: str) -> int:
    """The layer of the most specific package ``module`` belongs to."""
    owner = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[owner]


def graph() -> dict:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def test_no_package_imports_one_above_it():
    # a package's __main__ is a program (``python -m aevb.data``), which may use the layer above
    upward = [
        (m, t) for m, targets in graph().items() for t in targets if layer(t) > layer(m) and not m.endswith(".__main__")
    ]
    assert upward == []


def find_cycles(edges: dict) -> list:
    """Every circle a depth-first walk of ``edges`` meets, as the list of modules around it."""
    cycles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return cycles


def test_no_module_imports_another_in_a_circle():
    assert find_cycles(graph()) == []


def test_the_walk_sees_imports_and_would_see_a_circle():
    """The checks above can fail: the walk finds relative and absolute imports, an upward import
    is ranked as one, and a circle through real modules is found."""
    edges = graph()
    assert "aevb.inference.training.loop" in edges["aevb.experiment"]
    assert "aevb.inference.estimators.weights" in edges["aevb.inference.algorithms.iwae"]
    assert "aevb.models.contract" in edges["aevb.guides.amortised"]
    assert layer("aevb.inference.training.compile") > layer(
        "aevb.guides.meanfield"
    )  # the import the old meanfield made
    edges["aevb.inference.estimators.weights"] = edges["aevb.inference.estimators.weights"] | {
        "aevb.inference.algorithms.iwae"
    }
    assert any(
        {"aevb.inference.algorithms.iwae", "aevb.inference.estimators.weights"} <= set(cycle)
        for cycle in find_cycles(edges)
    )
