"""The PDF report of a scored slide (reportlab): case fields, thumbnail, suggested and reviewed score,
the input checks (stain, pixel size and where it came from, tissue, tumour cells, focus), probabilities, per-sample histogram, per-core table, ASCO/CAP cell percentages and the method.

Every page carries the research-use-only statement; all text is real (selectable) text.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.doctemplate import LayoutError

from .. import __version__
from ..atomic import atomic_write_bytes
from ..scoring.asco import SCORES3, SCORES4
from ..scoring.result import ScoreResult
from .charts import SCORE_COLORS, probability_chart, sample_histogram, threshold_bars
from .evidence import FIELD_UM, choose_fields, render_field, tint_with_heatmap
from .fonts import FONT, FONT_BOLD, FONT_MONO
from .model import CaseInfo, ReviewInfo
from .thumbnail import SlideThumbnail, result_overlays, scored_region

log = logging.getLogger(__name__)

RUO_STATEMENT = "Research use only \u2014 not for diagnostic use."
MARGIN = 40
PAGE_W, PAGE_H = A4
BODY_W = PAGE_W - 2 * MARGIN
METHOD_NAMES = {"pss": "Pyramid-Sampling Set CNN (PSS, k-confident selection)",
                "rules": "Rule-based ASCO/CAP cell scoring (colour deconvolution, membrane rings)",
                "mil": "Attention multiple-instance learning", "lowres": "Low-resolution whole-slide CNN",
                "patch": "Patch classifier with slide-level aggregation"}

_ST = {
    "title": ParagraphStyle("title", fontName=FONT_BOLD, fontSize=17, leading=21, spaceAfter=2),
    "h2": ParagraphStyle("h2", fontName=FONT_BOLD, fontSize=12, leading=15, spaceBefore=10, spaceAfter=4),
    "body": ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12),
    "small": ParagraphStyle("small", fontName=FONT, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#444444")),
    "cell": ParagraphStyle("cell", fontName=FONT, fontSize=8, leading=10),
    "label": ParagraphStyle("label", fontName=FONT_BOLD, fontSize=8, leading=10),
    "mono": ParagraphStyle("mono", fontName=FONT_MONO, fontSize=7.5, leading=9.5),
    "ruo": ParagraphStyle("ruo", fontName=FONT_BOLD, fontSize=9, leading=12, alignment=TA_CENTER,
                          textColor=colors.HexColor("#8B0000")),
    "big": ParagraphStyle("big", fontName=FONT_BOLD, fontSize=26, leading=30),
    "mid": ParagraphStyle("mid", fontName=FONT_BOLD, fontSize=13, leading=16),
}
_GRID = TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#BBBBBB")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2)])
_HEAD = colors.HexColor("#E8EDF3")


#: text cut to these lengths so no table row grows taller than a page (reportlab's LayoutError)
CELL_TEXT = 160
SHORT_TEXT = 600
LONG_TEXT = 6000
MAX_MESSAGES = 30


def clip(text: Any, limit: int = SHORT_TEXT) -> str:
    """`text` as a string of at most `limit` characters (an ellipsis marks a cut)."""
    s = str(text)
    return s if len(s) <= limit else s[: max(0, limit - 1)] + "\u2026"


def _p(text: Any, style: str = "body", limit: int = SHORT_TEXT) -> Paragraph:
    """A paragraph of plain (escaped) text, cut to `limit` characters."""
    return Paragraph(escape(clip(text, limit)), _ST[style])


def _table(rows: list[list[Any]], widths: Sequence[float], header: bool = True, style: str = "cell") -> Table:
    cells = [[c if not isinstance(c, (str, int, float)) else _p(c, "label" if header and i == 0 else style)
              for c in row] for i, row in enumerate(rows)]
    t = Table(cells, colWidths=list(widths), repeatRows=1 if header else 0, hAlign="LEFT")
    t.setStyle(_GRID)
    if header:
        t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), _HEAD)]))
    return t


# ---- sections ---------------------------------------------------------------------------------------

def _header_block(result: ScoreResult, case: CaseInfo, thumb: Any) -> list[Any]:
    case_rows = [[_p(k, "label", 40), _p(v, "cell", CELL_TEXT)] for k, v in case.rows()[:20]]
    case_t = Table(case_rows, colWidths=[78, 150], hAlign="LEFT")
    case_t.setStyle(_GRID)
    if thumb is None:
        right: Any = _p("No slide thumbnail: the slide could not be read.", "small")
    else:
        drawn = []
        if result.cores:
            drawn.append("TMA cores (labelled, coloured by score)")
        if any(b.kind != "whole" for b in result.evidence.patch_boxes):
            drawn.append("sampled patches (thin, coloured by their sample's score)")
        if not result.cores and scored_region(result) is not None:
            drawn.append("the scored region (dashed)")
        legend = ("Outlined: " + "; ".join(drawn) + ".") if drawn else "The whole slide was scored."
        right = [thumb, Spacer(1, 3), _p(legend, "small")]
    t = Table([[case_t, right]], colWidths=[238, BODY_W - 238])
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return [t]


def _score_html(score: str | None, score3: str | None) -> list[Paragraph]:
    if score is None and score3 is None:
        return [Paragraph('<font color="#8B0000">NOT ASSESSABLE</font>', _ST["mid"]),
                _p("No HER2 score is suggested: see Input checks.", "small")]
    col = SCORE_COLORS.get(score, colors.black).hexval().replace("0x", "#")
    big = f"HER2 {escape(score)}" if score is not None else f"HER2 {escape(score3 or '')} (3-way)"
    return [Paragraph(f'<font color="{col}">{big}</font>', _ST["big"]),
            Paragraph(f"3-way: {escape(score3 or '-')}", _ST["mid"])]


QC_STATUS_TEXT = {"ok": "passed", "warning": "passed with warnings", "not_assessable": "NOT ASSESSABLE"}
QC_STAIN_TEXT = {"dab_ihc": "HER2 DAB immunohistochemistry", "he": "H&E (not HER2 IHC)", "unknown": "not recognised"}


def _qc_block(result: ScoreResult) -> list[Any]:
    """The input checks: status, stain, pixel size and its source, tissue, tumour cells, focus, messages."""
    qc = result.qc
    if not isinstance(qc, dict):
        return [KeepTogether([_p("Input checks", "h2"),
                              _p("This result was made without input checks (an older result).", "small")])]
    mpp = qc.get("mpp")
    src = qc.get("mpp_source") or "-"
    unc = f" +-{100 * qc['mpp_uncertainty']:.0f}%" if qc.get("mpp_uncertainty") else ""
    rows = [["Check", "Result"],
            ["Status", QC_STATUS_TEXT.get(qc.get("status"), str(qc.get("status"))) + (" (forced)" if qc.get("forced") else "")],
            ["Stain", QC_STAIN_TEXT.get(qc.get("stain"), str(qc.get("stain")))],
            ["Pixel size", (f"{mpp:.4g} um/px, {src}{unc}" if mpp else "unknown")],
            ["Tissue", "-" if qc.get("tissue_fraction") is None else f"{qc['tissue_fraction']:.1%} of the image"]]
    if qc.get("tumour_cells") is not None:
        rows.append(["Tumour cells", f"{qc['tumour_cells']:,}"])
    if qc.get("focus") is not None:
        rows.append(["Focus (sharpness)", f"{qc['focus']:.2f}"])
    if qc.get("stain_vectors"):
        sv = qc["stain_vectors"]
        rows.append(["Stain vectors (OD)", "; ".join(f"{k} " + ", ".join(f"{v:.3f}" for v in vec)
                                                     for k, vec in sv.items())])
    out: list[Any] = [_p("Input checks", "h2"), _table(rows, [110, BODY_W - 110])]
    for m in list(qc.get("messages", []))[:MAX_MESSAGES]:
        out.append(_p("• " + str(m), "small"))
    return [KeepTogether(out)]


def multi_patient(result: ScoreResult, case: CaseInfo | None) -> bool:
    """Whether the result's cores come from more than one patient (then no slide-level call is reported)."""
    return bool(result.cores) and case is not None and len(case.patients) > 1


