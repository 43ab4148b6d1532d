"""Patch labels from annotations (the IPD-Breast patch pipeline): cut a slide into a grid of patches at a
given mpp and label each patch from the annotations it overlaps.

The labelling rule, for a patch P and each class C (the union of C's polygonal annotations, so two
overlapping annotations of one class are not counted twice; points and lines have no area and are ignored):

1. overlap(C) = area(P intersect C) / area(P).
2. If overlap("Ignore") >= the threshold (default 5%), the patch is excluded (not written).
3. Otherwise the candidates are the classes with overlap >= the threshold; none -> the patch is
   unlabelled (written only with `include_unlabelled`, label "").
4. The candidate with the largest overlap wins; ties (within 1e-9) go to the higher priority:
   HER2 3+ > 2+ > 1+ > 0 > Tumour > Stroma > any other class in alphabetical order.

In the CSV, HER2 classes are written as their score ("HER2 2+" -> "2+") so the training module reads the
file as a patch data set; other classes keep their names.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import shapely
from shapely.geometry import box
from shapely.strtree import STRtree

from ..atomic import atomic_write_text
from ..csvio import csv_text
from ..progress import Task
from ..slide.base import SlideSource
from ..slide.region import RegionMask
from .model import IGNORE_CLASS, Annotation

log = logging.getLogger(__name__)

CSV_COLUMNS = ("path", "label", "patient_id", "slide", "x", "y", "size", "mpp", "overlap")
DEFAULT_PRIORITY: tuple[str, ...] = ("HER2 3+", "HER2 2+", "HER2 1+", "HER2 0", "Tumour", "Stroma")
_TIE = 1e-9


@dataclass(frozen=True)
class LabelRule:
    """How a patch gets its label from overlapping annotations (see the module docstring)."""

    min_overlap: float = 0.05
    ignore_class: str = IGNORE_CLASS
    priority: tuple[str, ...] = DEFAULT_PRIORITY

    def rank(self, cls: str) -> tuple[int, str]:
        """Sort key: lower is preferred on a tie."""
        return (self.priority.index(cls), "") if cls in self.priority else (len(self.priority), cls)


@dataclass(frozen=True)
class PatchLabel:
    """The decision for one patch: label (None: unlabelled), its overlap fraction, exclusion, all fractions."""

    label: str | None
    overlap: float
    excluded: bool
    fractions: dict[str, float] = field(default_factory=dict)


def decide_label(fractions: dict[str, float], rule: LabelRule) -> PatchLabel:
    """Apply the labelling rule to per-class overlap fractions of one patch."""
    if fractions.get(rule.ignore_class, 0.0) >= rule.min_overlap:
        return PatchLabel(None, fractions[rule.ignore_class], True, fractions)
    cands = [(f, c) for c, f in fractions.items() if c != rule.ignore_class and f >= rule.min_overlap]
    if not cands:
        return PatchLabel(None, max(fractions.values(), default=0.0), False, fractions)
    best = max(f for f, _ in cands)
    winner = min((c for f, c in cands if f >= best - _TIE), key=rule.rank)
    return PatchLabel(winner, fractions[winner], False, fractions)


class PatchLabeler:
    """Labels level-0 boxes from a list of annotations, using an STRtree of the polygonal ones."""

    def __init__(self, annotations: Iterable[Annotation], rule: LabelRule | None = None) -> None:
        self.rule = rule or LabelRule()
        self.annotations = [a for a in annotations
                            if a.cls is not None and a.geometry.area > 0 and not a.geometry.is_empty]
        self._tree = STRtree([a.geometry for a in self.annotations])

    def fractions(self, l0_x: float, l0_y: float, l0_size: float) -> dict[str, float]:
        """Per-class overlap fraction of the square patch at (l0_x, l0_y) with side l0_size."""
        patch = box(l0_x, l0_y, l0_x + l0_size, l0_y + l0_size)
        by_class: dict[str, list[int]] = {}
        for i in self._tree.query(patch, predicate="intersects"):
            by_class.setdefault(self.annotations[int(i)].cls, []).append(int(i))
        out: dict[str, float] = {}
        for cls, idx in by_class.items():
            parts = [self.annotations[i].geometry for i in idx]
            geom = parts[0] if len(parts) == 1 else shapely.union_all(parts)
            out[cls] = float(geom.intersection(patch).area) / patch.area
        return out

    def label(self, l0_x: float, l0_y: float, l0_size: float) -> PatchLabel:
        """The rule's decision for one patch."""
        return decide_label(self.fractions(l0_x, l0_y, l0_size), self.rule)

    def bounds(self) -> tuple[float, float, float, float] | None:
        """Level-0 (minx, miny, maxx, maxy) of all labelling annotations, or None when there are none."""
        if not self.annotations:
            return None
        return tuple(shapely.total_bounds([a.geometry for a in self.annotations]))  # type: ignore[return-value]


