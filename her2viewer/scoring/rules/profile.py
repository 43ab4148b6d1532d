"""Stain profiles: the rules scorer's membrane cut-offs and percentage cut, with what they were fitted on.

A profile is a small JSON file (`her2viewer-stain-profile/1`):

```
{"format": "her2viewer-stain-profile/1", "name": "...", "version": "1",
 "thresholds": {"faint": 0.07, "moderate": 0.22, "strong": 0.5, "complete": 0.5, "positive_pct": 10},
 "fitted_on": "...", "n_images": 26, "data_licence": "...",
 "cross_validation": {"method": "leave-one-out", "accuracy": 0.7, "within_one": 0.92, ...,
                      "held_out": {"files": [...], "labels": [...], "calls": [...], "bootstrap": [...]}},
 "confidence": {"method": "call-precision", "matrix": [[...4 x 4...]], "n": 21, "ece_calibrated_loo": ...},
 "created": "2026-12-05T10:00:00"}
```

The optional `confidence` entry is the measured precision of each call on labelled real images
(`her2viewer.scoring.rules.confidence`); with it the scorer's confidence says how often such a call was right.

`held_out` (written by `her2viewer calibrate`) keeps each image's leave-one-out call, so that `compare` reports a
profile on the images it was fitted on by those calls, not in-sample.

`score --profile P` replaces the shipped one (`DEFAULT_PROFILE`, fitted on real_dev from `SYNTHETIC_PROFILE`);
`her2viewer calibrate` writes one from a lab's own labelled images. The decision itself stays the ASCO/CAP
table (`her2viewer.scoring.asco`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ...atomic import atomic_write_text
from ...jsonfile import JSONFileError, read_json
from .confidence import METHOD, matrix_from
from .params import MembraneThresholds

FORMAT = "her2viewer-stain-profile/1"
#: the profile shipped with the application (fitted by `her2viewer calibrate`, see its fields)
DEFAULT_PROFILE = Path(__file__).resolve().parents[3] / "resources" / "profiles" / "rules_default.json"
#: the cut-offs calibrated on synthetic cores only, never fitted on real images: the shipped profile's start
SYNTHETIC_PROFILE = DEFAULT_PROFILE.with_name("rules_synthetic.json")
THRESHOLD_KEYS = ("faint", "moderate", "strong", "complete")


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class StainProfile:
    """Membrane cut-offs (DAB OD), the completeness cut and the percentage cut, with their provenance."""

    membrane: MembraneThresholds = field(default_factory=MembraneThresholds)
    positive_pct: float = 10.0
    #: the DAB OD from which ring sectors counted as stained when the profile's images were measured
    sector_floor: float | None = None
    name: str = "built-in"
    version: str = "1"
    fitted_on: str = ""
    n_images: int = 0
    data_licence: str = ""
    cross_validation: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    #: the call-precision section (`confidence.call_precision_section`), or None: bootstrap confidence only
    confidence: dict[str, Any] | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        m = self.membrane
        return {"format": FORMAT, "name": self.name, "version": self.version,
                "thresholds": {"faint": round(m.faint, 4), "moderate": round(m.moderate, 4),
                               "strong": round(m.strong, 4), "complete": round(m.complete, 4),
                               "positive_pct": round(float(self.positive_pct), 3),
                               **({"sector_floor": self.sector_floor} if self.sector_floor is not None else {})},
                "fitted_on": self.fitted_on, "n_images": self.n_images, "data_licence": self.data_licence,
                "cross_validation": self.cross_validation,
                **({"confidence": self.confidence} if self.confidence else {}),
                "created": self.created or datetime.now().isoformat(timespec="seconds")}

    def summary(self) -> dict[str, Any]:
        """What a result's params say about the profile it was scored with."""
        return {"name": self.name, "version": self.version, "path": self.path, **self.to_dict()["thresholds"]}

    def save(self, path: str | Path) -> Path:
        """Write the profile atomically; returns the path."""
        p = Path(path)
        atomic_write_text(p, json.dumps(self.to_dict(), indent=1) + "\n")
        return p

    @classmethod
    def from_dict(cls, d: Any, where: str = "profile") -> StainProfile:
        """A profile from its JSON form; ProfileError naming `where` and the problem otherwise."""
        if not isinstance(d, dict):
            raise ProfileError(f"{where}: a stain profile must be a JSON object")
        if d.get("format") != FORMAT:
            raise ProfileError(f"{where}: not a stain profile (format {d.get('format')!r}, expected {FORMAT!r})")
        t = d.get("thresholds")
        if not isinstance(t, dict):
            raise ProfileError(f"{where}: 'thresholds' must be an object with {', '.join(THRESHOLD_KEYS)}")
        values: dict[str, float] = {}
        for k in (*THRESHOLD_KEYS, "positive_pct"):
            v = t.get(k, 10.0 if k == "positive_pct" else None)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ProfileError(f"{where}: thresholds.{k} must be a number, got {v!r}")
            values[k] = float(v)
        if not 0.0 < values["positive_pct"] < 100.0:
            raise ProfileError(f"{where}: thresholds.positive_pct {values['positive_pct']} is not in (0, 100)")
        try:
            membrane = MembraneThresholds(**{k: values[k] for k in THRESHOLD_KEYS})
        except ValueError as e:
            raise ProfileError(f"{where}: {e}") from None
        floor = t.get("sector_floor")
        if floor is not None and (isinstance(floor, bool) or not isinstance(floor, (int, float)) or floor <= 0
                                  or not math.isfinite(floor)):
            raise ProfileError(f"{where}: thresholds.sector_floor must be a positive number, got {floor!r}")
        cv = d.get("cross_validation") or {}
        n_images = d.get("n_images", 0) or 0
        if isinstance(n_images, bool) or not isinstance(n_images, int) or not 0 <= n_images <= 10**9:
            raise ProfileError(f"{where}: n_images must be a whole number, got {str(n_images)[:40]!r}")
        conf = d.get("confidence")
        if conf is not None:
            if not isinstance(conf, dict) or conf.get("method") != METHOD:
                raise ProfileError(f"{where}: 'confidence' must be an object with method {METHOD!r}")
            try:
                matrix_from(conf.get("matrix"), f"{where}: confidence.matrix")
            except ValueError as e:
                raise ProfileError(str(e)) from None
        return cls(membrane, values["positive_pct"], None if floor is None else float(floor), str(d.get("name", "")), str(d.get("version", "1")),
                   str(d.get("fitted_on", ""))[:1000], n_images, str(d.get("data_licence", ""))[:1000],
                   cv if isinstance(cv, dict) else {}, str(d.get("created", "")), conf)

    @classmethod
    def load(cls, path: str | Path) -> StainProfile:
        """Read a profile file; ProfileError naming the file for a missing, unreadable or wrong one."""

        p = Path(path)
        if not p.exists():
            raise ProfileError(f"{p}: no such stain profile")
        try:
            d = read_json(p, "stain profile", max_bytes=16 * 2**20)
        except JSONFileError as e:
            raise ProfileError(str(e)) from None
        prof = cls.from_dict(d, str(p))
        return StainProfile(**{**prof.__dict__, "path": str(p)})


def default_profile() -> StainProfile:
    """The shipped profile, or the built-in thresholds when the file is missing."""
    if DEFAULT_PROFILE.is_file():
        return StainProfile.load(DEFAULT_PROFILE)
    return StainProfile()


def profile_extra(profile: StainProfile) -> dict[str, Any]:
    """The `ScoreOptions.extra["rules"]` entries that make the rules scorer use this profile."""
    m = profile.membrane
    extra = {"membrane": {"faint": m.faint, "moderate": m.moderate, "strong": m.strong, "complete": m.complete},
             "positive_pct": profile.positive_pct, "profile": profile.summary()}
    if profile.sector_floor is not None:
        extra["cell"] = {"sector_floor": profile.sector_floor}
    if profile.confidence:
        extra["confidence_matrix"] = [list(map(float, row)) for row in profile.confidence["matrix"]]
    return extra