def _score_block(result: ScoreResult, review: ReviewInfo | None, case: CaseInfo | None = None,
                 core_reviews: dict[str, ReviewInfo] | None = None) -> list[Any]:
    left: list[Any] = [_p("Suggested score (software)", "label"), *_score_html(result.score, result.score3)]
    extra = []
    if result.subclass:
        extra.append(f"Sub-class: HER2-{result.subclass}")
    if result.confidence is not None:
        extra.append(f"Confidence: {result.confidence:.2f}")
    if result.score == "2+" and result.ish_positive is None:
        extra.append("2+ is equivocal: reflex ISH; 3-way Low assumes ISH negative.")
    left += [_p(e, "small") for e in extra]
    if multi_patient(result, case):
        # cores of different patients: a slide-level call would mix patients
        left = [_p("Suggested score (software)", "label"), Paragraph("Multi-patient TMA", _ST["mid"]),
                _p(f"The cores come from {len(case.patients)} patients: each core's suggested score is in the "
                   "per-core table; no slide-level score is given.", "small")]
    right: list[Any] = [_p("Reviewed score (pathologist)", "label")]
    if review is None and core_reviews and result.cores:
        n, total = sum(c.id in core_reviews for c in result.cores), len(result.cores)
        who = sorted({r.reviewer for r in core_reviews.values() if r.reviewer})
        right += [Paragraph(f"{n} of {total} cores reviewed", _ST["mid"]),
                  _p("Each core's reviewed score, reviewer and time are in the per-core table"
                     + (f" (reviewer: {', '.join(who)})." if who else "."), "small")]
        if n < total:
            right.append(_p(f"{total - n} cores have not been confirmed by a pathologist.", "small"))
    elif review is None:
        right += [Paragraph("Not reviewed", _ST["mid"]),
                  _p("The suggested score has not been confirmed by a pathologist.", "small")]
    else:
        right += _score_html(review.score, review.score3)
        ish = {True: "positive", False: "negative", None: "not given"}[review.ish_positive]
        comment = review.comment or "-"
        short = comment if len(comment) <= 300 else clip(comment, 280) + " (the full comment is below)"
        right += [_p(f"Reviewer: {review.reviewer or '-'}", "cell", CELL_TEXT),
                  _p(f"Time: {review.time or '-'}", "cell", 60), _p(f"ISH: {ish}", "cell"),
                  _p(f"Comment: {short}", "cell", 400)]
        if result.score is not None and review.score != result.score:
            right.append(_p(f"The reviewer changed the suggested score {result.score} to {review.score}.", "small"))
    t = Table([[left, right]], colWidths=[BODY_W / 2, BODY_W / 2])
    t.setStyle(TableStyle([("BOX", (0, 0), (0, 0), 0.8, colors.grey), ("BOX", (1, 0), (1, 0), 0.8, colors.grey),
                           ("VALIGN", (0, 0), (-1, -1), "TOP"), ("BACKGROUND", (0, 0), (0, 0), _HEAD)]))
    out: list[Any] = [Spacer(1, 8), t]
    if review is not None and len(review.comment or "") > 300:  # a paragraph flows across pages; a cell does not
        out += [Spacer(1, 4), Paragraph(f"<b>Reviewer comment:</b> {escape(clip(review.comment, LONG_TEXT))}",
                                        _ST["body"])]
    if result.explanation and not multi_patient(result, case):   # a slide-level reason mixes patients
        out += [Spacer(1, 4), Paragraph(f"<b>Why:</b> {escape(clip(result.explanation, LONG_TEXT))}", _ST["body"])]
    return out


