"""PNG line plots for the Monte Carlo study, drawn with PIL (no matplotlib): min-max band + median line."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

W, H = 900, 560
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 80, 30, 50, 70
BAND = (173, 204, 235)
LINE = (20, 80, 160)
EDGE = (120, 150, 190)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    span = max(hi - lo, 1e-9)
    step = 10 ** math.floor(math.log10(span / n))
    for m in (1, 2, 5, 10):
        if span / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def accuracy_plot_png(x: Sequence[int], acc_min: np.ndarray, acc_median: np.ndarray, acc_max: np.ndarray,
                      title: str, x_label: str, log_x: bool = False) -> bytes:
    """A PNG: accuracy (%) against x, band between min and max, median line, like the paper's Figs. 4-5."""
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    f_small, f_big = _font(14), _font(18)
    xs = np.log10(np.asarray(x, float)) if log_x else np.asarray(x, float)
    lo_y = max(0.0, math.floor(float(np.min(acc_min)) * 20) / 20)
    hi_y = min(1.0, math.ceil(float(np.max(acc_max)) * 20) / 20)
    if hi_y - lo_y < 0.05:
        lo_y, hi_y = max(0.0, lo_y - 0.05), min(1.0, hi_y + 0.05)
    x0, x1 = float(xs.min()), float(xs.max()) if xs.max() > xs.min() else float(xs.min()) + 1
    pw, ph = W - MARGIN_L - MARGIN_R, H - MARGIN_T - MARGIN_B

    def px(v: float) -> float:
        return MARGIN_L + (v - x0) / (x1 - x0) * pw

    def py(a: float) -> float:
        return MARGIN_T + (1 - (a - lo_y) / (hi_y - lo_y)) * ph

    for t in _nice_ticks(lo_y * 100, hi_y * 100):
        y = py(t / 100)
        d.line([(MARGIN_L, y), (W - MARGIN_R, y)], fill=(230, 230, 230))
        d.text((MARGIN_L - 8, y), f"{t:g}", fill="black", font=f_small, anchor="rm")
    ticks = [v for v in (1, 2, 5, 10, 20, 50, 100, 200) if x[0] <= v <= x[-1]] if log_x else \
        [v for v in _nice_ticks(float(x[0]), float(x[-1])) if v >= x[0]]
    for t in ticks:
        xv = px(math.log10(t) if log_x else t)
        d.line([(xv, H - MARGIN_B), (xv, H - MARGIN_B + 5)], fill="black")
        d.text((xv, H - MARGIN_B + 8), f"{t:g}", fill="black", font=f_small, anchor="mt")
    band = [(px(a), py(b)) for a, b in zip(xs, acc_max, strict=True)] + \
           [(px(a), py(b)) for a, b in zip(xs[::-1], acc_min[::-1], strict=True)]
    if len(band) >= 3:
        d.polygon(band, fill=BAND, outline=EDGE)
    pts = [(px(a), py(b)) for a, b in zip(xs, acc_median, strict=True)]
    if len(pts) > 1:
        d.line(pts, fill=LINE, width=3)
    for p in pts if len(pts) <= 30 else []:
        d.ellipse([p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3], fill=LINE)
    d.rectangle([MARGIN_L, MARGIN_T, W - MARGIN_R, H - MARGIN_B], outline="black")
    d.text((W / 2, 18), title, fill="black", font=f_big, anchor="mt")
    d.text((W / 2, H - 22), x_label + (" (log scale)" if log_x else ""), fill="black", font=f_small, anchor="mm")
    d.text((16, MARGIN_T + ph / 2), "accuracy %", fill="black", font=f_small, anchor="lm")
    d.rectangle([W - MARGIN_R - 250, MARGIN_T + 10, W - MARGIN_R - 10, MARGIN_T + 60], fill="white", outline="gray")
    d.rectangle([W - MARGIN_R - 240, MARGIN_T + 18, W - MARGIN_R - 215, MARGIN_T + 30], fill=BAND, outline=EDGE)
    d.text((W - MARGIN_R - 205, MARGIN_T + 24), "min - max over draws", fill="black", font=f_small, anchor="lm")
    d.line([(W - MARGIN_R - 240, MARGIN_T + 46), (W - MARGIN_R - 215, MARGIN_T + 46)], fill=LINE, width=3)
    d.text((W - MARGIN_R - 205, MARGIN_T + 46), "median", fill="black", font=f_small, anchor="lm")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
