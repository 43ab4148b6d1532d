"""A lab's labelled cases for fine-tuning and calibration: a project's reviewed slides and TMA cores (the
reviewed score is the label), or a folder with labels.csv; and what they allow (`plan_cases`): the count per
class, the classes with no case, and the cross-validation (leave-one-patient-out when there are few
patients, else k-fold), or a sentence saying why nothing can be trained."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..scoring.asco import SCORES3, SCORES4, to_3way

MIN_CASES = 2
#: up to this many patients, every patient is its own fold (leave-one-out)
LOO_MAX = 12
DEFAULT_FOLDS = 5
_ALIASES = {"1": "1+", "2": "2+", "3": "3+"}


@dataclass(frozen=True)
class Case:
    """One labelled case: an image (and a TMA core of it), its label, patient and ISH result (also the training
    package's `Item`)."""

    path: str
    label: str
    patient_id: str
    ish: bool | None = None
    region: str = ""

    def label_for(self, classes: Sequence[str]) -> str:
        """The label in the scheme of `classes` (as given, or a 4-way label mapped to 0 / Low / High by ASCO/CAP)."""
        if tuple(classes) != tuple(SCORES3) or self.label in SCORES3:
            return self.label
        return to_3way(self.label, self.ish)


def reviewed_cases(project: Any) -> tuple[list[Case], list[str]]:
    """The project's reviewed slides and cores as cases, and a sentence per reviewed image left out."""
    cases, problems = [], []
    for entry in project.images():
        reviews = project.db.reviews_for_slide(entry.slide.path)
        if not reviews:
            continue
        if not Path(entry.slide.path).is_file():
            problems.append(f"{entry.slide.path}: the file is missing; left out")
            continue
        for r in reviews:
            patient = f"{entry.slide.path}#{r.core_id}" if r.core_id else entry.slide.path
            cases.append(Case(entry.slide.path, r.score, patient, r.ish_positive, r.core_id or ""))
    return cases, problems


def folder_cases(folder: str | Path) -> tuple[list[Case], list[str]]:
    """Cases of a folder's labels.csv (file,label[,patient_id]); OSError / ValueError when it cannot be read."""
    folder = Path(folder)
    path = folder / "labels.csv"
    cases, problems = [], []
    with open(path, newline="", encoding="utf-8") as fh:
        try:
            rows = list(csv.DictReader(fh))
        except csv.Error as e:
            raise ValueError(f"{path} is not a readable CSV: {e}") from e
    for n, row in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        f, lab = row.get("file") or row.get("path") or "", row.get("label") or row.get("score") or ""
        lab = _ALIASES.get(lab, lab)
        if lab not in SCORES4 or not f:
            problems.append(f"{path} line {n}: needs a file and a label 0, 1+, 2+ or 3+")
            continue
        p = Path(f) if Path(f).is_absolute() else folder / f
        if not p.is_file():
            problems.append(f"{p}: the file is missing; left out")
            continue
        cases.append(Case(str(p), lab, row.get("patient_id") or str(p)))
    return cases, problems


def write_cases_csv(cases: Sequence[Case], path: str | Path) -> Path:
    """The cases as a CSV that `training.items.read_items` reads."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "patient_id", "ish", "region"])
        for c in cases:
            w.writerow([c.path, c.label, c.patient_id,
                        "" if c.ish is None else ("positive" if c.ish else "negative"), c.region])
    return p


@dataclass
class CasePlan:
    """What the cases allow: counts per class, classes without a case, the CV scheme, or why not."""

    classes: tuple[str, ...]
    counts: dict[str, int]
    n_patients: int
    folds: int = 0
    scheme: str = ""
    missing: list[str] = field(default_factory=list)
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem

    def summary(self) -> str:
        """One paragraph: cases, counts, missing classes, and the evaluation or the problem."""
        counts = ", ".join(f"{k}: {v}" for k, v in self.counts.items())
        n = sum(self.counts.values())
        text = f"{n} case{'' if n == 1 else 's'} of {self.n_patients} patient{'' if self.n_patients == 1 else 's'}" \
               f" ({counts})."
        if self.missing:
            text += (f" No case of {', '.join(self.missing)}: the model cannot learn or be measured on "
                     f"{'that class' if len(self.missing) == 1 else 'those classes'}.")
        return text + (f" {self.problem}" if self.problem else f" Evaluation: {self.scheme}.")


def plan_cases(labels: Sequence[str], patients: Sequence[str], classes: Sequence[str],
               max_folds: int = DEFAULT_FOLDS, loo_max: int = LOO_MAX) -> CasePlan:
    """The cross-validation plan for cases with these labels (in the scheme of `classes`) and patients."""
    counts = {c: sum(1 for lab in labels if lab == c) for c in classes}
    missing = [c for c, n in counts.items() if n == 0]
    n_patients = len(set(patients))
    plan = CasePlan(tuple(classes), counts, n_patients, missing=missing)
    present = len(classes) - len(missing)
    n = len(labels)
    if n < MIN_CASES or present < 2:
        plan.problem = (f"Fine-tuning needs reviewed cases of at least 2 classes, at least {MIN_CASES} cases in "
                        f"all; there {'is' if n == 1 else 'are'} {n} case{'' if n == 1 else 's'} of {present} "
                        f"class{'' if present == 1 else 'es'}.")
    elif n_patients < 2:
        plan.problem = "Cross-validation needs cases of at least 2 patients; all cases belong to one patient."
    elif n_patients <= loo_max:
        plan.folds, plan.scheme = n_patients, f"leave-one-patient-out ({n_patients} folds)"
    else:
        plan.folds, plan.scheme = max_folds, f"{max_folds}-fold patient-wise cross-validation"
    return plan
