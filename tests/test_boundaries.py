"""The architecture rule that keeps the core headless: nothing outside her2viewer/ui imports Qt."""

from __future__ import annotations

import ast
from pathlib import Path

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
