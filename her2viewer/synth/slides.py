"""Synthetic slides: a TMA (a grid of generated cores) and a whole slide (a few tissue pieces), as pyramidal TIFF.

Pieces are generated as arrays, placed on glass with a feathered alpha, and rendered tile by tile through
`write_pyramidal_tiff`'s renderer interface, so a large slide never exists as one array.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..progress import Task
from ..scoring.asco import SCORES4, asco_cap_score, cell_percentages
from ..slide.writer import write_pyramidal_tiff
from . import GENERATOR_VERSION
from . import params as P
from .core import SynthCore, generate_core

log = logging.getLogger(__name__)


@dataclass
class Placed:
    """A generated piece at level-0 position (x, y) of its top-left corner on the slide."""

    x: int
    y: int
    image: np.ndarray
    alpha: np.ndarray  # float32 0..1, same size as image


@dataclass
class Mosaic:
    """Pieces on glass; `render` is a RegionRenderer for `write_pyramidal_tiff`."""

    width: int
    height: int
    glass_rgb: np.ndarray
    pieces: list[Placed] = field(default_factory=list)
    _ds: float = 0.0
    _scaled: list[tuple[int, int, np.ndarray, np.ndarray]] = field(default_factory=list)

    def _prepare(self, ds: float) -> None:
        if ds == self._ds:
            return
        self._scaled = []
        for p in self.pieces:
            if ds == 1:
                img, a = p.image, p.alpha
            else:
                size = (max(1, round(p.image.shape[1] / ds)), max(1, round(p.image.shape[0] / ds)))
                img = cv2.resize(p.image, size, interpolation=cv2.INTER_AREA)
                a = cv2.resize(p.alpha, size, interpolation=cv2.INTER_AREA)
            self._scaled.append((round(p.x / ds), round(p.y / ds), img, a))
        self._ds = ds

    def render(self, ds: float, lvl_x: int, lvl_y: int, w: int, h: int) -> np.ndarray:
        """RGB uint8 (h, w, 3) of the slide at downsample `ds`."""
        self._prepare(ds)
        out = np.empty((h, w, 3), np.float32)
        out[:] = self.glass_rgb
        for px, py, img, a in self._scaled:
            x0, y0 = max(lvl_x, px), max(lvl_y, py)
            x1, y1 = min(lvl_x + w, px + img.shape[1]), min(lvl_y + h, py + img.shape[0])
            if x0 >= x1 or y0 >= y1:
                continue
            src = img[y0 - py : y1 - py, x0 - px : x1 - px].astype(np.float32)
            al = a[y0 - py : y1 - py, x0 - px : x1 - px, None]
            dst = out[y0 - lvl_y : y1 - lvl_y, x0 - lvl_x : x1 - lvl_x]
            dst += al * (src - dst)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _alpha(core: SynthCore) -> np.ndarray:
    """Feathered tissue alpha of a core (1 on tissue and the glass just around it)."""
    tissue = core.maps["tissue"].astype(np.uint8)
    k = max(3, int(min(tissue.shape) * 0.02) | 1)
    hull = cv2.dilate(tissue, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return cv2.GaussianBlur(hull.astype(np.float32), (0, 0), k / 4)


def _glass(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(*P.GLASS_OD) + np.asarray(P.GLASS_WARMTH) + rng.normal(0, 0.002, 3)


def grid_id(row: int, col: int) -> str:
    """TMA grid label: rows A, B, ..., columns 1, 2, ... (row 0, col 0 -> "A1")."""
    return f"{chr(ord('A') + row)}{col + 1}"


def write_tma_slide(path: str | Path, *, seed: int, rows: int = 3, cols: int = 4, diameter_px: int = 3000,
                    mpp: float = 0.5, labels: list[str] | None = None, n_missing: int = 1,
                    task: Task | None = None) -> list[dict]:
    """Write a TMA slide (grid of cores, slight jitter, `n_missing` empty positions); returns one dict per core."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7001]))
    positions = [(r, c) for r in range(rows) for c in range(cols)]
    missing = {positions[i] for i in rng.choice(len(positions), size=min(n_missing, len(positions) - 1),
                                                 replace=False)}
    present = [p for p in positions if p not in missing]
    if labels is None:
        labels = [SCORES4[i % 4] for i in range(len(present))]
        labels = [labels[i] for i in rng.permutation(len(labels))]
    if len(labels) != len(present):
        raise ValueError(f"{len(present)} cores need {len(present)} labels, got {len(labels)}")
    glass_od = _glass(rng)
    pitch = int(diameter_px * 1.3)
    margin = int(diameter_px * 0.6)
    width, height = 2 * margin + (cols - 1) * pitch + diameter_px, 2 * margin + (rows - 1) * pitch + diameter_px
    mosaic = Mosaic(width, height, (255.0 * np.power(10.0, -glass_od)).astype(np.float32))
    records = []
    for i, ((r, c), label) in enumerate(zip(present, labels, strict=True)):
        if task:
            task.report(i / (len(present) + 1), f"core {grid_id(r, c)}")
        core_seed = int(np.random.SeedSequence([seed, 7002, i]).generate_state(1)[0])
        d = int(diameter_px * rng.uniform(0.93, 1.05))
        core = generate_core(label, core_seed, diameter_px=d, mpp=mpp, jpeg=False, glass_od=glass_od, truth_maps=True)
        cx = margin + c * pitch + diameter_px / 2 + rng.normal(0, 0.05) * diameter_px
        cy = margin + r * pitch + diameter_px / 2 + rng.normal(0, 0.05) * diameter_px
        x0, y0 = int(round(cx - core.image.shape[1] / 2)), int(round(cy - core.image.shape[0] / 2))
        mosaic.pieces.append(Placed(x0, y0, core.image, _alpha(core)))
        ys, xs = np.nonzero(core.maps["tissue"][::4, ::4])
        bbox = [x0 + int(xs.min()) * 4, y0 + int(ys.min()) * 4, int(xs.max() - xs.min() + 1) * 4,
                int(ys.max() - ys.min() + 1) * 4]
        records.append({"core_id": grid_id(r, c), "row": r, "col": c, "label": label,
                        "x": round(cx, 1), "y": round(cy, 1), "diameter_px": d, "bbox": bbox, "seed": core_seed,
                        "stats": core.stats})
    desc = {"generator": "her2viewer.synth", "generator_version": GENERATOR_VERSION, "kind": "tma", "mpp": mpp,
            "grid": [rows, cols], "missing": sorted(grid_id(r, c) for r, c in missing),
            "cores": [{k: rec[k] for k in ("core_id", "label", "bbox")} for rec in records]}
    if task:
        task.report(len(present) / (len(present) + 1), "writing slide")
    write_pyramidal_tiff(path, mosaic.render, size=(width, height), mpp=mpp, description=json.dumps(desc))
    log.info("wrote TMA %s (%dx%d, %d cores)", path, width, height, len(records))
    return records


