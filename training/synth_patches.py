"""Labelled tissue patches from synthetic cores for the patch classifier (method "patch"), labels from the
generator's per-cell truth.

`python -m training.synth_patches OUT --seeds 20000-20199 --diameter 1800,2400,3000 --tile-px 128 --mpp 0.5
--per-core 24 --workers 2`: for each seed, `her2viewer.synth.core.generate_core` draws a core of the
seed's class (`training.synth_data.label_for_seed`, balanced; diameters cycle by seed) at `--core-mpp`
(0.5 um/px). The core becomes an `ArraySlide` and is tiled exactly as the patch scorer tiles it: the
region the scorer would score (`her2viewer.tissue.regions.regions_for(source, "slide")`, the tissue of a
single core image) on the grid of `her2viewer.features.tiling.tile_grid` with the same `TileSpec`, tiles
read with `iter_tile_batches`. Each tile is labelled by the ASCO/CAP rule (`asco_cap_from_cells`) on the
tumour cells whose centres fall in it; tiles with fewer than `--min-cells` tumour cells are dropped.

Selection, class-balanced over the whole set: each core keeps a pool of at most `--per-core` tiles of each
class (a seeded random pick, PNGs in OUT/tiles/, listed in OUT/pool.csv); then `select_balanced` takes at
most `--per-core` tiles per core from the pools, filling every core as far as its pool allows while keeping
the class counts of the whole set as equal as possible (OUT/labels.csv, the training set).

Writes OUT/labels.csv and OUT/pool.csv (file,label,patient_id=synth-SEED,seed,n_cells,core_label,
diameter_px,l0_x,l0_y,generator_version), OUT/patch_spec.json ({"tile_px", "mpp", "min_tissue"}: what the
trained classifier's card must carry, see `read_patch_spec`) and OUT/settings.json. Deterministic given the
seeds and settings; finished cores (OUT/parts/*.csv) are kept, so an interrupted run continues (the
selection depends on the whole seed list).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from her2viewer.features.tiling import TileGrid, TileSpec
from her2viewer.jsonfile import read_json
from her2viewer.scoring.asco import SCORES4, asco_cap_from_cells

from .opencv_fork import opencv_single_threaded
from .synth_data import label_for_seed, parse_seeds

log = logging.getLogger(__name__)
COLUMNS = ("file", "label", "patient_id", "seed", "n_cells", "core_label", "diameter_px", "l0_x", "l0_y",
           "generator_version")
PATCH_SPEC_KEYS = ("tile_px", "mpp", "min_tissue")
PATCH_SPEC_FILE = "patch_spec.json"
SELECTION_SALT = 0x5A7C  # keeps the tile choice's random stream apart from the generator's


@dataclass(frozen=True)
class PatchSettings:
    """What the patches of one seed depend on (besides the seed)."""

    tile_px: int = 128
    mpp: float = 0.5
    min_tissue: float = 0.5
    min_cells: int = 8
    per_core: int = 24       # 0: keep every labelled tile
    core_mpp: float = 0.5
    diameters: tuple[int, ...] = (1800,)

    def tile_spec(self) -> TileSpec:
        """The tile geometry shared with the scorer (no tile cap: every tissue tile is a candidate)."""
        return TileSpec(tile_px=self.tile_px, mpp=self.mpp, min_tissue=self.min_tissue, max_tiles=0)

    def diameter_for(self, seed: int) -> int:
        """The core diameter of a seed (the list cycles by seed)."""
        return self.diameters[seed % len(self.diameters)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["diameters"] = list(self.diameters)
        return d


@dataclass(frozen=True)
class TileLabel:
    """One labelled tile: index in the grid, ASCO/CAP score of its tumour cells and their number."""

    index: int
    label: str
    n_cells: int


def label_tiles(grid: TileGrid, x: np.ndarray, y: np.ndarray, intensity: np.ndarray, complete: np.ndarray,
                min_cells: int = 8) -> list[TileLabel]:
    """The ASCO/CAP label of every grid tile holding at least `min_cells` tumour cell centres (level-0 x, y)."""
    s = grid.l0_tile_size
    x0, y0 = grid.l0_origin
    col = np.floor((np.asarray(x, np.float64) - x0) / s).astype(np.int64)
    row = np.floor((np.asarray(y, np.float64) - y0) / s).astype(np.int64)
    rows, cols = grid.shape
    inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
    cell_key = np.where(inside, row * cols + col, -1)
    order = np.argsort(cell_key, kind="stable")
    sorted_keys = cell_key[order]
    intensity, complete = np.asarray(intensity), np.asarray(complete, bool)
    out = []
    for i, (r, c) in enumerate(grid.grid_rc):
        key = int(r) * cols + int(c)
        lo, hi = np.searchsorted(sorted_keys, key, "left"), np.searchsorted(sorted_keys, key, "right")
        if hi - lo < max(1, min_cells):
            continue
        sel = order[lo:hi]
        decision, _ = asco_cap_from_cells(intensity[sel], complete[sel])
        out.append(TileLabel(i, decision.score, int(hi - lo)))
    return out


def class_pool(labels: Sequence[str], per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a seeded random pick of at most `per_class` items of each label (0: all), shuffled."""
    labels = list(labels)
    picks = []
    for k in sorted(set(labels)):
        idx = rng.permutation([i for i, v in enumerate(labels) if v == k])
        picks.append(idx[:per_class] if per_class > 0 else idx)
    return np.concatenate(picks).astype(np.int64) if picks else np.zeros(0, np.int64)


