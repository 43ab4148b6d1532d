"""The slide thumbnail of the report with the scored regions outlined in vector graphics."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from reportlab.lib import colors
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Flowable

from ..scoring.result import ScoreResult
from .charts import SCORE_COLORS
from .fonts import FONT_BOLD

MAX_PATCH_BOXES = 2000


@dataclass(frozen=True)
class Overlay:
    """A level-0 box drawn on the thumbnail."""

    bbox: tuple[float, float, float, float]
    color: colors.Color
    width: float = 1.0
    label: str = ""
    dash: tuple[float, ...] | None = None


def scored_region(result: ScoreResult) -> tuple[float, float, float, float] | None:
    """The level-0 box that was scored, when the result says (params, else the heatmap's extent)."""
    for key in ("region_bbox", "l0_bbox", "region"):
        v = result.params.get(key)
        if isinstance(v, (list, tuple)) and len(v) == 4 and all(isinstance(t, (int, float)) for t in v):
            return tuple(float(t) for t in v)  # type: ignore[return-value]
    for hm in result.evidence.heatmaps:
        rows, cols = np.asarray(hm.values).shape[:2]
        return (hm.l0_origin[0], hm.l0_origin[1], cols * hm.l0_cell_size, rows * hm.l0_cell_size)
    return None


def result_overlays(result: ScoreResult) -> list[Overlay]:
    """What to outline: sampled patches (thin), the scored region (dashed) and cores (coloured by score)."""
    out: list[Overlay] = []
    boxes = [b for b in result.evidence.patch_boxes if b.kind != "whole"][:MAX_PATCH_BOXES]
    for b in boxes:
        out.append(Overlay(tuple(map(float, b.bbox)), SCORE_COLORS.get(b.score, colors.black), 0.3))
    if not result.cores:
        region = scored_region(result)
        if region is not None:
            out.append(Overlay(region, colors.HexColor("#0050C8"), 1.2, "scored region", (4, 2)))
    for c in result.cores:
        out.append(Overlay(tuple(map(float, c.bbox)), SCORE_COLORS.get(c.score, colors.black), 1.2,
                           f"{c.id} {c.score}"))
    return out


class SlideThumbnail(Flowable):
    """An RGB thumbnail scaled to fit max_w x max_h points, with level-0 overlays drawn on top."""

    def __init__(self, rgb: np.ndarray, l0_dims: tuple[int, int], overlays: list[Overlay], max_w: float,
                 max_h: float) -> None:
        super().__init__()
        h_px, w_px = rgb.shape[:2]
        s = min(max_w / w_px, max_h / h_px)
        self.width, self.height = w_px * s, h_px * s
        self._scale = self.width / float(l0_dims[0])  # points per level-0 pixel
        self._l0_dims = (float(l0_dims[0]), float(l0_dims[1]))
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)).save(buf, "JPEG", quality=88)
        self._jpeg = buf.getvalue()
        self.overlays = overlays

    def wrap(self, avail_w: float, avail_h: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        c = self.canv
        c.drawImage(ImageReader(io.BytesIO(self._jpeg)), 0, 0, self.width, self.height)
        c.setStrokeColor(colors.grey)
        c.setLineWidth(0.5)
        c.rect(0, 0, self.width, self.height, fill=0)
        s = self._scale
        c.saveState()
        clip = c.beginPath()
        clip.rect(0, 0, self.width, self.height)
        c.clipPath(clip, stroke=0, fill=0)
        for ov in self.overlays:
            x, y, w, h = _clamp(ov.bbox, self._l0_dims)
            if w <= 0 or h <= 0:
                continue
            px, pw, ph = x * s, max(w * s, 0.5), max(h * s, 0.5)
            py = self.height - (y + h) * s
            c.setStrokeColor(ov.color)
            c.setLineWidth(ov.width)
            if ov.dash:
                c.setDash(list(ov.dash))
            c.rect(px, py, pw, ph, fill=0)
            c.setDash()
            if ov.label:
                fs = max(4.0, min(8.0, pw / 5.0))
                c.setFillColor(colors.white)
                c.rect(px + 0.5, py + ph - fs - 1.5, c.stringWidth(ov.label, FONT_BOLD, fs) + 2, fs + 1,
                       fill=1, stroke=0)
                c.setFillColor(colors.black)
                c.setFont(FONT_BOLD, fs)
                c.drawString(px + 1.5, py + ph - fs - 0.5, ov.label)
        c.restoreState()


def _clamp(bbox: tuple[float, float, float, float], dims: tuple[float, float]) -> tuple[float, float, float, float]:
    """A level-0 box cut to the slide (width or height <= 0 when it lies outside)."""
    x0, y0 = max(0.0, bbox[0]), max(0.0, bbox[1])
    x1, y1 = min(dims[0], bbox[0] + bbox[2]), min(dims[1], bbox[1] + bbox[3])
    return x0, y0, x1 - x0, y1 - y0
