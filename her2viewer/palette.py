"""The colours of HER2 scores, one definition for the viewer, the report and the snapshots (hex strings)."""

from __future__ import annotations

#: colours of the HER2 scores (boxes, badges, bars, report tables)
SCORE_COLORS = {"0": "#4a7bd0", "1+": "#e6c200", "2+": "#f07f10", "3+": "#d0202a"}
#: colours of the membrane intensity classes 0 none, 1 faint, 2 weak-moderate, 3 strong
MEMBRANE_COLORS = ("#3a66d8", "#f0d020", "#f08010", "#c8101a")
MEMBRANE_NAMES = ("none", "faint", "weak-moderate", "strong")
NON_TUMOUR_COLOR = "#9a9a9a"