def _probability_block(result: ScoreResult) -> list[Any]:
    if not result.probabilities:
        return []
    classes = SCORES3 if set(result.probabilities) == set(SCORES3) else SCORES4
    rows = [["Class", "Probability"]] + [[f"HER2 {s}", f"{result.probabilities.get(s, 0.0):.1%}"] for s in classes]
    t = Table([[_table(rows, [70, 70]),
                probability_chart(result.probabilities, result.score or result.score3, 300, 100, classes)]],
              colWidths=[160, BODY_W - 160])
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return [KeepTogether([_p("Class probabilities", "h2"), t])]


def _sample_block(result: ScoreResult) -> list[Any]:
    if not result.samples:
        return []
    n, k = len(result.samples), sum(s.selected for s in result.samples)
    what = "PSS" if result.method == "pss" else "sample"
    text = (f"{n} {what}s were scored; the {k} most confident (highlighted) form the selection set, and the "
            f"final score is the highest score among them." if result.method == "pss" else
            f"{n} samples were scored; {k} were selected for the final score.")
    if result.cores:
        text += " The histogram pools the samples of all cores."
    hist = sample_histogram([s.score for s in result.samples], [s.selected for s in result.samples], 260, 140,
                            f"{what}s")
    t = Table([[hist, _p(text)]], colWidths=[270, BODY_W - 270])
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return [KeepTogether([_p(f"Per-{what} predictions", "h2"), t])]


