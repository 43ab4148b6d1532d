"""Vector charts for the PDF report (reportlab graphics): probabilities, per-sample histogram, cell bars."""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors

from ..palette import SCORE_COLORS as PALETTE
from ..scoring.asco import SCORES4
from .fonts import FONT, FONT_BOLD

#: the viewer's score colours (her2viewer.palette), as reportlab colours
SCORE_COLORS: dict[str, colors.Color] = {k: colors.HexColor(v) for k, v in PALETTE.items()}
GRID = colors.HexColor("#BBBBBB")
MUTED = colors.HexColor("#C8C8C8")


def probability_chart(probs: dict[str, float], highlight: str | None, width: float = 230,
                      height: float = 110, classes: Sequence[str] = SCORES4) -> Drawing:
    """Horizontal bars of the class probabilities (4-way, or a 3-way model's); the call in its colour."""
    d = Drawing(width, height)
    left, right, top, bottom = 34, 40, 8, 18
    bar_w = width - left - right
    row_h = (height - top - bottom) / len(classes)
    _x_axis(d, left, bottom, bar_w, [0, 0.25, 0.5, 0.75, 1.0], lambda v: f"{v:.0%}", height - top)
    three = {"0": "0", "Low": "1+", "High": "3+"}
    for i, s in enumerate(classes):
        y = height - top - (i + 1) * row_h + row_h * 0.2
        p = max(0.0, min(1.0, float(probs.get(s, 0.0))))
        fill = SCORE_COLORS[three.get(s, s)] if s == highlight else MUTED
        d.add(Rect(left, y, max(p * bar_w, 0.5), row_h * 0.6, fillColor=fill, strokeColor=None))
        d.add(String(left - 6, y + row_h * 0.15, s, fontName=FONT_BOLD if s == highlight else FONT,
                     fontSize=9, textAnchor="end"))
        d.add(String(left + p * bar_w + 4, y + row_h * 0.15, f"{p:.1%}", fontName=FONT, fontSize=8))
    return d


def sample_histogram(scores: Sequence[str], selected: Sequence[bool], width: float = 230,
                     height: float = 130, title: str = "samples") -> Drawing:
    """Counts of the samples' scores per class; selected samples stacked at the bottom in the class colour."""
    d = Drawing(width, height)
    left, right, top, bottom = 30, 8, 22, 18
    counts = {s: [0, 0] for s in SCORES4}  # [selected, other]
    for s, sel in zip(scores, selected, strict=False):
        if s in counts:
            counts[s][0 if sel else 1] += 1
    peak = max([sum(v) for v in counts.values()] + [1])
    step = _nice_step(peak)
    ymax = step * -(-peak // step)
    plot_h = height - top - bottom
    plot_w = width - left - right
    for t in range(0, int(ymax) + 1, int(step)):
        y = bottom + plot_h * t / ymax
        d.add(Line(left, y, left + plot_w, y, strokeColor=GRID, strokeWidth=0.3))
        d.add(String(left - 4, y - 3, str(t), fontName=FONT, fontSize=7, textAnchor="end"))
    slot = plot_w / len(SCORES4)
    for i, s in enumerate(SCORES4):
        x = left + i * slot + slot * 0.2
        n_sel, n_other = counts[s]
        h_sel = plot_h * n_sel / ymax
        h_other = plot_h * n_other / ymax
        if n_sel:
            d.add(Rect(x, bottom, slot * 0.6, h_sel, fillColor=SCORE_COLORS[s], strokeColor=colors.black,
                       strokeWidth=0.4))
        if n_other:
            d.add(Rect(x, bottom + h_sel, slot * 0.6, h_other, fillColor=MUTED, strokeColor=colors.grey,
                       strokeWidth=0.4))
        total = n_sel + n_other
        if total:
            d.add(String(x + slot * 0.3, bottom + h_sel + h_other + 2, str(total), fontName=FONT, fontSize=7,
                         textAnchor="middle"))
        d.add(String(x + slot * 0.3, bottom - 11, s, fontName=FONT, fontSize=9, textAnchor="middle"))
    # legend
    ly = height - 12
    d.add(Rect(left, ly, 8, 8, fillColor=colors.HexColor("#555555"), strokeColor=colors.black, strokeWidth=0.4))
    d.add(String(left + 11, ly + 1, "selected (class colour)", fontName=FONT, fontSize=7))
    d.add(Rect(left + 105, ly, 8, 8, fillColor=MUTED, strokeColor=colors.grey, strokeWidth=0.4))
    d.add(String(left + 116, ly + 1, f"other {title}", fontName=FONT, fontSize=7))
    return d


def threshold_bars(rows: Sequence[tuple[str, float]], threshold: float = 10.0, width: float = 460,
                   height: float | None = None, label_w: float = 190) -> Drawing:
    """Horizontal bars of percentages with a dashed vertical line at the threshold (ASCO/CAP 10%)."""
    row_h = 16
    top, bottom = 14, 18
    height = height or top + bottom + row_h * len(rows)
    d = Drawing(width, height)
    plot_w = width - label_w - 40
    vmax = max([threshold * 3] + [v for _, v in rows])
    vmax = min(100.0, _nice_step(vmax) * -(-vmax // _nice_step(vmax)))
    ticks = [t for t in range(0, int(vmax) + 1, int(_nice_step(vmax)))]
    _x_axis(d, label_w, bottom, plot_w, [t / vmax for t in ticks], None, height - top,
            labels=[f"{t}%" for t in ticks])
    for i, (label, v) in enumerate(rows):
        y = height - top - (i + 1) * row_h + 3
        over = v > threshold
        fill = colors.HexColor("#D9534F") if over else colors.HexColor("#8FA9C8")
        d.add(Rect(label_w, y, max(0.5, plot_w * min(v, vmax) / vmax), row_h - 6, fillColor=fill,
                   strokeColor=None))
        d.add(String(label_w - 6, y + 2, label, fontName=FONT, fontSize=8, textAnchor="end"))
        d.add(String(label_w + plot_w * min(v, vmax) / vmax + 4, y + 2, f"{v:.1f}%", fontName=FONT, fontSize=8))
    x_thr = label_w + plot_w * threshold / vmax
    d.add(Line(x_thr, bottom, x_thr, height - top + 4, strokeColor=colors.red, strokeWidth=1,
               strokeDashArray=[3, 2]))
    d.add(String(x_thr, height - top + 6, f"{threshold:g}% (ASCO/CAP)", fontName=FONT, fontSize=7,
                 fillColor=colors.red, textAnchor="middle"))
    return d


def _x_axis(d: Drawing, x0: float, y0: float, w: float, fracs: Sequence[float], fmt, y_top: float,
            labels: Sequence[str] | None = None) -> None:
    for j, f in enumerate(fracs):
        x = x0 + w * f
        d.add(Line(x, y0, x, y_top, strokeColor=GRID, strokeWidth=0.3))
        text = labels[j] if labels is not None else fmt(f)
        d.add(String(x, y0 - 10, text, fontName=FONT, fontSize=7, textAnchor="middle"))


def _nice_step(peak: float) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000):
        if peak / step <= 6:
            return step
    return int(peak // 5) or 1
