"""The colours of HER2 scores and membrane classes, shared by the overlays and the panels."""

from __future__ import annotations

from PySide6.QtGui import QColor

from her2viewer.palette import (  # noqa: F401 - one definition for viewer and report
    MEMBRANE_COLORS,
    MEMBRANE_NAMES,
    NON_TUMOUR_COLOR,
    SCORE_COLORS,
)

UNKNOWN_COLOR = "#808080"


def score_color(score: str | None) -> QColor:
    """The colour of a HER2 score (grey when unknown)."""
    return QColor(SCORE_COLORS.get(score or "", UNKNOWN_COLOR))