_CRITERIA = (  # label, keys summed, what exceeding the threshold means
    ("Complete, intense", ("pct_complete_strong",), "3+"),
    ("Complete, >= weak-to-moderate", ("pct_complete_strong", "pct_complete_weak_moderate"), "2+"),
    ("Incomplete, intense", ("pct_incomplete_strong",), "2+ (unusual pattern)"),
    ("Any membrane staining", ("pct_any_staining",), "1+"),
)
_PATTERNS = (("Complete, strong", "pct_complete_strong"), ("Complete, weak-moderate", "pct_complete_weak_moderate"),
             ("Complete, faint", "pct_complete_faint"), ("Incomplete, strong", "pct_incomplete_strong"),
             ("Incomplete, weak-moderate", "pct_incomplete_weak_moderate"),
             ("Incomplete, faint", "pct_incomplete_faint"), ("No staining", "pct_none"))


def _cells_block(cells: dict[str, Any] | None, threshold: float = 10.0) -> list[Any]:
    if not cells:
        return []
    crit = [(label, float(sum(float(cells.get(k) or 0.0) for k in keys)), means)
            for label, keys, means in _CRITERIA if all(k in cells for k in keys)]
    if not crit:
        return []
    n = cells.get("n_tumour", cells.get("n"))
    intro = f"{int(n):,} tumour cells. " if isinstance(n, (int, float)) else ""
    intro += (f"ASCO/CAP 2018/2023: each criterion is met when more than {threshold:g}% of tumour cells "
              "show the pattern; the rule is read from 3+ down and the first criterion met decides.")
    rows = [["Criterion", "Tumour cells", "Threshold", "Met", "Means"]]
    rows += [[label, f"{v:.1f}%", f"> {threshold:g}%", "yes" if v > threshold else "no", means]
             for label, v, means in crit]
    pat = [["Staining pattern", "% of tumour cells"]] + [[lab, f"{float(cells[k]):.1f}%"] for lab, k in _PATTERNS
                                                        if k in cells]
    out: list[Any] = [KeepTogether([_p("Cell percentages against the ASCO/CAP thresholds", "h2"), _p(intro),
                                    Spacer(1, 4), _table(rows, [150, 70, 60, 35, 150]), Spacer(1, 6),
                                    threshold_bars([(lab, v) for lab, v, _ in crit], threshold, BODY_W)])]
    if len(pat) > 1:
        extra = []
        if "h_score" in cells:
            extra.append(_p(f"Membrane H-score: {float(cells['h_score']):.0f} (0-300)", "cell"))
        out += [Spacer(1, 6), KeepTogether([_table(pat, [150, 110]), *extra])]
    return out


