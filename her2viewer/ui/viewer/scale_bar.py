"""The scale bar: a round length in um / mm from the slide's mpp, and its drawing."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter

NICE_STEPS = (1.0, 2.0, 5.0)
NO_SCALE = "no scale (pixel size unknown)"
#: what the bar's label adds when the pixel size is not known for sure (by `mpp_source`)
SOURCE_SUFFIX = {"estimated": " (est.)", "assumed": " (assumed)"}


@dataclass(frozen=True)
class ScaleBar:
    """A bar `length_px` screen pixels long standing for `length_um` micrometres (None: no scale)."""

    length_px: float
    length_um: float | None
    label: str


def format_length(um: float) -> str:
    """A length as '500 um', '2 mm' or '0.5 um'."""
    if um >= 1000:
        mm = um / 1000.0
        return f"{mm:g} mm"
    return f"{um:g} \u00b5m"


def nice_length(max_um: float) -> float:
    """The largest 1-2-5 x 10^k micrometres not exceeding `max_um`."""
    import math

    exp = math.floor(math.log10(max_um))
    best = NICE_STEPS[0] * 10.0**exp
    for step in NICE_STEPS:
        if step * 10.0**exp <= max_um:
            best = step * 10.0**exp
    return best


def scale_bar_for(mpp: float | None, downsample: float, max_px: float = 160.0,
                  mpp_source: str | None = None) -> ScaleBar:
    """The scale bar for a view: the longest round length that fits in `max_px` screen pixels; the label
    says "(est.)" / "(assumed)" when the pixel size was estimated from the image or assumed."""
    if not mpp or mpp <= 0:
        return ScaleBar(0.0, None, NO_SCALE)
    um_per_screen_px = mpp * downsample
    length_um = nice_length(max_px * um_per_screen_px)
    label = format_length(length_um) + SOURCE_SUFFIX.get(mpp_source or "", "")
    return ScaleBar(length_um / um_per_screen_px, length_um, label)


def paint_scale_bar(painter: QPainter, bar: ScaleBar, x: float, bottom: float) -> None:
    """Draw the bar with its label above it on a light plate, lower-left corner at (x, bottom)."""
    painter.save()
    painter.resetTransform()
    font = QFont(painter.font())
    font.setPixelSize(12)
    painter.setFont(font)
    fm = painter.fontMetrics()
    text_w = fm.horizontalAdvance(bar.label)
    width = max(bar.length_px, text_w) + 12
    plate = QRectF(x, bottom - 34, width, 34)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(255, 255, 255, 210))
    painter.drawRoundedRect(plate, 4, 4)
    painter.setPen(QColor(20, 20, 20))
    painter.drawText(QRectF(x + 6, bottom - 32, width - 12, 16), Qt.AlignmentFlag.AlignLeft, bar.label)
    if bar.length_um is not None:
        painter.fillRect(QRectF(x + 6, bottom - 12, bar.length_px, 5), QColor(20, 20, 20))
    painter.restore()
