"""Evidence pictures for the report: the overview tinted by the result's heatmap, and 2-4 fields at high
magnification where the evidence is (the strongest membranes, the most tumour cells, the hottest heatmap
cells or the selected patches), with the detected cells coloured by membrane class and a scale bar."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..palette import MEMBRANE_COLORS, NON_TUMOUR_COLOR
from ..scoring.result import Heatmap, ScoreResult

FIELD_UM = 160.0        # side of an evidence field, um
FIELD_PX = 400          # its rendered side, px
MAX_FIELDS = 4


@dataclass(frozen=True)
class Field:
    """A level-0 box to show, and what it shows."""

    box: tuple[float, float, float, float]
    caption: str


def _rgb(hexcode: str) -> tuple[int, int, int]:
    return int(hexcode[1:3], 16), int(hexcode[3:5], 16), int(hexcode[5:7], 16)


def tint_with_heatmap(rgb: np.ndarray, heat: Heatmap, dims: tuple[int, int], alpha: float = 0.45) -> np.ndarray:
    """The thumbnail with the heatmap blended over the cells that have a value (NaN cells left clear)."""
    h, w = rgb.shape[:2]
    sx, sy = w / float(dims[0]), h / float(dims[1])
    vals = np.asarray(heat.values, np.float32)
    span = (heat.vmax - heat.vmin) or 1.0
    norm = np.clip((np.nan_to_num(vals, nan=heat.vmin) - heat.vmin) / span, 0, 1)
    colour = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    out = rgb[..., :3].astype(np.float32).copy()
    for r in range(vals.shape[0]):
        for c in range(vals.shape[1]):
            if not np.isfinite(vals[r, c]):
                continue
            x0 = int((heat.l0_origin[0] + c * heat.l0_cell_size) * sx)
            y0 = int((heat.l0_origin[1] + r * heat.l0_cell_size) * sy)
            x1 = int(math.ceil((heat.l0_origin[0] + (c + 1) * heat.l0_cell_size) * sx))
            y1 = int(math.ceil((heat.l0_origin[1] + (r + 1) * heat.l0_cell_size) * sy))
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
            if x1 > x0 and y1 > y0:
                a = alpha * min(1.0, norm[r, c] / 0.5 + 0.2)
                out[y0:y1, x0:x1] = (1 - a) * out[y0:y1, x0:x1] + a * colour[r, c]
    return out.clip(0, 255).astype(np.uint8)


def _densest(x: np.ndarray, y: np.ndarray, side: float) -> tuple[float, float, int] | None:
    """Centre (x, y) and count of the side x side window (on a half-overlapping grid) with the most points."""
    if len(x) == 0:
        return None
    step = side / 2.0
    gx, gy = np.floor(x / step).astype(np.int64), np.floor(y / step).astype(np.int64)
    keys, counts = np.unique(np.stack([gx, gy], 1), axis=0, return_counts=True)
    table = {(int(a), int(b)): int(n) for (a, b), n in zip(keys, counts, strict=True)}
    best, best_n = None, 0
    for a, b in table:
        n = sum(table.get((a + i, b + j), 0) for i in (0, 1) for j in (0, 1))
        if n > best_n:
            best, best_n = (a, b), n
    assert best is not None
    return (best[0] + 1) * step, (best[1] + 1) * step, best_n


def choose_fields(result: ScoreResult, dims: tuple[int, int], mpp: float | None) -> list[Field]:
    """Up to MAX_FIELDS places worth looking at, apart from each other, inside the image."""
    side = FIELD_UM / (mpp or 0.5)
    found: list[tuple[float, float, str]] = []
    cells = result.evidence.cells
    if cells is not None and len(cells):
        tum = np.ones(len(cells), bool) if cells.tumour is None else np.asarray(cells.tumour, bool)
        inten = np.asarray(cells.intensity, int)
        x, y = np.asarray(cells.x, float), np.asarray(cells.y, float)
        for cls, what in ((3, "strong"), (2, "weak-moderate"), (1, "faint"), (0, "unstained")):
            hit = _densest(x[tum & (inten == cls)], y[tum & (inten == cls)], side)
            if hit is not None and hit[2] >= 3:
                found.append((hit[0], hit[1], f"most {what} membranes ({hit[2]} cells)"))
        hit = _densest(x[tum], y[tum], side)
        if hit is not None:
            found.append((hit[0], hit[1], f"most tumour cells ({hit[2]})"))
    for heat in result.evidence.heatmaps[:1]:
        vals = np.asarray(heat.values, np.float32)
        order = np.argsort(np.nan_to_num(vals, nan=-np.inf).ravel())[::-1][:MAX_FIELDS]
        for i in order:
            r, c = divmod(int(i), vals.shape[1])
            if np.isfinite(vals[r, c]):
                found.append((heat.l0_origin[0] + (c + 0.5) * heat.l0_cell_size,
                              heat.l0_origin[1] + (r + 0.5) * heat.l0_cell_size,
                              f"high {heat.name.replace('_', ' ')} ({vals[r, c]:.2f})"))
    for b in result.evidence.patch_boxes:
        if b.kind == "full":
            found.append((b.bbox[0] + b.bbox[2] / 2, b.bbox[1] + b.bbox[3] / 2, f"sample #{b.sample} ({b.score})"))
    fields: list[Field] = []
    for cx, cy, caption in found:
        if any(abs(cx - (f.box[0] + side / 2)) < side and abs(cy - (f.box[1] + side / 2)) < side for f in fields):
            continue
        x0 = min(max(0.0, cx - side / 2), max(0.0, dims[0] - side))
        y0 = min(max(0.0, cy - side / 2), max(0.0, dims[1] - side))
        fields.append(Field((x0, y0, min(side, dims[0]), min(side, dims[1])), caption))
        if len(fields) == MAX_FIELDS:
            break
    return fields


def _read(source: Any, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    x, y, w, h = box
    read_scaled = getattr(source, "read_scaled", None)
    if read_scaled is not None:
        return np.asarray(read_scaled(box, (size, size)))[..., :3]
    ds = max(w, h) / size
    level = source.best_level_for_downsample(max(ds, 1.0))
    lds = source.level_downsamples[level]
    img = source.read_region(level, int(x), int(y), max(1, int(w / lds)), max(1, int(h / lds)))[..., :3]
    return cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=cv2.INTER_AREA)


def render_field(source: Any, field: Field, result: ScoreResult, mpp: float | None, size: int = FIELD_PX
                 ) -> np.ndarray:
    """The field as RGB with the detected cells (coloured by membrane class, grey when not tumour; a filled
    dot for a complete membrane) and a scale bar."""
    img = np.ascontiguousarray(_read(source, field.box, size), dtype=np.uint8)
    x0, y0, w, _h = field.box
    scale = size / w
    cells = result.evidence.cells
    if cells is not None and len(cells):
        x, y = (np.asarray(cells.x) - x0) * scale, (np.asarray(cells.y) - y0) * scale
        inside = np.flatnonzero((x >= 0) & (x < size) & (y >= 0) & (y < size))
        for i in inside:
            tumour = cells.tumour is None or bool(cells.tumour[i])
            colour = _rgb(MEMBRANE_COLORS[int(cells.intensity[i])] if tumour else NON_TUMOUR_COLOR)
            centre = (int(x[i]), int(y[i]))
            cv2.circle(img, centre, 5, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.circle(img, centre, 4, colour, -1 if bool(cells.complete[i]) else 2, cv2.LINE_AA)
    if mpp:
        bar_um = 50.0 if FIELD_UM >= 100 else 20.0
        bar_px = int(round(bar_um / mpp * scale))
        cv2.rectangle(img, (10, size - 28), (18 + bar_px, size - 6), (255, 255, 255), -1)
        cv2.line(img, (14, size - 11), (14 + bar_px, size - 11), (0, 0, 0), 3)
        cv2.putText(img, f"{bar_um:g} um", (14, size - 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return img
