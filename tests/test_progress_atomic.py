"""Progress/cancel plumbing and atomic writes."""

from __future__ import annotations

import pytest

from her2viewer.atomic import atomic_write_text
from her2viewer.progress import Cancelled, Task


def test_task_reports_and_cancels():
    seen = []
    flag = {"stop": False}
    t = Task(lambda f, m: seen.append((round(f, 3), m)), lambda: flag["stop"])
    t.report(0.5, "half")
    t.sub(0.5, 1.0).report(0.5, "sub")
    assert seen == [(0.5, "half"), (0.75, "sub")]
    flag["stop"] = True
    with pytest.raises(Cancelled):
        t.report(0.9)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a" / "x.json"
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    assert [f.name for f in p.parent.iterdir()] == ["x.json"]


def test_atomic_write_gives_normal_permissions(tmp_path):
    import os

    p = tmp_path / "perm.txt"
    atomic_write_text(p, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~mask)
