"""The colours of HER2 scores, one definition for the viewer, the report and the snapshots (hex strings)."""

from __future__ import annotations

#: colours of the HER2 scores (boxes, badges, bars, report tables)
SCORE_COLORS = {"0": "#4a7bd0", "1+": "#e6c200", "2+": "#f07f10", "3+": "#d0202a"}
