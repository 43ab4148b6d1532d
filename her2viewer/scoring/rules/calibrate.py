"""Fit the rules scorer's stain profile (membrane cut-offs, completeness cut, percentage cut) to labelled
images, and measure it honestly with leave-one-out.

Every image is measured once (`measure_image`: the input checks' pixel size, the tissue, every tumour cell's
membrane DAB OD and completeness with a fixed sector floor); the fit then only re-applies the ASCO/CAP table
with other cut-offs, so it takes seconds. The default fit has two numbers (one factor on the three OD
cut-offs, as a paler or darker stain needs, and the completeness cut); "full" is a coordinate search over a
grid of each cut-off and the percentage cut from several starts. Both minimise a robust loss over images: 0 for the right score, 1 one class off, 3 two classes
off, 5 three off (labels of slide-level scores on patches are noisy: a wrong-by-one is forgiven more than a
0 called 3+). Leave-one-out fits on all images but one and scores that one, for every image in turn.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ...progress import Task
from ..asco import SCORES4, AscoThresholds, asco_cap_from_cells
from .confidence import call_precision_section
from .decision import bootstrap_probabilities, intensity_class, is_complete
from .params import MembraneThresholds, RulesParams
from .profile import StainProfile

log = logging.getLogger(__name__)

#: the DAB OD from which a ring sector counts as stained while measuring for calibration (the built-in faint)
MEASURE_SECTOR_FLOOR = 0.073
GRID = {
    "faint": np.round(np.geomspace(0.03, 0.35, 18), 4),
    "moderate": np.round(np.geomspace(0.08, 0.7, 18), 4),
    "strong": np.round(np.geomspace(0.15, 1.2, 18), 4),
    "complete": np.round(np.linspace(0.25, 0.9, 14), 3),
    "positive_pct": np.array([5.0, 7.5, 10.0, 15.0, 20.0, 30.0]),
}
LOSS_BY_DISTANCE = np.array([0.0, 1.0, 3.0, 5.0])
#: an image with fewer tumour cells is not assessable (as `ScoreOptions.min_tumour_cells`): not fitted on,
#: and counted apart in the evaluation
MIN_TUMOUR_CELLS = 50
NOT_ASSESSABLE = "n/a"


class CalibrationError(ValueError):
    """A data folder that cannot be calibrated on; the message names the file and the problem."""


@dataclass
class MeasuredImage:
    """One labelled image's tumour cells: membrane DAB OD and completeness, with its label."""

    file: str
    label: str
    membrane_od: np.ndarray
    completeness: np.ndarray
    mpp: float | None = None
    mpp_source: str | None = None

    @property
    def n(self) -> int:
        return int(self.membrane_od.size)