def write_wsi(path: str | Path, *, label: str, seed: int, n_pieces: int = 3, piece_px: int = 3000,
              mpp: float = 0.5, task: Task | None = None, tries: int = 20) -> dict:
    """Write a whole slide with a few tissue pieces at one label; returns its record (label, stats, pieces)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 9001]))
    glass_od = _glass(rng)
    for attempt in range(tries):
        cores = []
        for i in range(n_pieces):
            if task:
                task.report(i / (n_pieces + 1), f"tissue piece {i + 1}")
            s = int(np.random.SeedSequence([seed, 9002, attempt, i]).generate_state(1)[0])
            cores.append((s, generate_core(label, s, diameter_px=int(piece_px * rng.uniform(0.8, 1.2)), mpp=mpp,
                                           shape="piece", jpeg=False, glass_od=glass_od, truth_maps=True)))
        inten = np.concatenate([c.cells.intensity for _, c in cores])
        comp = np.concatenate([c.cells.complete for _, c in cores])
        pct = cell_percentages(inten, comp)
        decision = asco_cap_score(pct)
        if decision.score == label:
            break
        log.debug("WSI pieces gave %s for %s, redrawing", decision.score, label)
    else:
        raise RuntimeError(f"could not draw whole-slide tissue pieces that score {label}")
    gap = int(piece_px * 0.15)
    width = gap + sum(c.image.shape[1] + gap for _, c in cores)
    height = max(c.image.shape[0] for _, c in cores) + 2 * gap
    mosaic = Mosaic(width, height, (255.0 * np.power(10.0, -glass_od)).astype(np.float32))
    x = gap
    pieces = []
    for s, c in cores:
        y = gap + int(rng.integers(0, height - 2 * gap - c.image.shape[0] + 1))
        mosaic.pieces.append(Placed(x, y, c.image, _alpha(c)))
        pieces.append({"x": x, "y": y, "w": c.image.shape[1], "h": c.image.shape[0], "seed": s})
        x += c.image.shape[1] + gap
    stats = dict(pct.as_dict())
    stats.update({"subclass": decision.subclass or "", "n_tumour_cells": int(inten.size),
                  "generator_version": GENERATOR_VERSION})
    desc = {"generator": "her2viewer.synth", "generator_version": GENERATOR_VERSION, "kind": "wsi", "mpp": mpp,
            "label": label, "pieces": pieces}
    if task:
        task.report(n_pieces / (n_pieces + 1), "writing slide")
    write_pyramidal_tiff(path, mosaic.render, size=(width, height), mpp=mpp, description=json.dumps(desc))
    return {"label": label, "stats": stats, "pieces": pieces, "size": (width, height)}
