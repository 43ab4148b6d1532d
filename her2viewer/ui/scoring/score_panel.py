"""The score panel: the call in large type, class probabilities, the histogram of per-sample scores with
the selected (top-k) ones highlighted (the PSS paper's Fig. 3), the membrane-class percentages against the
10% rule, the explanation, and for TMA slides a table of cores. Above it all, a banner tells what the input
checks found (`ScoreResult.qc`): amber for a warning, red when the image is not assessable (then "Not
assessable" stands where the score would, with no bars).

It shows what a `ScoreResult` carries and asks which scorer made it only to show PSS's N / k / seed (results
saved before the driver kept N / k to PSS hold them for every method, and every result holds the seed):
samples -> histogram (when there are several), cell percentages -> cell chart, cores -> table. Clicking a
core row shows that core in the panel and emits `sigCoreActivated(core)` so the window can move the view there.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from her2viewer.scoring.asco import SCORES3, SCORES4
from her2viewer.scoring.result import CoreResult, SampleRecord, ScoreResult

from ..common.colors import MEMBRANE_COLORS, SCORE_COLORS, score_color

#: cell-percentage keys of `ScoreResult.cells` shown in the cell chart: (key, label, membrane class)
CELL_BARS = (
    ("pct_none", "none", 0),
    ("pct_incomplete_faint", "faint\nincompl.", 1),
    ("pct_complete_faint", "faint\ncomplete", 1),
    ("pct_incomplete_weak_moderate", "weak-mod\nincompl.", 2),
    ("pct_complete_weak_moderate", "weak-mod\ncomplete", 2),
    ("pct_incomplete_strong", "strong\nincompl.", 3),
    ("pct_complete_strong", "strong\ncomplete", 3),
)
THRESHOLD_PCT = 10.0
UNSELECTED = "#b8b8b8"
NOT_ASSESSABLE = "Not assessable"
#: banner colours by qc status: (background, border, text)
QC_BANNER_COLORS = {"warning": ("#fff3cd", "#e0a800", "#5c4400"),
                    "not_assessable": ("#f8d7da", "#c00000", "#6b0000")}
MPP_SOURCE_WORDS = {"file": "from the file", "user": "set by you", "estimated": "estimated from the nuclei",
                    "assumed": "ASSUMED"}


#: what "confidence" means, everywhere it is shown (README: Confidence)
CONFIDENCE_TIP = ("Confidence: the probability the result gives its own call (rules: the share of bootstrap "
                  "resamples of cells and cut-offs that land on the call; networks: the softmax probability of "
                  "the call, temperature-scaled when the model card states a calibration).")


def qc_banner_html(qc: dict | None) -> str | None:
    """The banner's text for a result's input checks, or None when there is nothing to say (ok, no qc)."""
    if not isinstance(qc, dict) or qc.get("status") not in QC_BANNER_COLORS:
        return None
    status = qc["status"]
    if status == "not_assessable":
        title = "Not assessable: no HER2 score"
        if qc.get("forced"):
            title = "Not assessable (scored anyway, forced): treat the score with caution"
    else:
        title = "Check the input: scored with warnings"
    messages = [str(m) for m in (qc.get("messages") or []) if str(m).strip()]
    if not messages:
        messages = ["the input checks raised a problem but gave no detail"]
    items = "".join(f"<li>{html.escape(m)}</li>" for m in messages)
    return f"<b>{html.escape(title)}</b><ul style='margin: 2px 0 0 -20px;'>{items}</ul>"


def pixel_size_text(qc: dict | None) -> str:
    """'0.46 um/px (estimated from the nuclei +-17%)' from a result's qc, or '' when it does not say."""
    if not isinstance(qc, dict) or not isinstance(qc.get("mpp"), (int, float)):
        return ""
    kind = qc.get("mpp_source")
    text = f"{qc['mpp']:.3g} \u00b5m/px"
    if kind:
        text += f" ({MPP_SOURCE_WORDS.get(kind, kind)}"
        rel = qc.get("mpp_uncertainty")
        if kind == "estimated" and isinstance(rel, (int, float)):
            text += f" \u00b1{100 * rel:.0f}%"
        text += ")"
    return text


def sample_histogram(samples: list[SampleRecord]) -> tuple[np.ndarray, np.ndarray]:
    """(selected, not selected) counts per 4-way score (index = SCORES4 order)."""
    sel = np.zeros(len(SCORES4), int)
    other = np.zeros(len(SCORES4), int)
    for s in samples:
        if s.score in SCORES4:
            (sel if s.selected else other)[SCORES4.index(s.score)] += 1
    return sel, other