def _cores_block(result: ScoreResult, case: CaseInfo | None = None,
                 core_reviews: dict[str, ReviewInfo] | None = None) -> list[Any]:
    if not result.cores:
        return []
    patients = case.core_patients if case is not None else {}
    core_reviews = core_reviews or {}
    counts = {s: sum(c.score == s for c in result.cores) for s in SCORES4}
    summary = ", ".join(f"{v} x {s}" for s, v in counts.items() if v)
    rows = [["Core", "Patient", "Score", "3-way", "P(0)", "P(1+)", "P(2+)", "P(3+)", "Conf.", "Note"]]
    equivocal = False
    for c in result.cores:
        note = c.subclass and f"HER2-{c.subclass}" or ""
        if c.cells and isinstance(c.cells.get("n_tumour", c.cells.get("n")), (int, float)):
            note = (note + "; " if note else "") + f"{int(c.cells.get('n_tumour', c.cells.get('n'))):,} cells"
        score3 = c.score3
        if c.score == "2+":   # a core carries no ISH result: its 3-way call waits for one
            score3, equivocal = f"{c.score3}*", True
        rows.append([clip(c.id, 24), patients.get(c.id, "-"), c.score, score3]
                    + [f"{float(c.probabilities.get(s, 0.0)):.2f}" for s in SCORES4]
                    + ["-" if c.confidence is None else f"{c.confidence:.2f}", clip(note, 120)])
    widths = [36, 56, 40, 44, 40, 40, 40, 40, 40, BODY_W - 376]
    if not patients:   # no TMA map: no patient column
        rows = [r[:1] + r[2:] for r in rows]
        widths = [42, 38, 40, 40, 40, 40, 40, 40, BODY_W - 320]
    if core_reviews:   # suggested and reviewed side by side: the reviewed score, reviewer and time
        rows[0].insert(len(rows[0]) - 1, "Reviewed")
        for r, c in zip(rows[1:], result.cores, strict=True):
            rv = core_reviews.get(c.id)
            r.insert(len(r) - 1, rv.score if rv else "-")
            if rv:
                r[-1] = (r[-1] + "; " if r[-1] else "") + f"{rv.reviewer or 'reviewed'} {rv.time[:16]}".strip()
        widths = widths[:-1] + [58, widths[-1] - 58]
    t = _table(rows, widths)
    col = 2 if patients else 1
    style = [("BACKGROUND", (col, i), (col, i), SCORE_COLORS[r[col]].clone(alpha=0.35))
             for i, r in enumerate(rows) if i and r[col] in SCORE_COLORS]
    t.setStyle(TableStyle(style))
    top = max((c.score for c in result.cores), key=SCORES4.index)
    tail = " The slide score above is the highest core score." if top == result.score else ""
    if multi_patient(result, case):
        tail = f" The cores come from {len(case.patients)} patients (TMA map): read each patient's cores."
    out: list[Any] = [CondPageBreak(120), _p(f"TMA cores ({len(result.cores)})", "h2"),
                      _p(f"Per-core suggested scores: {summary}.{tail}"), Spacer(1, 4), t]
    if equivocal:
        out.append(_p("* IHC 2+ is equivocal: reflex ISH is required; the 3-way Low holds only if ISH is "
                      "negative (High if positive).", "small"))
    return out