def select_balanced(pools: Sequence[Sequence[str]], per_core: int, classes: Sequence[str] = SCORES4
                    ) -> list[list[int]]:
    """Chosen positions in each core's pool (its tile labels, in pool order): at most `per_core` per core
    (0: all), every core filled as far as its pool allows, the class counts of the whole set kept as equal
    as possible (greedy: the rarest class so far, from the core with most of it and least of the others)."""
    if per_core <= 0:
        return [list(range(len(p))) for p in pools]
    col = {c: j for j, c in enumerate(classes)}
    queues = [[[i for i, v in enumerate(p) if v == c] for c in classes] for p in pools]
    avail = np.array([[len(q) for q in qs] for qs in queues], np.int64).reshape(len(pools), len(classes))
    taken = np.zeros(len(pools), np.int64)
    counts = np.zeros(len(classes), np.int64)
    chosen: list[list[int]] = [[] for _ in pools]
    unknown = {v for p in pools for v in p} - set(col)
    if unknown:
        raise ValueError(f"tile labels {sorted(unknown)} are not among the classes {list(classes)}")
    while True:
        ok = (avail > 0) & (taken < per_core)[:, None]
        open_classes = np.flatnonzero(ok.any(axis=0))
        if open_classes.size == 0:
            break
        c = int(open_classes[np.argmin(counts[open_classes])])
        others = avail.sum(axis=1) - avail[:, c]
        score = np.where(ok[:, c], avail[:, c] * (others.max() + 1) - others, -1)
        i = int(np.argmax(score))
        q = queues[i][c]
        chosen[i].append(q[len(q) - int(avail[i, c])])
        avail[i, c] -= 1
        taken[i] += 1
        counts[c] += 1
    return [sorted(ch) for ch in chosen]


def tile_name(seed: int, row: int, col: int) -> str:
    """The PNG name of one tile (relative to OUT)."""
    return f"tiles/s{seed:07d}_r{row:03d}_c{col:03d}.png"


def core_patches(seed: int, settings: PatchSettings) -> list[tuple[dict[str, Any], np.ndarray]]:
    """(labels.csv row, RGB tile) of one seed's pool: a seeded pick of at most `per_core` labelled tiles of
    each class, shuffled."""
    from her2viewer.features.tiling import iter_tile_batches, tile_grid
    from her2viewer.slide.array_source import ArraySlide
    from her2viewer.synth.core import generate_core
    from her2viewer.tissue.regions import regions_for

    diameter = settings.diameter_for(seed)
    core = generate_core(label_for_seed(seed), seed, diameter_px=diameter, mpp=settings.core_mpp)
    source = ArraySlide(core.image, mpp=settings.core_mpp, name=f"synth-{seed}")
    region = regions_for(source, "slide")[1][0]
    grid = tile_grid(source, region, settings.tile_spec())
    cells = core.cells
    labelled = label_tiles(grid, cells.x, cells.y, cells.intensity, cells.complete, settings.min_cells)
    rng = np.random.default_rng([SELECTION_SALT, seed])
    kept = [labelled[i] for i in class_pool([t.label for t in labelled], settings.per_core, rng)]
    sub = TileGrid(grid.l0_xy[[t.index for t in kept]], grid.grid_rc[[t.index for t in kept]], grid.l0_origin,
                   grid.l0_tile_size, grid.shape, grid.tile_px)
    tiles = np.concatenate([b for _, b in iter_tile_batches(source, sub, 64)]) if kept else []
    out = []
    for t, (l0_x, l0_y), (r, c), img in zip(kept, sub.l0_xy, sub.grid_rc, tiles, strict=True):
        row = {"file": tile_name(seed, int(r), int(c)), "label": t.label, "patient_id": f"synth-{seed}",
               "seed": seed, "n_cells": t.n_cells, "core_label": core.label, "diameter_px": diameter,
               "l0_x": int(l0_x), "l0_y": int(l0_y), "generator_version": core.stats.get("generator_version", "")}
        out.append((row, img))
    if not out:
        log.warning("seed %d: no tile has %d tumour cells; the core gives no patches", seed, settings.min_cells)
    return out