def _plot(title: str, height: int = 150) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setMinimumHeight(height)
    w.setMaximumHeight(height + 40)
    w.setMenuEnabled(False)
    w.setMouseEnabled(False, False)
    w.hideButtons()
    w.setTitle(title, color="#202020", size="9pt")
    for axis in ("left", "bottom"):
        w.getAxis(axis).setPen(pg.mkPen("#606060"))
        w.getAxis(axis).setTextPen(pg.mkPen("#303030"))
    return w


def _score_ticks(plot: pg.PlotWidget, classes: tuple[str, ...] = SCORES4) -> None:
    plot.getAxis("bottom").setTicks([[(i, s) for i, s in enumerate(classes)]])
    plot.setXRange(-0.6, len(classes) - 0.4, padding=0)


#: a 3-way model's classes drawn in the colours of the 4-way scores they cover
THREE_WAY_COLORS = {"0": "0", "Low": "1+", "High": "3+"}


class ScorePanel(QWidget):
    """Shows one `ScoreResult` (or one of its cores)."""

    sigCoreActivated = Signal(object)    # CoreResult
    sigSlideActivated = Signal()         # back to the whole slide
    sigForceRequested = Signal(str)      # method: score again although the input checks said not assessable

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: ScoreResult | None = None
        self.core: CoreResult | None = None
        self.reviewed: dict[str, str] = {}
        self.patients: dict[str, str] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        self._add_qc_rows(layout)
        self._add_call_rows(layout)
        self._add_plots(layout)
        self._add_cores_table(layout)
        self.set_result(None)

    def _add_qc_rows(self, layout: QVBoxLayout) -> None:
        """The input-check banner and the Score anyway button."""
        self.qc_banner = QLabel("")
        self.qc_banner.setWordWrap(True)
        self.qc_banner.setTextFormat(Qt.TextFormat.RichText)
        self.qc_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.qc_banner.setVisible(False)
        layout.addWidget(self.qc_banner)
        self.force_button = QPushButton("Score anyway (marked as forced)")
        self.force_button.setToolTip("Run the same method although the input checks found the image not "
                                     "assessable; the result keeps their warnings and says it was forced")
        self.force_button.clicked.connect(self._force)
        self.force_button.setVisible(False)
        layout.addWidget(self.force_button)

    def _add_call_rows(self, layout: QVBoxLayout) -> None:
        """The call in large type, the 3-way call, confidence, scope, model and explanation."""
        head = QHBoxLayout()
        self.call_label = QLabel("\u2014")
        big = QFont(self.font())
        big.setPixelSize(44)
        big.setBold(True)
        self._big_font = big
        self._na_font = QFont(big)
        self._na_font.setPixelSize(22)
        self.call_label.setFont(big)
        self.call_label.setMinimumWidth(90)
        self.call_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        head.addWidget(self.call_label)
        right = QVBoxLayout()
        self.call3_label = QLabel("")
        mid = QFont(self.font())
        mid.setPixelSize(20)
        mid.setBold(True)
        self.call3_label.setFont(mid)
        self.call3_label.setWordWrap(True)      # "2+ (equivocal: ISH required) ..." must not widen the dock
        self.confidence_label = QLabel("")
        self.scope_label = QLabel("")
        for w in (self.call3_label, self.confidence_label, self.scope_label):
            right.addWidget(w)
        head.addLayout(right, 1)
        layout.addLayout(head)
        self.model_label = QLabel("No result yet: choose a method and press Run.")
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.model_label)
        self.explanation_label = QLabel("")
        self.explanation_label.setWordWrap(True)
        self.explanation_label.setStyleSheet("QLabel { background: #f4f4f0; padding: 4px; }")
        layout.addWidget(self.explanation_label)

    def _add_plots(self, layout: QVBoxLayout) -> None:
        """Class probabilities, samples by score and tumour cells by membrane class."""
        self.prob_plot = _plot("Class probabilities", 95)
        _score_ticks(self.prob_plot)
        self.prob_plot.setYRange(0, 1, padding=0.05)
        self.prob_bars = pg.BarGraphItem(x=np.arange(4), height=np.zeros(4), width=0.7,
                                         brushes=[pg.mkBrush(SCORE_COLORS[s]) for s in SCORES4])
        self.prob_plot.addItem(self.prob_bars)
        layout.addWidget(self.prob_plot)

        self.hist_plot = _plot("Samples by predicted score (selected: coloured)", 125)
        _score_ticks(self.hist_plot)
        self.hist_selected = pg.BarGraphItem(x=np.arange(4), height=np.zeros(4), width=0.7,
                                             brushes=[pg.mkBrush(SCORE_COLORS[s]) for s in SCORES4],
                                             pens=[pg.mkPen("#202020", width=1.5)] * 4)
        self.hist_other = pg.BarGraphItem(x=np.arange(4), height=np.zeros(4), y0=np.zeros(4), width=0.7,
                                          brush=pg.mkBrush(UNSELECTED), pen=pg.mkPen("#808080"))
        self.hist_plot.addItem(self.hist_other)
        self.hist_plot.addItem(self.hist_selected)
        layout.addWidget(self.hist_plot)

        self.cell_plot = _plot("Tumour cells by membrane staining (%)", 135)
        self.cell_plot.getAxis("bottom").setTicks([[(i, lab) for i, (_, lab, _) in enumerate(CELL_BARS)]])
        self.cell_plot.getAxis("bottom").setStyle(tickFont=QFont(self.font().family(), 7))
        self.cell_plot.getAxis("bottom").setHeight(34)
        self.cell_bars = pg.BarGraphItem(x=np.arange(len(CELL_BARS)), height=np.zeros(len(CELL_BARS)), width=0.7,
                                         brushes=[pg.mkBrush(MEMBRANE_COLORS[c]) for _, _, c in CELL_BARS])
        self.cell_plot.addItem(self.cell_bars)
        self.threshold_line = pg.InfiniteLine(pos=THRESHOLD_PCT, angle=0,
                                              pen=pg.mkPen("#c00000", width=1.5, style=Qt.PenStyle.DashLine),
                                              label="10%", labelOpts={"position": 0.95, "color": "#c00000"})
        self.cell_plot.addItem(self.threshold_line)
        self.cell_plot.setXRange(-0.6, len(CELL_BARS) - 0.4, padding=0)
        layout.addWidget(self.cell_plot)

    def _add_cores_table(self, layout: QVBoxLayout) -> None:
        """The table of TMA cores and the filler that takes the free height without it."""
        self.cores_row = QHBoxLayout()
        self.cores_title = QLabel("TMA cores")
        self.slide_button = QPushButton("Show whole slide")
        self.slide_button.clicked.connect(self.show_slide)
        self.cores_row.addWidget(self.cores_title, 1)
        self.cores_row.addWidget(self.slide_button)
        layout.addLayout(self.cores_row)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Core", "Suggested", "Confidence", "Reviewed", "Patient"])
        self.table.setColumnHidden(4, True)   # shown when the slide has a TMA map
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.cellClicked.connect(self._on_row)
        self.table.setMinimumHeight(120)
        layout.addWidget(self.table, 1)
        # takes the free height when there is no table of cores (so the banner and the call keep theirs)
        self._filler = QWidget()
        self._filler.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        layout.addWidget(self._filler, 1)

    # -- showing ----------------------------------------------------------------------------------------
    def set_result(self, result: ScoreResult | None, *, from_cache: bool = False) -> None:
        """Show a result (None: clear); the whole slide is shown, not a core."""
        self.result = result
        self.core = None
        self.from_cache = from_cache
        self._fill_table()
        self._show()

    def show_slide(self) -> None:
        """Show the whole slide's result."""
        self.core = None
        self.table.clearSelection()
        self._show()
        self.sigSlideActivated.emit()

    def show_core(self, core_id: str) -> CoreResult | None:
        """Show one core of the result (its samples, probabilities and cells); returns it."""
        if self.result is None:
            return None
        core = next((c for c in self.result.cores if c.id == core_id), None)
        if core is None:
            return None
        self.core = core
        row = [c.id for c in self.result.cores].index(core_id)
        self.table.selectRow(row)
        self._show()
        return core

    def set_reviewed(self, reviewed: dict[str, str]) -> None:
        """Reviewed scores by core id, for the table's last column."""
        self.reviewed = dict(reviewed)
        self._fill_table()

    def _show_banner(self, qc: dict | None) -> None:
        text = qc_banner_html(qc)
        self.qc_banner.setVisible(text is not None)
        if text is None:
            self.qc_banner.setText("")
            return
        bg, border, fg = QC_BANNER_COLORS[qc["status"]]
        self.qc_banner.setText(text)
        self.qc_banner.setStyleSheet(f"QLabel {{ background: {bg}; color: {fg}; border: 2px solid {border}; "
                                     "border-radius: 4px; padding: 4px; }")

    def _force(self) -> None:
        if self.result is not None:
            self.sigForceRequested.emit(self.result.method)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit_labels()

    def _fit_labels(self) -> None:
        """Wrapped labels keep the height their text needs at the panel's width, and the call label the width
        of its text (a dock's layout would squash them otherwise)."""
        width = max(50, self.width() - 8)
        for lab in (self.qc_banner, self.explanation_label, self.model_label):
            # padding and border (up to 14 px across) narrow the text and add to its height; QLabel's
            # heightForWidth counts the minimum height set last time, so clear it first (it grew on each call)
            lab.setMinimumHeight(0)
            lab.setMinimumHeight(lab.heightForWidth(width - 16) + 16 if lab.isVisibleTo(self) and lab.text() else 0)
        fm = self.call_label.fontMetrics()
        self.call_label.setMinimumWidth(max(90, fm.horizontalAdvance(self.call_label.text()) + 28))
        self.call_label.setMinimumHeight(fm.height() + 12)
        self.layout().invalidate()
        self.layout().activate()

    def _show(self) -> None:
        self._show_result()
        r = self.result
        self.force_button.setVisible(r is not None and not r.assessable)
        self._fit_labels()

    def _show_result(self) -> None:
        r, core = self.result, self.core
        has = r is not None
        for w in (self.prob_plot, self.explanation_label):
            w.setVisible(has)
        self._show_banner(r.qc if r is not None else None)
        self.call_label.setFont(self._big_font)
        if r is None:
            self.call_label.setText("\u2014")
            self.call_label.setStyleSheet("")
            for lab in (self.call3_label, self.confidence_label, self.scope_label, self.explanation_label):
                lab.setText("")
            self.model_label.setText("No result yet: choose a method and press Run.")
            self.hist_plot.setVisible(False)
            self.cell_plot.setVisible(False)
            self._set_cores_visible(False)
            return
        score = core.score if core else r.score
        score3 = core.score3 if core else r.score3
        probs = core.probabilities if core else r.probabilities
        conf = core.confidence if core else r.confidence
        subclass = core.subclass if core else r.subclass
        samples = [s for s in r.samples if core is None or s.core_id == core.id]
        cells = core.cells if core else r.cells
        if cells is None and core is None and len(r.cores) == 1:
            cells = r.cores[0].cells
        probs = probs or {}
        self._show_provenance(r, core)
        if not r.assessable and not (score or score3):
            # no score: say so where the score would be, and show no bars
            self.call_label.setFont(self._na_font)
            self.call_label.setText(NOT_ASSESSABLE)
            self.call_label.setStyleSheet("QLabel { background: #e4e4e4; color: #6b0000; border-radius: 6px; "
                                          "padding: 4px 8px; }")
            self.call3_label.setText("")
            self.confidence_label.setText("")
            for w in (self.prob_plot, self.hist_plot, self.cell_plot):
                w.setVisible(False)
            self._set_cores_visible(bool(r.cores))
            return
        shown = score or score3 or "\u2014"
        color = score_color(score or THREE_WAY_COLORS.get(score3 or "", score3))
        self.call_label.setText(shown)
        fg = "#000000" if color.lightness() > 140 else "#ffffff"
        self.call_label.setStyleSheet(f"QLabel {{ background: {color.name()}; color: {fg}; border-radius: 6px; }}")
        if score == "2+" and r.ish_positive is None:
            # the 3-way call of a 2+ depends on ISH, which the software does not know
            self.call3_label.setText("2+ (equivocal: ISH required)<br><span style='font-size: 12px; "
                                     "font-weight: normal;'>3-way Low if ISH is negative, High if positive</span>")
        else:
            self.call3_label.setText("3-way: " + (score3 or "\u2014") + (f"   (HER2-{subclass})" if subclass else ""))
        self.confidence_label.setText("confidence: \u2014" if conf is None else f"confidence: {conf:.0%}")
        self.confidence_label.setToolTip(CONFIDENCE_TIP)
        self.prob_plot.setVisible(bool(probs))
        self._set_prob_bars(probs)
        self._show_histogram(samples)
        self._show_cells(cells)
        self._set_cores_visible(bool(r.cores))

    def _show_provenance(self, r: ScoreResult, core: CoreResult | None) -> None:
        """Where the shown score comes from: scope, method, model, parameters, time, pixel size, explanation."""
        where = f"core {core.id}" if core else ("whole slide" if r.cores else str(r.params.get("scope", "")))
        self.scope_label.setText(f"{where}" + ("   (cached result)" if self.from_cache else ""))
        model = r.model.name + (f" v{r.model.version}" if r.model.version else "")
        sha = f", sha256 {r.model.sha256[:10]}" if r.model.sha256 else ""
        # N / k / seed are PSS's sampling (older saved results of other methods hold N / k too)
        params = ", ".join(f"{k}={r.params[k]}" for k in ("N", "k", "seed") if k in r.params and r.method == "pss")
        mpp = pixel_size_text(r.qc)
        self.model_label.setText(f"<b>Method:</b> {r.method} &nbsp; <b>Model:</b> {model}{sha}"
                                 + (f"<br><b>Parameters:</b> {params}" if params else "")
                                 + f" &nbsp; <b>Time:</b> {r.elapsed_s:.1f} s"
                                 + (f"<br><b>Pixel size:</b> {html.escape(mpp)}" if mpp else ""))
        self.explanation_label.setText((core.explanation if core and core.explanation else r.explanation) or "")
        self.explanation_label.setVisible(bool(self.explanation_label.text()))

    def _set_prob_bars(self, probs: dict[str, float]) -> None:
        """Four bars for a 4-way result; three (0 / Low / High) for a 3-way model's."""
        classes = SCORES3 if set(probs) == set(SCORES3) else SCORES4
        colors = [SCORE_COLORS[THREE_WAY_COLORS.get(c, c)] for c in classes]
        self.prob_bars.setOpts(x=np.arange(len(classes)), height=np.array([float(probs.get(c, 0.0) or 0.0)
                                                                           for c in classes]),
                               brushes=[pg.mkBrush(c) for c in colors])
        _score_ticks(self.prob_plot, classes)

    def _show_histogram(self, samples: list[SampleRecord]) -> None:
        # one sample (the patch method's slide call) is no distribution to show
        self.hist_plot.setVisible(len(samples) > 1)
        if len(samples) <= 1:
            return
        sel, other = sample_histogram(samples)
        self.hist_selected.setOpts(height=sel)
        self.hist_other.setOpts(height=other, y0=sel)
        self.hist_plot.setYRange(0, max(1, int((sel + other).max())) * 1.1, padding=0)
        self.hist_plot.setTitle(f"{len(samples)} samples by score ({int(sel.sum())} most confident coloured)",
                                color="#202020", size="9pt")

    def _show_cells(self, cells: dict | None) -> None:
        shown = bool(cells) and any(k in cells for k, _, _ in CELL_BARS)
        self.cell_plot.setVisible(shown)
        if not shown:
            return
        heights = np.array([float(cells.get(k) or 0.0) for k, _, _ in CELL_BARS])
        self.cell_bars.setOpts(height=heights)
        self.cell_plot.setYRange(0, max(THRESHOLD_PCT * 1.5, float(heights.max()) * 1.1), padding=0)
        n = cells.get("n_tumour", cells.get("n"))
        title = "Tumour cells by membrane staining (%)" + (f", n = {int(n):,}" if n is not None else "")
        self.cell_plot.setTitle(title, color="#202020", size="9pt")

    def set_patients(self, patients: dict[str, str]) -> None:
        """Patient (or case) id by core id from the slide's TMA map; the Patient column shows when there are any."""
        self.patients = dict(patients)
        self.table.setColumnHidden(4, not self.patients)
        self._fill_table()

    def _set_cores_visible(self, visible: bool) -> None:
        for w in (self.cores_title, self.slide_button, self.table):
            w.setVisible(visible)
        self._filler.setVisible(not visible)

    def _fill_table(self) -> None:
        cores = self.result.cores if self.result is not None else []
        self.table.setRowCount(len(cores))
        for row, c in enumerate(cores):
            rev = self.reviewed.get(c.id, "")
            values = (c.id, c.score or c.score3 or "\u2014", "" if c.confidence is None else f"{c.confidence:.0%}",
                      rev, self.patients.get(c.id, ""))
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                if col == 1:
                    item.setBackground(score_color(c.score).lighter(150))
                if col == 3 and rev:
                    item.setBackground(QColor("#d8f0d0"))
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, col, item)
        self.cores_title.setText(f"TMA cores ({len(cores)})")

    def _on_row(self, row: int, _col: int) -> None:
        if self.result is None or not 0 <= row < len(self.result.cores):
            return
        core = self.show_core(self.result.cores[row].id)
        if core is not None:
            self.sigCoreActivated.emit(core)