def _where(result: ScoreResult, box: tuple[float, float, float, float], case: CaseInfo | None) -> str:
    """' in core A1 (patient P001)' for a field inside a TMA core; '' otherwise."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    for c in result.cores:
        x, y, w, h = c.bbox
        if x <= cx < x + w and y <= cy < y + h:
            patient = case.core_patients.get(c.id) if case is not None else None
            return f" in core {c.id}" + (f" (patient {patient})" if patient else "")
    return ""


def _evidence_block(result: ScoreResult, source: Any, case: CaseInfo | None = None) -> list[Any]:
    """2-4 fields at high magnification where the evidence is, cells coloured by membrane class, scale bar;
    in a TMA each caption names the core (and its patient)."""
    if source is None or not result.assessable:
        return []
    mpp = getattr(source, "mpp", None)
    try:
        fields = choose_fields(result, tuple(source.dimensions), mpp)
        pictures = [(render_field(source, f, result, mpp), f.caption + _where(result, f.box, case))
                    for f in fields]
    except Exception as e:  # noqa: BLE001 - a slide that cannot be read again only loses the pictures
        log.warning("no evidence pictures: %s", e)
        return []
    if not pictures:
        return []
    from PIL import Image as PILImage
    from reportlab.platypus import Image as RLImage

    side = (BODY_W - 12) / 2
    cells = []
    for rgb, caption in pictures:
        buf = io.BytesIO()
        PILImage.fromarray(rgb).save(buf, "PNG")
        buf.seek(0)
        cells.append([RLImage(buf, side, side), _p(caption, "small")])
    rows = [cells[i:i + 2] for i in range(0, len(cells), 2)]
    rows = [r + [""] * (2 - len(r)) for r in rows]
    t = Table(rows, colWidths=[side + 6, side + 6], hAlign="LEFT")
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    what = ("cells: red strong, orange weak-moderate, yellow faint, blue none, grey not tumour; a filled dot is a "
            "complete membrane" if result.evidence.cells is not None else "the areas the method weighed most")
    return [CondPageBreak(300), _p("Evidence at high magnification", "h2"),
            _p(f"Fields of {FIELD_UM:.0f} um where the evidence is ({what})."), Spacer(1, 3), t]


def _comparison_block(results: list[ScoreResult] | None) -> list[Any]:
    """The methods side by side (call, 3-way, probability of the call, input checks, time), when several ran."""
    if not results or len(results) < 2:
        return []
    done = [r for r in results if r.assessable]
    rows = [["Method", "Model", "Call", "3-way", "P(call)", "Input checks", "Time"]]
    for r in results:
        rows.append([r.method, (r.model.name or "")[:28], r.score or "-", r.score3 or "-",
                     "-" if r.confidence is None else f"{r.confidence:.0%}",
                     (r.qc or {}).get("status", "-") if r.assessable else "not assessable", f"{r.elapsed_s:.1f} s"])
    t = _table(rows, [52, 150, 40, 44, 48, 90, BODY_W - 424])
    style = [("BACKGROUND", (2, i), (2, i), SCORE_COLORS[row[2]].clone(alpha=0.35))
             for i, row in enumerate(rows) if i and row[2] in SCORE_COLORS]
    t.setStyle(TableStyle(style))
    calls4 = {r.score for r in done if r.score}
    calls3 = {r.score3 for r in done if r.score3}
    note = ("The methods disagree: read the evidence of each before accepting a score."
            if len(calls4) > 1 or len(calls3) > 1 else "The methods agree.")
    return [CondPageBreak(100), _p("Method comparison", "h2"), _p(note), Spacer(1, 4), t]


def _criteria_text(result: ScoreResult) -> str:
    """The scoring criteria the result was made under (breast unless it says otherwise)."""
    from ..scoring.gastric import CRITERIA_NAMES

    crit = str(result.params.get("criteria", "breast"))
    text = CRITERIA_NAMES.get(crit, crit)
    if crit == "gastric":
        text += f", {result.params.get('specimen', 'resection')}"
    return text


def _signoff_block(review: ReviewInfo | None, per_core: bool = False) -> list[Any]:
    """Who signs the report: the reviewer and date when reviewed, lines to fill in otherwise; `per_core`: the
    final scores are the reviewed core scores of the TMA table."""
    line = "_" * 28
    who = review.reviewer if review is not None and review.reviewer else line
    when = review.time[:10] if review is not None and review.time else line
    final = (f"HER2 {review.score} (3-way {review.score3})" if review is not None and not per_core
             else "per core: the Reviewed column of the TMA cores table" if per_core else line)
    rows = [[_p("Pathologist", "label"), _p(who, "cell"), _p("Date", "label"), _p(when, "cell")],
            [_p("Signature", "label"), _p("_" * 28, "cell"), _p("Final HER2 score", "label"),
             _p(final, "cell")]]
    t = Table(rows, colWidths=[70, BODY_W / 2 - 70, 80, BODY_W / 2 - 80], rowHeights=[None, 36], hAlign="LEFT")
    t.setStyle(_GRID)
    t.setStyle(TableStyle([("VALIGN", (0, 1), (-1, 1), "BOTTOM")]))
    note = ("The final scores are per core: each core's reviewed score in the TMA cores table; a core without "
            "one is not yet confirmed." if per_core else
            "I have reviewed the images and the software's suggestion; the final score above is mine."
            if review is not None else "Not yet reviewed: the final score is to be entered by the pathologist.")
    return [KeepTogether([_p("Sign-off", "h2"), _p(note, "small"), Spacer(1, 3), t])]


def _profile_text(profile: Any) -> str:
    """The rules' stain profile as the report names it: name and membrane cut-offs ("" for none)."""
    if not isinstance(profile, dict) or not profile.get("name"):
        return ""
    cuts = ", ".join(f"{k} {profile[k]:g}" for k in ("faint", "moderate", "strong", "complete", "positive_pct")
                     if isinstance(profile.get(k), (int, float)))
    return f"{profile['name']}, version {profile.get('version', '?')}: {cuts}" if cuts else str(profile["name"])


def _method_block(result: ScoreResult) -> list[Any]:
    m = result.model
    params = {k: v for k, v in result.params.items() if isinstance(v, (str, int, float, bool)) and k != "note"}
    param_text = ", ".join(f"{k}={v}" for k, v in list(params.items())[:16]) or "-"
    rows = [[_p("Method", "label"), _p(f"{result.method}: {METHOD_NAMES.get(result.method, '')}", "cell")],
            [_p("Model", "label"), _p(m.name, "cell", CELL_TEXT)],
            [_p("Model version", "label"), _p(m.version or "-", "cell", CELL_TEXT)],
            [_p("Model sha256", "label"), _p(m.sha256 or "none (no trained weights)", "mono")],
            [_p("Criteria", "label"), _p(_criteria_text(result), "cell")],
            [_p("Parameters", "label"), _p(param_text, "small")],
            [_p("Run time", "label"), _p(f"{result.elapsed_s:.1f} s", "cell")],
            [_p("Software", "label"), _p(f"HER2 Viewer {__version__}", "cell")]]
    profile = _profile_text(result.params.get("profile"))
    if profile:
        rows.insert(5, [_p("Stain profile", "label"), _p(profile, "cell", CELL_TEXT)])
    if result.params.get("note"):
        rows.append([_p("Note", "label"), _p(result.params["note"], "cell")])
    t = Table(rows, colWidths=[90, BODY_W - 90], hAlign="LEFT")
    t.setStyle(_GRID)
    return [KeepTogether([_p("Method and model", "h2"), t])]


# ---- document ---------------------------------------------------------------------------------------

