"""The colours of HER2 scores and membrane classes, shared by the overlays and the panels."""

from __future__ import annotations

from PySide6.QtGui import QColor

#: colours of the HER2 scores (boxes, badges, bars)
SCORE_COLORS = {"0": "#4a7bd0", "1+": "#e6c200", "2+": "#f07f10", "3+": "#d0202a"}
#: colours of the membrane intensity classes 0 none, 1 faint, 2 weak-moderate, 3 strong
MEMBRANE_COLORS = ("#3a66d8", "#f0d020", "#f08010", "#c8101a")
MEMBRANE_NAMES = ("none", "faint", "weak-moderate", "strong")
NON_TUMOUR_COLOR = "#9a9a9a"
UNKNOWN_COLOR = "#808080"


def score_color(score: str | None) -> QColor:
    """The colour of a HER2 score (grey when unknown)."""
    return QColor(SCORE_COLORS.get(score or "", UNKNOWN_COLOR))
