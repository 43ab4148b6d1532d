"""The colours of HER2 scores and membrane classes, shared by the overlays and the panels."""

from __future__ import annotations

from PySide6.QtGui import QColor

from her2viewer.palette import SCORE_COLORS  # noqa: F401 - one definition for viewer and report

#: colours of the membrane intensity classes 0 none, 1 faint, 2 weak-moderate, 3 strong
MEMBRANE_COLORS = ("#3a66d8", "#f0d020", "#f08010", "#c8101a")
MEMBRANE_NAMES = ("none", "faint", "weak-moderate", "strong")
NON_TUMOUR_COLOR = "#9a9a9a"
UNKNOWN_COLOR = "#808080"


def score_color(score: str | None) -> QColor:
    """The colour of a HER2 score (grey when unknown)."""
    return QColor(SCORE_COLORS.get(score or "", UNKNOWN_COLOR))