def _canvas_class(slide_name: str) -> type[rl_canvas.Canvas]:
    """A canvas that stamps the header, the research-use statement and 'page N of M' on every page."""

    class _Canvas(rl_canvas.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            self.saveState()
            self.setFont(FONT, 7.5)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawString(MARGIN, PAGE_H - 26, f"HER2 Viewer report \u2014 {slide_name}"[:120])
            self.drawRightString(PAGE_W - MARGIN, PAGE_H - 26, f"page {self._pageNumber} of {total}")
            self.setStrokeColor(colors.HexColor("#BBBBBB"))
            self.line(MARGIN, PAGE_H - 30, PAGE_W - MARGIN, PAGE_H - 30)
            self.line(MARGIN, 34, PAGE_W - MARGIN, 34)
            self.setFont(FONT_BOLD, 8.5)
            self.setFillColor(colors.HexColor("#8B0000"))
            self.drawCentredString(PAGE_W / 2, 22, RUO_STATEMENT)
            self.restoreState()

    return _Canvas


def _subject(result: ScoreResult, case: CaseInfo) -> str:
    """The PDF's subject line: the call (none for a multi-patient TMA), the method, research use only."""
    call = ("multi-patient TMA, per-core scores" if multi_patient(result, case)
            else f"HER2 {result.score or result.score3 or 'not assessable'}")
    return f"{call} ({result.method}); {RUO_STATEMENT}"


def build_report(result: ScoreResult, *, source: Any = None, case: CaseInfo | None = None,
                 review: ReviewInfo | None = None, core_reviews: dict[str, ReviewInfo] | None = None,
                 comparison: list[ScoreResult] | None = None, thumbnail_px: int = 1024) -> bytes:
    """The report as PDF bytes; `source` (a SlideSource) gives the thumbnail and slide metadata; `review` is
    the slide's reviewed score, `core_reviews` each TMA core's, `comparison` the results of several methods."""
    from .model import case_from_source

    case = case or (case_from_source(source) if source is not None else CaseInfo())
    if not case.criteria:
        case.criteria = _criteria_text(result)
    if not case.slide_name:
        case.slide_name = Path(result.slide).name or result.slide
    case.slide_name = clip(case.slide_name, 120)
    thumb = None
    if source is not None:
        try:
            rgb = source.thumbnail(thumbnail_px)
            if result.evidence.heatmaps:   # the overview shows where the evidence is
                rgb = tint_with_heatmap(rgb, result.evidence.heatmaps[0], tuple(source.dimensions))
            thumb = SlideThumbnail(rgb, tuple(source.dimensions), result_overlays(result), BODY_W - 248, 300)
        except Exception as e:  # a broken slide must not stop the report
            log.warning("no thumbnail for %s: %s", case.slide_name, e)
    story: list[Any] = [_p("HER2 immunohistochemistry scoring report", "title"),
                        _p(f"Generated {datetime.now():%Y-%m-%d %H:%M} by HER2 Viewer {__version__}", "small"),
                        Spacer(1, 4)]
    ruo = Table([[_p(RUO_STATEMENT + " The suggested score is computed by software and must be reviewed by "
                     "a qualified pathologist.", "ruo")]], colWidths=[BODY_W])
    ruo.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.8, colors.HexColor("#8B0000")),
                             ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#FBEAEA"))]))
    story += [ruo, Spacer(1, 8)]
    story += _header_block(result, case, thumb)
    story += _score_block(result, review, case, core_reviews)
    story += _qc_block(result)
    if not multi_patient(result, case):   # pooled over cores of different patients they would mean nothing
        story += _probability_block(result)
        story += _sample_block(result)
        story += _cells_block(result.cells)
    story += _evidence_block(result, source, case)
    story += _cores_block(result, case, core_reviews)
    story += _comparison_block(comparison)
    story += _method_block(result)
    story += _signoff_block(review, per_core=bool(result.cores) and (multi_patient(result, case)
                                                                     or (review is None and bool(core_reviews))))
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=MARGIN + 6, title=f"HER2 report \u2014 {case.slide_name}",
                            author="HER2 Viewer", subject=_subject(result, case),
                            creator=f"HER2 Viewer {__version__}")
    try:
        doc.build(story, canvasmaker=_canvas_class(case.slide_name))
    except LayoutError as e:  # a safety net: the cuts above should keep every flowable inside a page
        raise ValueError(f"the report for {case.slide_name} cannot be laid out ({clip(e, 200)})") from e
    return buf.getvalue()


def write_report(path: str | Path, result: ScoreResult, **kwargs: Any) -> Path:
    """Build the report (see `build_report`) and write it atomically; returns the path."""
    p = Path(path)
    atomic_write_bytes(p, build_report(result, **kwargs))
    log.info("report written to %s", p)
    return p
