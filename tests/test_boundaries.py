"""The architecture rules: nothing outside her2viewer/ui imports Qt; the import-linter contracts in
pyproject.toml (Qt, the package layers, the viewer rooms) hold; and no module imports itself in a circle,
counting imports under `if TYPE_CHECKING:` and inside functions."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
QT_MODULES = ("PySide6", "pyqtgraph", "shiboken6", "PyQt5", "PyQt6")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_qt_is_only_imported_under_ui():
    offenders = []
    for root in (REPO / "her2viewer", REPO / "training"):
        for path in root.rglob("*.py"):
            rel = path.relative_to(REPO)
            if rel.parts[:2] == ("her2viewer", "ui"):
                continue
            bad = {n for n in _imports(path) if n.split(".")[0] in QT_MODULES}
            if bad:
                offenders.append(f"{rel}: {sorted(bad)}")
    assert not offenders, "Qt imported outside her2viewer/ui:\n" + "\n".join(offenders)


def test_import_linter_contracts_are_kept(capsys):
    from importlinter.cli import lint_imports

    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        code = lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True, no_logo=True)
    finally:
        os.chdir(cwd)
    assert code == 0, "import-linter contracts broken:\n" + capsys.readouterr().out


def import_cycles(graph) -> list[list[str]]:
    """The module groups that import each other in a circle (strongly connected components of two or more)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    group.append(m)
                    if m == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def test_import_cycles_are_found():
    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")):
        graph.add_import(importer=a, imported=b)
    assert import_cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_no_import_cycles():
    graph = grimp.build_graph("her2viewer", "training", include_external_packages=False,
                              exclude_type_checking_imports=False, cache_dir=None)
    cycles = import_cycles(graph)
    assert not cycles, "modules importing each other in a circle:\n" + "\n".join(
        " <-> ".join(c) for c in cycles)
