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


@pytest.fixture(autouse=True)
def qt_garbage_in_the_main_thread(request: pytest.FixtureRequest):
    """No automatic garbage collection while a Qt test runs, and a collection in the main thread after it.

    Collected in a worker thread (tile decoding, slide opening), a closed window's widgets were destroyed
    there and deadlocked against the main thread (Qt's object lock against the GIL): the rare hang of the UI
    tests. The application does the same with a timer (`her2viewer.ui.common.qapp.ensure_app`); pytest-qt's
    QApplication is not made by it, and the tests that are not about Qt keep automatic collection."""
    import gc

    was_enabled = gc.isenabled()
    if "qapp" in request.fixturenames:
        gc.disable()
    yield
    if "qapp" in request.fixturenames or not gc.isenabled():
        gc.collect()
    if was_enabled:
        gc.enable()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip the test when it is not there."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


@pytest.fixture(scope="session")
def tiny_cores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with 12 class-balanced synthetic cores of 320 px and labels.csv."""
    from training.synth_data import write_balanced_set

    out = tmp_path_factory.mktemp("tiny_cores")
    write_balanced_set(out, list(range(100, 112)), diameters=(320,), workers=1)
    return out


@pytest.fixture(scope="session")
def tiny_pss_base(tiny_cores: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small PSS checkpoint (5 patches of 48 px) trained for one epoch on the tiny cores: a base model that
    fine-tunes in seconds."""
    from training.config import TrainConfig
    from training.runner import train

    out = tmp_path_factory.mktemp("tiny_base") / "tiny_pss"
    cfg = TrainConfig(data=str(tiny_cores), val_data=str(tiny_cores), out=str(out), model="pss_mobilenetv2",
                      epochs=1, batch_size=6, lr=5e-4, samples_per_item=1, num_workers=0, eval_n=2, eval_k=1,
                      seed=3, early_stopping=0, nk_on_val=False,
                      spec={"n_full": 3, "n_half": 1, "whole": True, "patch_size": 48, "mpp": 1.0})
    train(cfg, command="tests/conftest.py tiny_pss_base")
    return out


def write_labelled_cores(folder: Path, labels: list[str], first_seed: int, diameter_px: int) -> Path:
    """Synthetic cores of the given labels (seeds from `first_seed`, 0.5 um/px) as c<i>.png with a labels.csv
    (file,label), like a lab's folder of labelled images; returns the folder."""
    import cv2

    from her2viewer.synth.core import generate_core

    folder.mkdir(parents=True, exist_ok=True)
    rows = ["file,label"]
    for i, lab in enumerate(labels):
        img = generate_core(lab, seed=first_seed + i, diameter_px=diameter_px, mpp=0.5).image
        cv2.imwrite(str(folder / f"c{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        rows.append(f"c{i}.png,{lab}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder
