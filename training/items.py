"""Labelled items of a training set: read from a folder (labels.csv inside, or one sub-folder per class)
or from a CSV with columns path/file, label/score, patient_id, and optionally ish and region.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from her2viewer.project.cases import Case
from her2viewer.scoring.asco import SCORES3, SCORES4

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".svs", ".ndpi", ".mrxs", ".scn", ".bmp"}
_LABEL_ALIASES = {"1": "1+", "2": "2+", "3": "3+", "0+": "0", "low": "Low", "high": "High",
                  "negative": "0", "neg": "0"}


class DatasetError(ValueError):
    """A dataset file or folder cannot be used (message names the file and the problem)."""


#: one labelled case: an image / slide path, its label string, patient id, ISH and region (the viewer's
#: `her2viewer.project.cases.Case`, so a project's reviewed cases are training items as they are)
Item = Case


def normalize_label(raw: str) -> str:
    """'2', '2+', 'low', ... -> one of SCORES4 or SCORES3; raises ValueError otherwise."""
    s = str(raw).strip()
    s = _LABEL_ALIASES.get(s.lower(), s)
    if s in SCORES4 or s in SCORES3:
        return s
    raise ValueError(f"not a HER2 label: {raw!r} (use 0, 1+, 2+, 3+ or 0, Low, High)")


def _parse_ish(raw: str | None) -> bool | None:
    s = (raw or "").strip().lower()
    if s in ("", "na", "n/a", "none", "unknown"):
        return None
    if s in ("1", "true", "pos", "positive", "amplified", "yes", "+"):
        return True
    if s in ("0", "false", "neg", "negative", "not amplified", "no", "-"):
        return False
    raise ValueError(f"not an ISH result: {raw!r} (use positive / negative or empty)")


def _first(row: dict[str, str], *names: str) -> str | None:
    for n in names:
        if n in row and row[n] not in (None, ""):
            return row[n]
    return None


def read_csv_items(csv_path: Path) -> list[Item]:
    """Items of a CSV; relative paths are taken relative to the CSV's folder."""
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise DatasetError(f"cannot read the dataset file {csv_path}: {exc.strerror or exc}") from exc
    items = []
    for n, row in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        path = _first(row, "path", "file", "image", "slide")
        raw_label = _first(row, "label", "score", "her2")
        if path is None or raw_label is None:
            raise DatasetError(f"{csv_path} line {n}: needs a path (or file) and a label column")
        try:
            label = normalize_label(raw_label)
            ish = _parse_ish(_first(row, "ish", "ish_result"))
        except ValueError as exc:
            raise DatasetError(f"{csv_path} line {n}: {exc}") from exc
        p = Path(path)
        if not p.is_absolute():
            p = csv_path.parent / p
        patient = _first(row, "patient_id", "patient", "case") or p.stem
        items.append(Item(str(p), label, patient, ish, _first(row, "region", "core", "core_id") or ""))
    if not items:
        raise DatasetError(f"the dataset file {csv_path} lists no items")
    return items


def read_folder_items(folder: Path) -> list[Item]:
    """Items of a folder: its labels.csv, or one sub-folder per label (0, 1+, 2+, 3+ / Low, High)."""
    for name in ("labels.csv", "dataset.csv"):
        if (folder / name).is_file():
            return read_csv_items(folder / name)
    items = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            label = normalize_label(sub.name)
        except ValueError:
            continue
        for f in sorted(sub.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                items.append(Item(str(f), label, f.stem))
    if not items:
        raise DatasetError(f"the folder {folder} has no labels.csv and no class sub-folders (0, 1+, 2+, 3+)")
    return items


def read_items(path: str | Path) -> list[Item]:
    """Items of a dataset given as a folder or a CSV file; checks that the files exist."""
    p = Path(path)
    if p.is_dir():
        items = read_folder_items(p)
    elif p.is_file():
        items = read_csv_items(p)
    else:
        raise DatasetError(f"the dataset {p} does not exist")
    missing = [it.path for it in items if not Path(it.path).exists()]
    if missing:
        raise DatasetError(f"{len(missing)} file(s) listed in {p} do not exist, e.g. {missing[0]}")
    return items


def class_names(items: Sequence[Item]) -> tuple[str, ...]:
    """SCORES4 when every label is 4-way, SCORES3 when every label is 3-way; error when mixed."""
    labels = {it.label for it in items}
    if labels <= set(SCORES4):
        return SCORES4
    if labels <= set(SCORES3):
        return SCORES3
    raise DatasetError(f"labels mix the 4-way and 3-way schemes: {sorted(labels)}")


def label_indices(items: Sequence[Item], classes: Sequence[str]) -> list[int]:
    """Class index of each item's label."""
    return [list(classes).index(it.label) for it in items]


def class_counts(items: Sequence[Item], classes: Sequence[str]) -> dict[str, int]:
    """Number of items per class name (zeros included)."""
    c = Counter(it.label for it in items)
    return {name: int(c.get(name, 0)) for name in classes}


def map_labels(items: Sequence[Item], label_map: str = "") -> list[Item]:
    """Items with labels mapped: "" keeps them, "3way" maps 0/1+/2+/3+ to 0/Low/High (2+ is High only with
    positive ISH); 3-way labels pass through."""
    if not label_map:
        return list(items)
    if label_map != "3way":
        raise ValueError(f"unknown label map {label_map!r} (use 3way)")
    return in_scheme_of(items, SCORES3)


def in_scheme_of(items: Sequence[Item], classes: Sequence[str]) -> list[Item]:
    """Items with labels in the scheme of a model's classes: 4-way labels mapped to 0 / Low / High for a 3-way
    model (`Case.label_for`), otherwise as given."""
    from dataclasses import replace

    return [replace(it, label=it.label_for(classes)) for it in items]
