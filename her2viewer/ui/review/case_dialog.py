"""Case details of a slide (case id, patient, specimen, block, antibody clone), stored with the slide in its
project database and printed in its report."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from her2viewer.project import ProjectDB, ProjectError
from her2viewer.project.report_reviews import read_case_fields, save_case_fields

LABELS = {"case_id": "Case / accession ID", "patient_id": "Patient ID", "specimen": "Specimen",
          "block": "Block", "antibody_clone": "Antibody clone"}


class CaseDialog(QDialog):
    """Edit the case fields of one slide; Save writes them to the project database."""

    def __init__(self, db: ProjectDB, slide_path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db, self.slide_path = db, slide_path
        self.setWindowTitle("Case details")
        self.edits: dict[str, QLineEdit] = {}
        form = QFormLayout()
        try:
            stored = read_case_fields(db, slide_path)
        except ProjectError as e:
            stored = {}
            self._problem = str(e)
        else:
            self._problem = ""
        for key, label in LABELS.items():
            edit = QLineEdit(stored.get(key, ""))
            edit.setMaxLength(200)
            self.edits[key] = edit
            form.addRow(label + ":", edit)
        self.edits["antibody_clone"].setPlaceholderText("e.g. 4B5, HercepTest")
        self.message = QLabel(self._problem)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("QLabel { color: #b00000; }")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"<b>{slide_path}</b>"))
        lay.addLayout(form)
        lay.addWidget(self.message)
        lay.addWidget(buttons)

    def values(self) -> dict[str, str]:
        """The fields as typed."""
        return {k: e.text() for k, e in self.edits.items()}

    def save(self) -> bool:
        """Store the fields; a database error is shown in the dialog (which stays open)."""
        try:
            save_case_fields(self.db, self.slide_path, self.values())
        except ProjectError as e:
            self.message.setText(f"The case details were not saved: {e}")
            return False
        self.accept()
        return True
