"""The import picture of the repository is a layering with no cycle, and it stays so.

Every ``import`` in every module is counted, lazy ones inside functions included:
the contract (``retail_common``, ``retail_proto``) at the bottom; ``edge_agent`` and
``central`` side by side over it, never importing each other; ``training`` beside
them (it reuses the agent's feature code, which has no torch); the fleet simulator,
``bench`` and ``tests`` on top.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {
    "retail_proto": REPO / "proto" / "retail_proto",
    "retail_common": REPO / "retail_common",
    "edge_agent": REPO / "edge_agent",
    "central": REPO / "central",
    "training": REPO / "training",
    "fleet_sim": REPO / "fleet_sim",
    "bench": REPO / "bench",
}
ALLOWED = {
    "retail_proto": set(),
    "retail_common": set(),
    "edge_agent": {"retail_common", "retail_proto"},
    "central": {"retail_common", "retail_proto"},
    "training": {"retail_common", "edge_agent"},
    "fleet_sim": {"retail_common", "retail_proto", "edge_agent", "central", "training"},
    "bench": {"retail_common", "retail_proto", "edge_agent", "central", "training", "fleet_sim"},
}
MAX_LINES = 400


def imported_packages(path: Path) -> set[str]:
    """The project's top-level packages that a module imports, anywhere in its body."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(n.split(".")[0] for n in names if n.split(".")[0] in PACKAGES)
    return found


def edges(repo: Path = REPO) -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the modules that import it."""
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for package, folder in PACKAGES.items():
        for path in sorted((repo / folder.relative_to(REPO)).rglob("*.py")):
            for target in imported_packages(path) - {package}:
                out[package][target].append(str(path.relative_to(repo)))
    return out


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    imported = edges()[package]
    forbidden = {target: modules for target, modules in imported.items() if target not in ALLOWED[package]}
    assert forbidden == {}, f"{package} must not import {sorted(forbidden)}: {forbidden}"


def test_central_and_the_agent_never_import_each_other_or_training() -> None:
    graph = edges()
    assert "edge_agent" not in graph["central"]
    assert "central" not in graph["edge_agent"]
    assert "training" not in graph["central"]
    assert "training" not in graph["edge_agent"]


def test_the_import_graph_has_no_cycle() -> None:
    graph = {package: set(targets) for package, targets in edges().items()}
    done: set[str] = set()

    def visit(node: str, trail: tuple[str, ...]) -> None:
        assert node not in trail, f"import cycle: {' -> '.join((*trail, node))}"
        if node in done:
            return
        for target in graph.get(node, ()):
            visit(target, (*trail, node))
        done.add(node)

    for package in PACKAGES:
        visit(package, ())


def test_long_modules_say_why_in_their_docstring() -> None:
    """A module of the product over about 400 lines says in its docstring why it is not split."""
    unexplained = []
    for folder in PACKAGES.values():
        for path in sorted(folder.rglob("*.py")):
            if path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
                continue  # generated
            text = path.read_text(encoding="utf-8")
            docstring = ast.get_docstring(ast.parse(text)) or ""
            if text.count("\n") > MAX_LINES and f"{MAX_LINES} lines" not in docstring:
                unexplained.append(f"{path.relative_to(REPO)} ({text.count(chr(10))} lines)")
    assert unexplained == [], f"over {MAX_LINES} lines with no reason given: {unexplained}"


if __name__ == "__main__":  # the import picture of a checkout: python tests/test_layering.py [REPO]
    import sys

    for source, targets in sorted(edges(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO).items()):
        for target, modules in sorted(targets.items()):
            print(f"{source} -> {target}: {len(modules)} module(s)")