def read_labels(folder: str | Path) -> list[tuple[Path, str]]:
    """(image path, label) from DIR/labels.csv (columns file,label); CalibrationError naming the problem."""
    folder = Path(folder)
    path = folder / "labels.csv"
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise CalibrationError(f"{path}: no labels.csv (columns file,label) in {folder}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise CalibrationError(f"{path}: cannot read it ({e})") from None
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise CalibrationError(f"{path}: needs the columns file,label")
    out = []
    for i, r in enumerate(rows, start=2):
        label = (r.get("label") or "").strip()
        if label in ("1", "2", "3"):
            label += "+"
        if label not in SCORES4:
            raise CalibrationError(f"{path}, line {i}: label {r.get('label')!r} is not 0, 1+, 2+ or 3+")
        out.append((folder / (r.get("file") or "").strip(), label))
    if len({lab for _, lab in out}) < 2:
        raise CalibrationError(f"{path}: the labels need at least two different scores to calibrate on")
    return out


def measure_image(path: str | Path, label: str, mpp: float | None = None,
                  params: RulesParams | None = None) -> MeasuredImage:
    """Tumour cells of one image as the rules scorer measures them (pixel size: --mpp, file, estimate)."""
    from ...qc.pixel_size import resolve_pixel_size
    from ...slide import open_slide
    from ...tissue.regions import regions_for
    from .tiles import analyse_region

    params = params or RulesParams()
    params = replace(params, cell=replace(params.cell, sector_floor=MEASURE_SECTOR_FLOOR), workers=1)
    with open_slide(path) as source:
        ps = resolve_pixel_size(source, mpp)
        _, regions = regions_for(source, "auto")
        ods, comps = [], []
        for region in regions:
            rc = analyse_region(source, region, params, Task())
            tum = rc.cells.tumour
            ods.append(rc.cells.membrane_od[tum])
            comps.append(rc.cells.completeness[tum])
    od = np.concatenate(ods) if ods else np.zeros(0, np.float32)
    comp = np.concatenate(comps) if comps else np.zeros(0, np.float32)
    return MeasuredImage(Path(path).name, label, od.astype(np.float32), comp.astype(np.float32), ps.mpp, ps.source)


def measure_folder(folder: str | Path, mpp: float | None = None, task: Task | None = None,
                   on_image: Callable[[MeasuredImage], None] | None = None) -> list[MeasuredImage]:
    """`measure_image` for every labelled image of DIR/labels.csv."""
    task = task or Task()
    items = read_labels(folder)
    out = []
    for i, (path, label) in enumerate(items):
        task.report(i / len(items), f"measuring {path.name}")
        if not path.is_file():
            raise CalibrationError(f"{path}: listed in labels.csv but not found")
        m = measure_image(path, label, mpp)
        out.append(m)
        if on_image:
            on_image(m)
    task.report(1.0, "measured")
    return out


def predict(m: MeasuredImage, t: MembraneThresholds, positive_pct: float) -> str:
    """The ASCO/CAP score of a measured image under these cut-offs (`NOT_ASSESSABLE` with too few cells)."""
    if m.n < MIN_TUMOUR_CELLS:
        return NOT_ASSESSABLE
    inten = intensity_class(m.membrane_od, t)
    decision, _ = asco_cap_from_cells(inten, is_complete(m.completeness, inten, t),
                                      AscoThresholds(positive_pct=positive_pct))
    return decision.score


def bootstrap_of(m: MeasuredImage, t: MembraneThresholds, positive_pct: float) -> dict[str, float] | None:
    """The scorer's bootstrap probabilities for a measured image under these cut-offs (None: not assessable)."""
    if m.n < MIN_TUMOUR_CELLS:
        return None
    p = RulesParams()
    return bootstrap_probabilities(m.membrane_od, m.completeness, t, p.bootstrap, p.threshold_jitter, p.seed,
                                   positive_pct)


def _loss(images: Sequence[MeasuredImage], values: dict[str, float]) -> float:
    t = MembraneThresholds(values["faint"], values["moderate"], values["strong"], values["complete"])
    total = 0.0
    for m in images:
        if m.n < MIN_TUMOUR_CELLS:
            continue
        d = abs(SCORES4.index(predict(m, t, values["positive_pct"])) - SCORES4.index(m.label))
        total += LOSS_BY_DISTANCE[d]
    return total


def _valid(v: dict[str, float]) -> bool:
    return 0 < v["faint"] < v["moderate"] < v["strong"]


FIT_MODES = ("scale", "intensity", "full")
#: "scale": one factor on the three OD cut-offs (a lab's stain reads darker or paler) and the completeness cut
SCALES = np.round(np.geomspace(0.35, 2.5, 43), 4)
#: "intensity": the faint cut kept, the weak-moderate and strong cuts fitted apart (a stain whose strong
#: membranes read paler than its weak ones suggest), and the completeness cut
INTENSITY_GRID = {"moderate": np.round(np.geomspace(0.08, 0.7, 19), 4),
                  "strong": np.round(np.geomspace(0.15, 1.2, 19), 4),
                  "complete": np.round(np.linspace(0.3, 0.8, 6), 3)}


def fit_profile(images: Sequence[MeasuredImage], start: StainProfile | None = None, mode: str = "scale",
                rounds: int = 4, n_starts: int = 4, seed: int = 0) -> tuple[MembraneThresholds, float, float]:
    """(membrane thresholds, percentage cut, mean loss) minimising the robust loss on `images`.

    Mode "scale" (default) fits two numbers: one factor on the start's three OD cut-offs and the completeness
    cut (ties go to the start); "intensity" three: the weak-moderate and strong cut-offs apart and the
    completeness cut; "full" searches every cut-off and the percentage cut (needs many images)."""
    start = start or StainProfile()
    if mode == "scale":
        return _fit_scale(images, start)
    if mode == "intensity":
        return _fit_intensity(images, start)
    if mode != "full":
        raise ValueError(f"unknown fit mode {mode!r}; use one of {', '.join(FIT_MODES)}")
    m0 = start.membrane
    starts = [{"faint": m0.faint, "moderate": m0.moderate, "strong": m0.strong, "complete": m0.complete,
               "positive_pct": start.positive_pct}]
    rng = np.random.default_rng(seed)
    while len(starts) < n_starts:
        cand = {k: float(rng.choice(v)) for k, v in GRID.items()}
        if _valid(cand):
            starts.append(cand)
    best: tuple[float, dict[str, float]] | None = None
    for values in starts:
        values = dict(values)
        cur = _loss(images, values)
        for _ in range(rounds):
            improved = False
            for key, grid in GRID.items():
                for g in grid:
                    trial = {**values, key: float(g)}
                    if not _valid(trial):
                        continue
                    loss = _loss(images, trial)
                    # ties go to the value nearer the start (the ASCO/CAP default for the percentage)
                    if loss < cur - 1e-9:
                        values, cur, improved = trial, loss, True
            if not improved:
                break
        if best is None or cur < best[0]:
            best = (cur, values)
    assert best is not None
    v = best[1]
    return (MembraneThresholds(v["faint"], v["moderate"], v["strong"], v["complete"]), v["positive_pct"],
            best[0] / max(1, len(images)))


def _best_of(images: Sequence[MeasuredImage], candidates: Iterable[tuple[dict[str, float], float]]
             ) -> tuple[MembraneThresholds, float, float]:
    """The candidate cut-offs with the lowest loss (ties: the smallest distance to the start)."""
    best: tuple[float, float, dict[str, float]] | None = None
    for values, near in candidates:
        loss = _loss(images, values)
        if best is None or (loss, near) < (best[0], best[1]):
            best = (loss, near, values)
    assert best is not None
    v = best[2]
    return (MembraneThresholds(v["faint"], v["moderate"], v["strong"], v["complete"]), v["positive_pct"],
            best[0] / max(1, len(images)))


def _fit_scale(images: Sequence[MeasuredImage], start: StainProfile) -> tuple[MembraneThresholds, float, float]:
    m0 = start.membrane
    return _best_of(images, (
        ({"faint": float(m0.faint * s), "moderate": float(m0.moderate * s), "strong": float(m0.strong * s),
          "complete": float(c), "positive_pct": start.positive_pct},
         abs(float(np.log(s))) + abs(float(c) - m0.complete))
        for s in SCALES for c in GRID["complete"]))


def _fit_intensity(images: Sequence[MeasuredImage], start: StainProfile) -> tuple[MembraneThresholds, float, float]:
    m0, g = start.membrane, INTENSITY_GRID
    return _best_of(images, (
        ({"faint": m0.faint, "moderate": float(mod), "strong": float(strong), "complete": float(c),
          "positive_pct": start.positive_pct},
         abs(float(np.log(mod / m0.moderate))) + abs(float(np.log(strong / m0.strong))) + abs(float(c) - m0.complete))
        for mod in g["moderate"] for strong in g["strong"] if m0.faint < mod < strong for c in g["complete"]))


@dataclass(frozen=True)
class Evaluation:
    """Predictions against labels: accuracy and within-one-class accuracy over the assessable images, the
    number not assessable (too few tumour cells), and the confusion matrix (last column: not assessable)."""

    labels: list[str]
    predictions: list[str]
    #: each image's bootstrap probabilities under the cut-offs that called it (None: not assessable)
    probabilities: list[dict[str, float] | None] | None = None

    def _pairs(self) -> list[tuple[int, int]]:
        return [(SCORES4.index(p), SCORES4.index(t)) for p, t in zip(self.predictions, self.labels, strict=True)
                if p != NOT_ASSESSABLE]

    @property
    def not_assessable(self) -> int:
        return sum(p == NOT_ASSESSABLE for p in self.predictions)

    @property
    def accuracy(self) -> float:
        pairs = self._pairs()
        return float(np.mean([p == t for p, t in pairs])) if pairs else 0.0

    @property
    def within_one(self) -> float:
        pairs = self._pairs()
        return float(np.mean([abs(p - t) <= 1 for p, t in pairs])) if pairs else 0.0

    def confusion(self) -> np.ndarray:
        """Rows: label 0..3+; columns: call 0..3+ and not assessable."""
        c = np.zeros((4, 5), int)
        for p, t in zip(self.predictions, self.labels, strict=True):
            c[SCORES4.index(t), 4 if p == NOT_ASSESSABLE else SCORES4.index(p)] += 1
        return c

    def confusion_text(self) -> str:
        """The confusion matrix as aligned text."""
        c = self.confusion()
        lines = ["label \\ called   " + "  ".join(f"{s:>3}" for s in (*SCORES4, NOT_ASSESSABLE))]
        lines += [f"{s:>14}   " + "  ".join(f"{v:>3d}" for v in row) for s, row in zip(SCORES4, c, strict=True)]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"accuracy": round(self.accuracy, 4), "within_one": round(self.within_one, 4),
                "not_assessable": self.not_assessable, "confusion": self.confusion().tolist(),
                "n": len(self.labels)}


def evaluate(images: Sequence[MeasuredImage], t: MembraneThresholds, positive_pct: float) -> Evaluation:
    """Predictions of fixed cut-offs on every image, with their bootstrap probabilities."""
    return Evaluation([m.label for m in images], [predict(m, t, positive_pct) for m in images],
                      [bootstrap_of(m, t, positive_pct) for m in images])


def leave_one_out(images: Sequence[MeasuredImage], start: StainProfile | None = None,
                  task: Task | None = None, mode: str = "scale") -> Evaluation:
    """Each image scored with cut-offs fitted on all the others."""
    task = task or Task()
    preds, probs = [], []
    for i, m in enumerate(images):
        task.report(i / len(images), f"leave-one-out {i + 1}/{len(images)}")
        rest = [x for j, x in enumerate(images) if j != i]
        t, pct, _ = fit_profile(rest, start, mode)
        preds.append(predict(m, t, pct))
        probs.append(bootstrap_of(m, t, pct))
    return Evaluation([m.label for m in images], preds, probs)


def held_out_record(images: Sequence[MeasuredImage], loo: Evaluation) -> dict:
    """Each image's leave-one-out call and bootstrap probabilities, by file name: what `compare` reports for
    a profile fitted on these images instead of scoring them in-sample."""
    return {"files": [m.file for m in images], "labels": list(loo.labels), "calls": list(loo.predictions),
            "bootstrap": [None if p is None else {k: round(float(v), 4) for k, v in p.items()}
                          for p in loo.probabilities]}


def calibrated_profile(images: Sequence[MeasuredImage], start: StainProfile, fit: str, name: str,
                       data_licence: str = "", task: Task | None = None
                       ) -> tuple[StainProfile, Evaluation, Evaluation]:
    """(profile fitted on every image, the start's evaluation, leave-one-out evaluation); the profile's
    confidence entry is the call precision of the leave-one-out calls."""
    task = task or Task()
    before = evaluate(images, start.membrane, start.positive_pct)
    loo = leave_one_out(images, start, task, mode=fit)
    confidence = call_precision_section(loo.predictions, loo.labels, loo.probabilities,
                                        fitted_on=f"leave-one-out calls on {len(images)} labelled images in {name}",
                                        data_licence=data_licence)
    membrane, pct, _ = fit_profile(images, start, fit)
    profile = StainProfile(membrane, pct, MEASURE_SECTOR_FLOOR, name, "1",
                           fitted_on=f"{len(images)} labelled images in {name}", n_images=len(images),
                           data_licence=data_licence,
                           cross_validation={"method": "leave-one-out", "fit": fit, **loo.as_dict(),
                                             "before": {"profile": start.name, **before.as_dict()},
                                             "held_out": held_out_record(images, loo)},
                           confidence=confidence if confidence["n"] else None)
    return profile, before, loo
