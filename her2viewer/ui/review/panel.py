"""The review panel: accept or override the suggested score of a slide or TMA core, with the ISH result for
2+ (which sets the 3-way call) and a comment, saved with the reviewer's name and time in the project
database; the current review is shown apart from the suggestion, with its audit trail below."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from her2viewer.project import AuditEntry, ProjectDB, ProjectError, Review
from her2viewer.project.db import default_user
from her2viewer.project.review import ISH_RESULTS, three_way
from her2viewer.scoring.asco import SCORES4
from her2viewer.scoring.result import ScoreResult

from ..common.colors import score_color

log = logging.getLogger(__name__)

#: a review save that the database refuses is tried this many times, this far apart, before the window says so
SAVE_ATTEMPTS = 3
RETRY_WAIT_S = 0.3


def describe_entry(e: AuditEntry) -> str:
    """One line of the audit trail for people."""
    new, old = e.new or {}, e.old or {}
    when = e.time.replace("T", " ")[:16]
    if e.action == "clear":
        return f"{when}  {e.user}: cleared the review ({old.get('score')})"
    text = f"{when}  {e.user}: {new.get('score')} ({new.get('score3')})"
    if new.get("ish") and new.get("ish") != "not done":
        text += f", ISH {new['ish']}"
    if e.action == "change":
        changed = [f for f in e.changed_fields() if f not in ("time", "reviewer")]
        text += f"  [changed {', '.join(changed)}; was {old.get('score')}]" if changed else ""
    if new.get("comment"):
        text += f"  \u201c{new['comment']}\u201d"
    return text


class ReviewPanel(QWidget):
    """Review of one target (a slide, or one core of it) against a suggestion."""

    sigReviewSaved = Signal(object)   # Review
    sigError = Signal(str)
    sigDatabaseError = Signal(str)    # the database refused the save even after retrying: the window says so

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db: ProjectDB | None = None
        self.slide_path: str | None = None
        self.core_id: str | None = None
        self.suggestion: ScoreResult | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.target_label = QLabel("No slide")
        layout.addWidget(self.target_label)
        self.suggested_label = QLabel("Suggested: \u2014")
        self.suggested_label.setStyleSheet("QLabel { color: #505050; padding: 3px; border: 1px dashed #909090; }")
        layout.addWidget(self.suggested_label)
        self.reviewed_label = QLabel("Not reviewed")
        layout.addWidget(self.reviewed_label)
        for label in (self.target_label, self.suggested_label, self.reviewed_label):
            label.setWordWrap(True)
        self._add_review_form(layout)
        self._add_actions_and_history(layout)
        self.set_target(None, None)

    def _add_review_form(self, layout: QVBoxLayout) -> None:
        """The score buttons, ISH result, 3-way call, reviewer and comment."""
        buttons = QHBoxLayout()
        self.score_group = QButtonGroup(self)
        self.score_group.setExclusive(True)
        self.score_buttons: dict[str, QPushButton] = {}
        for i, s in enumerate(SCORES4):
            b = QPushButton(s)
            b.setCheckable(True)
            b.setMinimumHeight(30)
            c = score_color(s)
            b.setStyleSheet(f"QPushButton:checked {{ background: {c.name()}; font-weight: bold; }}")
            self.score_group.addButton(b, i)
            self.score_buttons[s] = b
            buttons.addWidget(b)
        self.score_group.idToggled.connect(lambda *_: self._update_form())
        layout.addLayout(buttons)
        form = QFormLayout()
        self.ish_combo = QComboBox()
        self.ish_combo.addItems(list(ISH_RESULTS[::-1]))   # not done, negative, positive
        self.ish_combo.currentIndexChanged.connect(lambda *_: self._update_form())
        form.addRow("ISH (for 2+):", self.ish_combo)
        self.score3_label = QLabel("")
        form.addRow("3-way call:", self.score3_label)
        self.reviewer_edit = QLineEdit(default_user())
        form.addRow("Reviewer:", self.reviewer_edit)
        layout.addLayout(form)
        self.comment_edit = QPlainTextEdit()
        self.comment_edit.setPlaceholderText("Comment (optional)")
        self.comment_edit.setMaximumHeight(60)
        layout.addWidget(self.comment_edit)

    def _add_actions_and_history(self, layout: QVBoxLayout) -> None:
        """Accept / Save, the message line and the audit history."""
        row = QHBoxLayout()
        self.accept_button = QPushButton("Accept suggestion")
        self.accept_button.clicked.connect(self.accept_suggestion)
        self.save_button = QPushButton("Save review")
        self.save_button.clicked.connect(self.save)
        row.addWidget(self.accept_button)
        row.addWidget(self.save_button)
        layout.addLayout(row)
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        layout.addWidget(self.message_label)
        layout.addWidget(QLabel("History:"))
        self.history_list = QListWidget()
        self.history_list.setMaximumHeight(110)
        layout.addWidget(self.history_list)

    # -- target ---------------------------------------------------------------------------------------
    def set_target(self, db: ProjectDB | None, slide_path: str | None, *, core_id: str | None = None,
                   suggestion: ScoreResult | None = None) -> None:
        """Review `slide_path` (or one core of it) in `db` against `suggestion`; None clears the panel."""
        self.db, self.slide_path, self.core_id, self.suggestion = db, slide_path, core_id, suggestion
        self.message_label.setText("")
        enabled = db is not None and bool(slide_path)
        for w in (*self.score_buttons.values(), self.ish_combo, self.comment_edit, self.save_button,
                  self.reviewer_edit):
            w.setEnabled(enabled)
        name = Path(slide_path).name if slide_path else "No slide"
        self.target_label.setText(f"<b>{name}</b>" + (f" \u2014 core <b>{core_id}</b>" if core_id else ""))
        sugg = self.suggested_score()
        self.accept_button.setEnabled(enabled and sugg is not None)
        if sugg is None and suggestion is not None and not suggestion.assessable:
            text = f"Suggested: none \u2014 {suggestion.method} found the image not assessable"
        elif sugg is None and suggestion is not None and suggestion.score3:
            # a 3-way model: its call is not a 4-way score, so nothing is pre-selected or accepted
            text = (f"Suggested (3-way only): {suggestion.score3} by {suggestion.method} \u2014 choose the "
                    "4-way score yourself")
        elif sugg is None:
            text = "Suggested: \u2014"
        else:
            text = f"Suggested: {sugg} by {suggestion.method} ({suggestion.model.name})"
        self.suggested_label.setText(text)
        self.refresh()

    def suggested_score(self) -> str | None:
        """The suggestion's 4-way score for the target (the core's when a core is reviewed)."""
        s = self.suggestion
        if s is None:
            return None
        if self.core_id is not None:
            return next((c.score for c in s.cores if c.id == self.core_id), None)
        if not s.assessable:
            return None   # nothing to pre-select or accept
        return s.score

    def refresh(self) -> None:
        """Reload the current review and history from the database into the form."""
        review = self._current()
        self.history_list.clear()
        if review is None:
            self.reviewed_label.setText("Not reviewed")
            self.reviewed_label.setStyleSheet("QLabel { color: #606060; padding: 4px; }")
            self._check(self.suggested_score())
            self.ish_combo.setCurrentText("not done")
            self.comment_edit.setPlainText("")
        else:
            c = score_color(review.score)
            self.reviewed_label.setText(f"<b>Reviewed: {review.score} ({review.score3})</b> by "
                                        f"{review.reviewer}, {review.time.replace('T', ' ')[:16]}"
                                        + (f", ISH {review.ish}" if review.ish != "not done" else ""))
            self.reviewed_label.setStyleSheet(f"QLabel {{ background: {c.lighter(160).name()}; padding: 4px; "
                                              f"border: 2px solid {c.name()}; }}")
            self._check(review.score)
            self.ish_combo.setCurrentText(review.ish)
            self.comment_edit.setPlainText(review.comment)
        if self.db is not None and self.slide_path:
            try:
                for e in self.db.history(self.slide_path, self.core_id):
                    self.history_list.addItem(describe_entry(e))
            except ProjectError as exc:
                self._error(str(exc))
        self._update_form()

    def _current(self) -> Review | None:
        if self.db is None or not self.slide_path:
            return None
        try:
            return self.db.current_review(self.slide_path, self.core_id)
        except ProjectError as exc:
            self._error(str(exc))
            return None

    def _check(self, score: str | None) -> None:
        self.score_group.setExclusive(False)
        for s, b in self.score_buttons.items():
            b.setChecked(s == score)
        self.score_group.setExclusive(True)

    # -- form -----------------------------------------------------------------------------------------------
    def chosen_score(self) -> str | None:
        """The 4-way score selected in the form."""
        i = self.score_group.checkedId()
        return SCORES4[i] if 0 <= i < len(SCORES4) else None

    def _update_form(self) -> None:
        score = self.chosen_score()
        self.ish_combo.setEnabled(self.db is not None and score == "2+")
        ish = self.ish_combo.currentText() if score == "2+" else "not done"
        self.score3_label.setText(three_way(score, ish) if score else "\u2014")

    def accept_suggestion(self) -> Review | None:
        """Save the suggested score as the review."""
        sugg = self.suggested_score()
        if sugg is None:
            return None
        self._check(sugg)
        self._update_form()
        return self.save()

    def save(self) -> Review | None:
        """Save the form as the review; errors are shown in the panel (and emitted), never raised."""
        score = self.chosen_score()
        if self.db is None or not self.slide_path:
            self._error("Open a slide before saving a review.")
            return None
        if score is None:
            self._error("Choose a score (0, 1+, 2+ or 3+) before saving.")
            return None
        ish = self.ish_combo.currentText() if score == "2+" else "not done"
        for attempt in range(SAVE_ATTEMPTS):   # a disk I/O or lock error is often transient: try again
            try:
                review = self.db.save_review(self.slide_path, score, ish=ish,
                                             comment=self.comment_edit.toPlainText().strip(),
                                             reviewer=self.reviewer_edit.text().strip() or None,
                                             core_id=self.core_id, suggestion=self.suggestion)
                break
            except ValueError as exc:
                self._error(f"The review was not saved: {exc}")
                return None
            except ProjectError as exc:
                if attempt + 1 < SAVE_ATTEMPTS:
                    log.info("saving the review failed (%s); trying again", exc)
                    time.sleep(RETRY_WAIT_S)
                    continue
                self._error(f"The review was not saved (tried {SAVE_ATTEMPTS} times): {exc}")
                self.sigDatabaseError.emit(f"The review of {self.slide_path} was not saved: {exc}")
                return None
        self.refresh()
        self.message_label.setStyleSheet("QLabel { color: #206020; }")
        self.message_label.setText(f"Saved to {self.db.path}")
        self.sigReviewSaved.emit(review)
        return review

    def _error(self, message: str) -> None:
        log.warning("%s", message)
        self.message_label.setStyleSheet("QLabel { color: #b00000; }")
        self.message_label.setText(message)
        self.sigError.emit(message)