def _write_core(job: tuple[str, int, PatchSettings]) -> list[dict[str, Any]]:
    """Write one seed's pool tiles and its part CSV (kept when already there); the pool's rows."""
    out_s, seed, settings = job
    out = Path(out_s)
    part = out / "parts" / f"seed_{seed:07d}.csv"
    if part.is_file():
        with open(part, newline="") as fh:
            return list(csv.DictReader(fh))
    cv2.setNumThreads(1)
    rows = []
    for row, img in core_patches(seed, settings):
        cv2.imwrite(str(out / row["file"]), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
        rows.append(row)
    _write_csv(part, rows)
    return rows


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write rows with COLUMNS to path (atomically); returns path."""
    from her2viewer.atomic import atomic_write_text
    from her2viewer.csvio import csv_text

    atomic_write_text(path, csv_text(list(COLUMNS), rows))
    return path


def _check_settings(out: Path, settings: PatchSettings) -> None:
    """Refuse to add to a folder made with other settings (its tiles would not match)."""
    path = out / "settings.json"
    if path.is_file():
        old = read_json(path, "patch settings file")
        if old != settings.to_dict():
            raise ValueError(f"{out} holds patches made with other settings ({path}: {old}); "
                             "use a new folder or the same settings")
    path.write_text(json.dumps(settings.to_dict(), indent=1) + "\n", encoding="utf-8")


def write_patch_set(out: str | Path, seeds: Sequence[int], settings: PatchSettings | None = None,
                    workers: int = 1) -> Path:
    """Generate the labelled patches of `seeds` into `out`; returns out/labels.csv."""
    settings = settings or PatchSettings()
    out = Path(out)
    (out / "tiles").mkdir(parents=True, exist_ok=True)
    (out / "parts").mkdir(exist_ok=True)
    _check_settings(out, settings)
    jobs = [(str(out), int(s), settings) for s in seeds]
    if workers > 1:
        with opencv_single_threaded(), ProcessPoolExecutor(workers) as ex:
            pools = list(ex.map(_write_core, jobs))
    else:
        pools = [_write_core(j) for j in jobs]
    if not any(pools):
        raise ValueError(f"no core of seeds {seeds[0]}..{seeds[-1]} gave a tile with {settings.min_cells} "
                         "tumour cells; use larger cores or a larger --tile-px")
    chosen = select_balanced([[str(r["label"]) for r in pool] for pool in pools], settings.per_core)
    rows = [pool[j] for pool, picks in zip(pools, chosen, strict=True) for j in picks]
    _write_csv(out / "pool.csv", [r for pool in pools for r in pool])
    labels = _write_csv(out / "labels.csv", rows)
    spec = {k: getattr(settings, k) for k in PATCH_SPEC_KEYS}
    (out / PATCH_SPEC_FILE).write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    counts = Counter(r["label"] for r in rows)
    log.info("%d patches from %d cores in %s; per class: %s", len(rows), len(seeds), out,
             ", ".join(f"{k}: {counts.get(k, 0)}" for k in SCORES4))
    return labels


def read_patch_spec(data: str | Path) -> dict[str, Any]:
    """{"tile_px", "mpp", "min_tissue"} of a patch set (folder, or its labels.csv) from its patch_spec.json;
    {} when it has none (patches not made by this module)."""
    p = Path(data)
    path = (p if p.is_dir() else p.parent) / PATCH_SPEC_FILE
    if not path.is_file():
        return {}
    spec = read_json(path, "patch geometry file")   # a JSONFileError (ValueError) names the file
    missing = [k for k in PATCH_SPEC_KEYS if k not in spec]
    if missing:
        raise ValueError(f"the patch geometry file {path} has no {', '.join(missing)}")
    return {k: spec[k] for k in PATCH_SPEC_KEYS}


def main(argv: list[str] | None = None) -> int:
    """Command line: OUT --seeds A-B [--diameter D[,D...]] [--tile-px] [--mpp] [--per-core] [--workers]."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--seeds", required=True, help="e.g. 20000-20199 or 1,2,5-7")
    p.add_argument("--diameter", default="1800", help="core diameter(s) in px, comma-separated (cycle by seed)")
    p.add_argument("--tile-px", type=int, default=128, help="tile side in px at --mpp")
    p.add_argument("--mpp", type=float, default=0.5, help="tile resolution in um/px")
    p.add_argument("--min-tissue", type=float, default=0.5, help="tissue fraction a tile needs (as the scorer)")
    p.add_argument("--min-cells", type=int, default=8, help="tumour cells a tile needs to be labelled")
    p.add_argument("--per-core", type=int, default=24, help="at most this many tiles per core (0: all)")
    p.add_argument("--core-mpp", type=float, default=0.5, help="resolution the cores are generated at")
    p.add_argument("--workers", type=int, default=1)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = PatchSettings(tile_px=a.tile_px, mpp=a.mpp, min_tissue=a.min_tissue, min_cells=a.min_cells,
                             per_core=a.per_core, core_mpp=a.core_mpp,
                             diameters=tuple(int(d) for d in a.diameter.split(",")))
    try:
        path = write_patch_set(a.out, parse_seeds(a.seeds), settings, a.workers)
    except ValueError as exc:
        log.error("%s", exc)
        return 1
    log.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
