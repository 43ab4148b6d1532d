"""Shared fixtures: offscreen Qt, paths to ../shared data (skipped when absent), small synthetic images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def user_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own per-user data folder (the default project), never the real one."""
    path = tmp_path_factory.mktemp("user-data")
    monkeypatch.setenv("HER2VIEWER_DATA_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip the test when it is not there."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED
