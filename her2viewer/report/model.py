"""What a report shows besides the score result: the case fields and the pathologist's review."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..jsonfile import JSONFileError, read_json
from ..scoring.asco import SCORES4, to_3way

#: review text kept for the report: short fields and the comment (longer text is cut)
FIELD_LIMIT = 600
COMMENT_LIMIT = 6000


class ReportInputError(ValueError):
    """A review or case file cannot be used; the message names the file and the problem."""


@dataclass
class ReviewInfo:
    """The reviewed (final) score: 4-way score, ISH result for 2+, reviewer, time and comment."""

    score: str
    ish_positive: bool | None = None
    reviewer: str = ""
    time: str = ""  # ISO 8601
    comment: str = ""

    def __post_init__(self) -> None:
        if self.score not in SCORES4:
            raise ValueError(f"the reviewed score {self.score!r} is not one of {', '.join(SCORES4)}")
        if isinstance(self.time, datetime):
            self.time = self.time.isoformat(timespec="seconds")

    @property
    def score3(self) -> str:
        """The 3-way category of the reviewed score."""
        return to_3way(self.score, self.ish_positive)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> ReviewInfo:
        """Build from a JSON object; raises ValueError on bad fields."""
        if not isinstance(d, dict):
            raise ValueError("a review must be a JSON object")
        ish = d.get("ish_positive")
        if ish is not None and not isinstance(ish, bool):
            raise ValueError("ish_positive must be true, false or null")
        text = {k: d.get(k) or "" for k in ("reviewer", "time", "comment")}
        for k, v in text.items():
            if not isinstance(v, str):
                raise ValueError(f"{k} must be a string")
            text[k] = v[: COMMENT_LIMIT if k == "comment" else FIELD_LIMIT]
        return cls(str(d.get("score", "")), ish, **text)

    @classmethod
    def load(cls, path: str | Path) -> ReviewInfo:
        """Read a review JSON file; errors name the file."""
        p = Path(path)
        try:
            return cls.from_dict(read_json(p, "review file"))
        except JSONFileError as e:
            raise ReportInputError(str(e)) from None
        except ValueError as e:
            raise ReportInputError(f"{p}: {e}") from e


#: the case fields a user can edit and store with a slide (viewer: File > Case Details; CLI: report options)
EDITABLE_CASE_FIELDS = ("case_id", "patient_id", "specimen", "block", "antibody_clone")


@dataclass
class CaseInfo:
    """Case fields printed at the top of the report (all optional; the slide fields come from the slide)."""

    case_id: str = ""
    patient_id: str = ""
    specimen: str = ""
    block: str = ""             # tissue block id
    antibody_clone: str = ""    # e.g. 4B5, HercepTest
    criteria: str = ""          # the guideline the score follows (filled from the result when empty)
    date: str = ""  # report date; today when empty
    slide_name: str = ""
    scanner: str = ""
    mpp: float | None = None
    mpp_source: str | None = None          # file | user | estimated | assumed
    mpp_uncertainty: float | None = None   # relative, for an estimate
    dimensions: tuple[int, int] | None = None
    objective: float | None = None
    extra: dict[str, str] = field(default_factory=dict)
    core_patients: dict[str, str] = field(default_factory=dict)   # TMA core id -> patient id (a TMA map)

    @property
    def patients(self) -> list[str]:
        """The distinct patients of a TMA's cores (from its TMA map), sorted."""
        return sorted({p for p in self.core_patients.values() if p})

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for the case table; empty fields shown as a dash."""
        dash = "-"
        dims = f"{self.dimensions[0]:,} x {self.dimensions[1]:,} px" if self.dimensions else dash
        mpp = f"{self.mpp:.4g} um/px" if self.mpp else "unknown"
        if self.mpp and self.mpp_source and self.mpp_source != "file":
            unc = f" +-{100 * self.mpp_uncertainty:.0f}%" if self.mpp_uncertainty else ""
            mpp += {"user": " (set by the user)", "estimated": f" (ESTIMATED from the image{unc})",
                    "assumed": " (ASSUMED: the file states none)"}.get(self.mpp_source, "")
        obj = f"{self.objective:g}x" if self.objective else dash
        out = [("Slide", self.slide_name or dash), ("Case ID", self.case_id or dash),
               ("Patient ID", self.patient_id or dash), ("Specimen", self.specimen or dash),
               ("Block", self.block or dash), ("Antibody clone", self.antibody_clone or dash),
               ("Criteria", self.criteria or dash),
               ("Report date", self.date or datetime.now().strftime("%Y-%m-%d %H:%M")),
               ("Scanner / vendor", self.scanner or dash), ("Pixel size", mpp), ("Magnification", obj),
               ("Dimensions", dims)]
        if len(self.patients) > 1:
            out[2] = ("Patient ID", f"{len(self.patients)} patients (TMA map): see the per-core table")
        out += [(k, v) for k, v in self.extra.items()]
        return out


def _objective(source: Any) -> float | None:
    """The magnification the file states; none from a pixel size that was estimated or assumed."""
    if getattr(source, "mpp_source", None) in ("estimated", "assumed"):
        return getattr(source, "_objective", None)
    return getattr(source, "objective_power", None)


def case_from_source(source: Any, **fields: Any) -> CaseInfo:
    """Case fields with the slide's own metadata (name, scanner, mpp, size) filled in."""
    props = dict(getattr(source, "properties", {}) or {})
    scanner = props.get("openslide.vendor") or getattr(source, "vendor", "") or ""
    model = (props.get("aperio.ScanScope ID") or props.get("hamamatsu.Product")
             or props.get("tiff.Model") or props.get("tiff.Make") or "")
    if model and model not in scanner:
        scanner = f"{scanner} ({model})" if scanner else model
    info = CaseInfo(slide_name=Path(str(getattr(source, "path", ""))).name, scanner=scanner,
                    mpp=getattr(source, "mpp", None), mpp_source=getattr(source, "mpp_source", None),
                    mpp_uncertainty=getattr(source, "mpp_uncertainty", None), dimensions=tuple(getattr(source, "dimensions", ())) or None,
                    objective=_objective(source))
    for k, v in fields.items():
        if v not in (None, ""):
            setattr(info, k, v)
    return info