@dataclass(frozen=True)
class PatchPlan:
    """A patch to cut: level-0 top-left, level-0 side, label and overlap."""

    l0_x: int
    l0_y: int
    l0_size: float
    label: str | None
    overlap: float


def csv_label(cls: str | None) -> str:
    """The label written to the CSV: "HER2 2+" -> "2+", other classes unchanged, None -> ""."""
    if cls is None:
        return ""
    m = re.fullmatch(r"HER2\s*(0|1\+|2\+|3\+)", cls.strip(), flags=re.IGNORECASE)
    return m.group(1) if m else cls


def plan_patches(dimensions: tuple[int, int], labeler: PatchLabeler, *, l0_size: float,
                 l0_stride: float | None = None, tissue: RegionMask | None = None, min_tissue: float = 0.5,
                 include_unlabelled: bool = False) -> list[PatchPlan]:
    """The grid cells to cut (row-major), with their labels; excluded and (by default) unlabelled left out."""
    if l0_size <= 0:
        raise ValueError("the patch size must be positive")
    stride = float(l0_stride or l0_size)
    W, H = dimensions
    cols, rows = int((W - l0_size) // stride) + 1, int((H - l0_size) // stride) + 1
    if W < l0_size or H < l0_size:
        return []
    c_lo, r_lo, c_hi, r_hi = 0, 0, cols - 1, rows - 1
    if not include_unlabelled:
        b = labeler.bounds()
        if b is None:
            return []
        c_lo, r_lo = max(0, int((b[0] - l0_size) // stride)), max(0, int((b[1] - l0_size) // stride))
        c_hi, r_hi = min(cols - 1, int(b[2] // stride)), min(rows - 1, int(b[3] // stride))
    plans = []
    for r in range(r_lo, r_hi + 1):
        for c in range(c_lo, c_hi + 1):
            x, y = int(round(c * stride)), int(round(r * stride))
            if tissue is not None and tissue.fraction_in(x, y, l0_size, l0_size) < min_tissue:
                continue
            d = labeler.label(x, y, l0_size)
            if d.excluded or (d.label is None and not include_unlabelled):
                continue
            plans.append(PatchPlan(x, y, l0_size, d.label, round(d.overlap, 4)))
    return plans


def read_patch(source: SlideSource, l0_x: int, l0_y: int, l0_size: float, size: int) -> np.ndarray:
    """A size x size RGB patch covering the level-0 square, read from the best pyramid level."""
    ds = l0_size / float(size)
    level = source.best_level_for_downsample(max(ds, 1.0))
    lvl_ds = source.level_downsamples[level]
    lvl_side = max(1, int(round(l0_size / lvl_ds)))
    img = source.read_region(level, l0_x, l0_y, lvl_side, lvl_side)
    if img.shape[:2] != (size, size):
        interp = cv2.INTER_AREA if lvl_side > size else cv2.INTER_LINEAR
        img = cv2.resize(img, (size, size), interpolation=interp)
    return img


def _safe(name: str, empty: str = "unlabelled") -> str:
    return re.sub(r"[^A-Za-z0-9+._-]+", "_", name).strip("._")[:80] or empty


def slide_folder(slide_path: str | Path, slide_name: str) -> str:
    """`<sanitised name>-<8 hex of the resolved path>`: slides whose names sanitise alike (`标本.svs`,
    `切片.svs`) or that share a name in two folders never share a patch folder."""
    try:
        key = str(Path(slide_path).expanduser().resolve())
    except (OSError, RuntimeError):
        key = str(slide_path)
    digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{_safe(slide_name, 'slide')}-{digest}"


@dataclass
class PatchExport:
    """What `export_patches` wrote: the CSV and its rows, counts per label."""

    csv_path: Path
    rows: list[dict[str, str]]
    counts: dict[str, int]


def export_patches(source: SlideSource, annotations: Sequence[Annotation], out_dir: str | Path, *,
                   size: int = 224, mpp: float = 0.5, slide_mpp: float | None = None,
                   rule: LabelRule | None = None, tissue: RegionMask | None = None, min_tissue: float = 0.5,
                   include_unlabelled: bool = False, slide_name: str | None = None,
                   patient_id: str | None = None, csv_name: str = "labels.csv", append: bool = False,
                   task: Task | None = None) -> PatchExport:
    """Cut labelled patches of `source` into out_dir/<slide>/<label>/ and write out_dir/<csv_name>.

    CSV paths are relative to out_dir. With `append`, rows of other slides already in the CSV are kept
    (rows of this slide are replaced). The slide's pixel size is `slide_mpp`, else the one every scorer uses
    (`her2viewer.qc.resolve_pixel_size`: the file's, else estimated from the nuclei, else assumed).
    """
    if slide_mpp is not None:
        src_mpp = float(slide_mpp)
    else:
        from ..qc.pixel_size import resolve_pixel_size

        src_mpp = resolve_pixel_size(source).mpp
    if size <= 0 or mpp <= 0:
        raise ValueError("the patch size and mpp must be positive")
    l0_size = size * mpp / src_mpp
    slide = slide_name or Path(str(source.path)).stem
    patient = patient_id or slide
    labeler = PatchLabeler(annotations, rule)
    plans = plan_patches(source.dimensions, labeler, l0_size=l0_size, tissue=tissue, min_tissue=min_tissue,
                         include_unlabelled=include_unlabelled)
    out = Path(out_dir)
    folder = slide_folder(source.path, slide)
    rows: list[dict[str, str]] = []
    counts: dict[str, int] = {}
    for i, pl in enumerate(plans):
        if task is not None:
            task.report(i / max(1, len(plans)), f"patch {i + 1} of {len(plans)}")
        label = csv_label(pl.label)
        rel = Path(folder) / _safe(label) / f"{folder}_x{pl.l0_x}_y{pl.l0_y}.png"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        img = read_patch(source, pl.l0_x, pl.l0_y, pl.l0_size, size)
        if not cv2.imwrite(str(out / rel), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write the patch image {out / rel}")
        rows.append({"path": rel.as_posix(), "label": label, "patient_id": patient, "slide": slide,
                     "x": str(pl.l0_x), "y": str(pl.l0_y), "size": str(size), "mpp": f"{mpp:g}",
                     "overlap": f"{pl.overlap:.4f}"})
        counts[label] = counts.get(label, 0) + 1
    csv_path = out / csv_name
    kept = []
    if append:  # this slide's earlier rows (by its own folder) are replaced, and their stale images removed
        old = _read_rows(csv_path)
        kept = [r for r in old if not r["path"].startswith(folder + "/")]
        _remove_stale(out, {r["path"] for r in old} - {r["path"] for r in kept} - {r["path"] for r in rows})
    _write_rows(csv_path, kept + rows)
    log.info("%s: %d patches (%s) -> %s", slide, len(rows), counts, csv_path)
    return PatchExport(csv_path, rows, counts)


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: r.get(k, "") or "" for k in CSV_COLUMNS} for r in csv.DictReader(fh)]


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    """The labels CSV, formula-safe (a class named `=HYPERLINK(...)` stays text in a spreadsheet)."""
    atomic_write_text(path, csv_text(CSV_COLUMNS, rows))


def _remove_stale(out: Path, rel_paths: set[str]) -> None:
    for rel in rel_paths:
        p = out / rel
        if ".." not in Path(rel).parts and p.is_file():
            p.unlink()


def tissue_region_mask(source: SlideSource) -> RegionMask:
    """The slide's tissue as a RegionMask (from her2viewer.tissue.mask)."""
    from ..tissue.mask import tissue_mask

    return tissue_mask(source).as_region_mask()


__all__ = ["CSV_COLUMNS", "slide_folder", "LabelRule", "PatchExport", "PatchLabel", "PatchLabeler", "PatchPlan", "csv_label",
           "decide_label", "export_patches", "plan_patches", "read_patch", "tissue_region_mask"]
