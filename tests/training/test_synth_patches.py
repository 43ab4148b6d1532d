"""Labelled synthetic patches (training.synth_patches): tile labels from cell truth, caps, determinism."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from her2viewer.features.tiling import TileGrid
from her2viewer.scoring.asco import SCORES4
from training.items import class_names, read_items
from training.synth_patches import (
    PatchSettings,
    label_tiles,
    main,
    read_patch_spec,
    select_balanced,
    write_patch_set,
)

SEED = 20003  # a 3+ core; at 600 px its tiles are 0, 2+ and 3+
SETTINGS = PatchSettings(tile_px=128, mpp=0.5, min_tissue=0.5, min_cells=8, per_core=4, diameters=(600,))


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def patch_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 600 px core cut into labelled 128 px tiles, at most 4 kept."""
    out = tmp_path_factory.mktemp("patches")
    write_patch_set(out, [SEED], SETTINGS, workers=1)
    return out


def _grid(rows: int = 2, cols: int = 2, s: float = 100.0) -> TileGrid:
    rc = np.array([(r, c) for r in range(rows) for c in range(cols)], np.int32)
    return TileGrid((rc[:, ::-1] * s).astype(np.int64), rc, (0.0, 0.0), s, (rows, cols), int(s))


def test_label_tiles_applies_asco_cap_to_the_cells_in_each_tile() -> None:
    rng = np.random.default_rng(0)
    xs, ys, inten, comp = [], [], [], []

    def add(n: int, x0: float, y0: float, intensity: list[int], complete: list[bool]) -> None:
        xs.extend(rng.uniform(x0 + 1, x0 + 99, n))
        ys.extend(rng.uniform(y0 + 1, y0 + 99, n))
        inten.extend(intensity)
        comp.extend(complete)

    add(12, 0, 0, [3] * 12, [True] * 12)                          # tile (0,0): all complete strong -> 3+
    add(10, 100, 0, [0] * 10, [False] * 10)                       # tile (0,1): unstained -> 0
    add(5, 0, 100, [3] * 5, [True] * 5)                           # tile (1,0): too few cells -> dropped
    add(20, 100, 100, [3] + [0] * 19, [True] + [False] * 19)      # tile (1,1): 5% complete strong -> 2+
    xs.append(100.0)                                              # on the border: belongs to tile (0,1)
    ys.append(50.0)
    inten.append(0)
    comp.append(False)
    got = label_tiles(_grid(), np.array(xs), np.array(ys), np.array(inten), np.array(comp), min_cells=8)
    assert [(t.index, t.label, t.n_cells) for t in got] == [(0, "3+", 12), (1, "0", 11), (3, "2+", 20)]


def test_select_balanced_caps_cores_and_balances_classes() -> None:
    pools = [["0"] * 10, ["3+"] * 2 + ["0"] * 8, ["1+", "2+", "2+"]]
    chosen = select_balanced(pools, 4)
    assert [len(c) for c in chosen] == [4, 4, 3]
    counts = Counter(pools[i][j] for i, picks in enumerate(chosen) for j in picks)
    assert counts == {"0": 6, "3+": 2, "1+": 1, "2+": 2}
    assert all(len(set(c)) == len(c) for c in chosen)
    assert select_balanced(pools, 0) == [list(range(10)), list(range(10)), list(range(3))]
    with pytest.raises(ValueError, match="not among the classes"):
        select_balanced([["Tumour"]], 2)


def test_patch_set_labels_caps_and_spec(patch_set: Path) -> None:
    rows = _rows(patch_set / "labels.csv")
    pool = _rows(patch_set / "pool.csv")
    assert 0 < len(rows) <= SETTINGS.per_core
    assert {r["label"] for r in pool} <= set(SCORES4)
    assert all(n <= SETTINGS.per_core for n in Counter(r["label"] for r in pool).values())
    assert len({r["label"] for r in rows}) >= 2             # the cap is shared between the core's classes
    assert {r["file"] for r in rows} <= {r["file"] for r in pool}
    for r in rows:
        assert int(r["n_cells"]) >= SETTINGS.min_cells
        assert r["patient_id"] == f"synth-{SEED}" and r["core_label"] == "3+"
        img = cv2.imread(str(patch_set / r["file"]))
        assert img is not None and img.shape == (128, 128, 3)
    assert json.loads((patch_set / "patch_spec.json").read_text()) == {"tile_px": 128, "mpp": 0.5, "min_tissue": 0.5}
    assert read_patch_spec(patch_set) == read_patch_spec(patch_set / "labels.csv") == {
        "tile_px": 128, "mpp": 0.5, "min_tissue": 0.5}
    items = read_items(patch_set)                            # the training module reads the set as it is
    assert class_names(items) == SCORES4 and len(items) == len(rows)


def test_strong_tiles_are_browner_than_unstained_ones(patch_set: Path) -> None:
    from her2viewer.stain import deconvolve

    dab: dict[str, list[float]] = {}
    for r in _rows(patch_set / "pool.csv"):
        rgb = cv2.cvtColor(cv2.imread(str(patch_set / r["file"])), cv2.COLOR_BGR2RGB)
        dab.setdefault(r["label"], []).append(float(np.percentile(deconvolve(rgb)[..., 1], 95)))
    assert min(dab["3+"]) > max(dab["0"])


def test_same_seeds_give_the_same_files(patch_set: Path, tmp_path: Path) -> None:
    assert main([str(tmp_path), "--seeds", str(SEED), "--diameter", "600", "--per-core", "4"]) == 0

    def digest(folder: Path) -> dict[str, str]:
        return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    assert digest(tmp_path) == digest(patch_set)
    # other settings in the same folder are refused (the tiles would not match)
    assert main([str(tmp_path), "--seeds", str(SEED), "--diameter", "600", "--per-core", "5"]) == 1


def test_read_patch_spec_without_file_is_empty(tmp_path: Path) -> None:
    assert read_patch_spec(tmp_path) == {}
    (tmp_path / "patch_spec.json").write_text('{"tile_px": 128}')
    with pytest.raises(ValueError, match="has no mpp, min_tissue"):
        read_patch_spec(tmp_path)
