"""`ScoreResult`: the one result type every scorer returns, with its JSON round trip and contract check.

The JSON form is the contract of ../shared/DESIGN.md: slide, method, model {name, sha256}, score, score3,
probabilities, qc, samples, cores, cells, elapsed_s. `score` and `score3` are null (and `probabilities` empty)
only when `qc.status` is "not_assessable": the input checks (`her2viewer.qc`) found nothing a HER2 score
can be given for. Extra keys (confidence, subclass, explanation, params,
evidence) carry what the viewer and the report need; readers must ignore keys they do not know.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..jsonfile import JSONFileError, parse_json, read_json
from .asco import SCORES3, SCORES4, to_3way

QC_STATUSES = ("ok", "warning", "not_assessable")
QC_NOT_ASSESSABLE = "not_assessable"
QC_STAINS = ("dab_ihc", "he", "unknown")
QC_MPP_SOURCES = ("file", "user", "estimated", "assumed")


class ContractError(ValueError):
    """A result (or its JSON) does not meet the score contract; the message lists every problem."""


@dataclass
class ModelInfo:
    """Which model produced a result."""

    name: str
    sha256: str | None = None
    version: str = ""


@dataclass
class SampleRecord:
    """One sample (a PSS, a patch bag, ...) with its own prediction."""

    score: str
    probabilities: dict[str, float]
    confidence: float
    selected: bool = False
    core_id: str | None = None


@dataclass
class CoreResult:
    """The result for one TMA core or tissue region; bbox is level-0 (x, y, w, h)."""

    id: str
    bbox: tuple[int, int, int, int]
    score: str
    score3: str
    probabilities: dict[str, float]
    confidence: float | None = None
    subclass: str | None = None
    explanation: str = ""
    cells: dict[str, float] | None = None
    n_samples: int = 0


@dataclass
class PatchBox:
    """A sampled patch in level-0 pixels, the sample it belongs to and that sample's score."""

    bbox: tuple[int, int, int, int]
    sample: int
    score: str
    kind: str = "full"  # "full", "half" (2x downsampled), "whole" (the resized core)


@dataclass
class Heatmap:
    """A float grid over the slide: cell (r, c) covers level-0 [x0 + c*cell, x0 + (c+1)*cell) etc."""

    name: str
    values: np.ndarray
    l0_origin: tuple[float, float]
    l0_cell_size: float
    vmin: float = 0.0
    vmax: float = 1.0
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        vals = np.asarray(self.values, dtype=np.float32)
        return {
            "name": self.name,
            "shape": list(vals.shape),
            "values": [None if not math.isfinite(v) else round(float(v), 5) for v in vals.ravel()],
            "l0_origin": list(self.l0_origin),
            "l0_cell_size": self.l0_cell_size,
            "vmin": self.vmin,
            "vmax": self.vmax,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Heatmap:
        vals = np.array([np.nan if v is None else v for v in d["values"]], dtype=np.float32)
        return cls(d["name"], vals.reshape(d["shape"]), tuple(d["l0_origin"]), float(d["l0_cell_size"]),
                   float(d.get("vmin", 0.0)), float(d.get("vmax", 1.0)), d.get("description", ""))


@dataclass
class CellDetections:
    """Detected cells: level-0 centres, membrane intensity class (0..3), completeness and (optionally)
    whether each cell counts as a tumour cell (None: all are tumour cells, as in older results), and the
    measurements behind the classes: membrane DAB OD and the stained fraction of the ring (None in older
    results)."""

    x: np.ndarray
    y: np.ndarray
    intensity: np.ndarray
    complete: np.ndarray
    tumour: np.ndarray | None = None
    membrane_od: np.ndarray | None = None
    completeness: np.ndarray | None = None

    def __len__(self) -> int:
        return int(len(self.x))

    def to_dict(self) -> dict[str, Any]:
        d = {
            "x": np.round(np.asarray(self.x, float), 1).tolist(),
            "y": np.round(np.asarray(self.y, float), 1).tolist(),
            "intensity": np.asarray(self.intensity, int).tolist(),
            "complete": np.asarray(self.complete, bool).astype(int).tolist(),
        }
        if self.tumour is not None:
            d["tumour"] = np.asarray(self.tumour, bool).astype(int).tolist()
        if self.membrane_od is not None:
            d["membrane_od"] = np.round(np.asarray(self.membrane_od, float), 3).tolist()
        if self.completeness is not None:
            d["completeness"] = np.round(np.asarray(self.completeness, float), 2).tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CellDetections:
        def opt(key: str, dtype: Any) -> np.ndarray | None:
            return np.asarray(d[key], dtype) if d.get(key) is not None else None

        return cls(np.asarray(d["x"], np.float32), np.asarray(d["y"], np.float32),
                   np.asarray(d["intensity"], np.int8), np.asarray(d["complete"], bool), opt("tumour", bool),
                   opt("membrane_od", np.float32), opt("completeness", np.float32))

    @classmethod
    def concat(cls, parts: list[CellDetections]) -> CellDetections:
        if not parts:
            return cls(np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0, np.int8),
                       np.zeros(0, bool))
        fields4 = ("x", "y", "intensity", "complete")
        out = cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields4))
        if any(p.tumour is not None for p in parts):
            out.tumour = np.concatenate([p.tumour if p.tumour is not None else np.ones(len(p), bool)
                                         for p in parts])
        for key in ("membrane_od", "completeness"):
            if all(getattr(p, key) is not None for p in parts):
                setattr(out, key, np.concatenate([getattr(p, key) for p in parts]).astype(np.float32))
        return out


@dataclass
class Evidence:
    """What the viewer overlays to show why: sampled patches, cell detections, heatmaps."""

    patch_boxes: list[PatchBox] = field(default_factory=list)
    cells: CellDetections | None = None
    heatmaps: list[Heatmap] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "patch_boxes": [asdict(b) for b in self.patch_boxes],
            "cells": self.cells.to_dict() if self.cells is not None else None,
            "heatmaps": [h.to_dict() for h in self.heatmaps],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Evidence:
        if not d:
            return cls()
        return cls(
            patch_boxes=[PatchBox(tuple(b["bbox"]), int(b["sample"]), b["score"], b.get("kind", "full"))
                         for b in d.get("patch_boxes", [])],
            cells=CellDetections.from_dict(d["cells"]) if d.get("cells") else None,
            heatmaps=[Heatmap.from_dict(h) for h in d.get("heatmaps", [])],
        )


@dataclass
class ScoreResult:
    """A suggested HER2 score with its probabilities and evidence, whatever the scorer."""

    slide: str
    method: str
    score: str | None
    probabilities: dict[str, float]
    model: ModelInfo
    score3: str | None = ""
    confidence: float | None = None
    subclass: str | None = None
    explanation: str = ""
    samples: list[SampleRecord] = field(default_factory=list)
    cores: list[CoreResult] = field(default_factory=list)
    cells: dict[str, float] | None = None
    evidence: Evidence = field(default_factory=Evidence)
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    ish_positive: bool | None = None
    qc: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.score3:
            self.score3 = to_3way(self.score, self.ish_positive) if self.score else None

    @property
    def assessable(self) -> bool:
        """False when the input checks found the image not assessable (then there is no score)."""
        return not (self.qc and self.qc.get("status") == QC_NOT_ASSESSABLE)

    # -- JSON ---------------------------------------------------------------------------------------
    def to_dict(self, with_evidence: bool = True) -> dict[str, Any]:
        """The contract's JSON object (plus the documented extra keys)."""
        d: dict[str, Any] = {
            "slide": self.slide,
            "method": self.method,
            "model": asdict(self.model),
            "score": self.score,
            "score3": self.score3,
            "probabilities": ({k: float(self.probabilities.get(k, 0.0))
                               for k in (SCORES3 if set(self.probabilities) == set(SCORES3) else SCORES4)}
                              if self.probabilities else {}),
            "qc": self.qc,
            "samples": [asdict(s) for s in self.samples],
            "cores": [_core_to_dict(c) for c in self.cores],
            "cells": self.cells,
            "elapsed_s": round(float(self.elapsed_s), 3),
            "confidence": self.confidence,
            "subclass": self.subclass,
            "explanation": self.explanation,
            "ish_positive": self.ish_positive,
            "params": self.params,
        }
        if with_evidence:
            d["evidence"] = self.evidence.to_dict()
        return d

    def to_json(self, indent: int | None = None, with_evidence: bool = True) -> str:
        return json.dumps(self.to_dict(with_evidence), indent=indent, default=_json_default)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScoreResult:
        """Rebuild a result from its JSON object; raises ContractError when it is not one."""
        validate_contract(d)
        m = d["model"]
        return cls(
            slide=d["slide"], method=d["method"], score=d["score"], score3=d["score3"],
            probabilities={k: float(v) for k, v in d["probabilities"].items()},
            model=ModelInfo(m["name"], m.get("sha256"), m.get("version", "")),
            confidence=d.get("confidence"), subclass=d.get("subclass"), explanation=d.get("explanation", ""),
            samples=[SampleRecord(s["score"], s["probabilities"], s["confidence"], s["selected"],
                                  s.get("core_id")) for s in d["samples"]],
            cores=[_core_from_dict(c) for c in d.get("cores", [])],
            cells=d.get("cells"), evidence=Evidence.from_dict(d.get("evidence")),
            params=d.get("params", {}), elapsed_s=float(d.get("elapsed_s", 0.0)),
            ish_positive=d.get("ish_positive"), qc=d.get("qc"),
        )

    @classmethod
    def from_json(cls, text: str) -> ScoreResult:

        try:
            d = parse_json(text, "<text>", "score result")
        except JSONFileError as e:
            raise ContractError(e.problem) from e
        return cls.from_dict(d)

    @classmethod
    def load(cls, path: str | Path) -> ScoreResult:
        """Read a result file; the error names the file."""

        p = Path(path)
        try:
            return cls.from_dict(read_json(p, "score result"))  # a pipe, a huge or a non-UTF-8 file: a message
        except JSONFileError as e:
            raise ContractError(str(e)) from e
        except ContractError as e:
            raise ContractError(f"{p}: {e}") from e

    def save(self, path: str | Path) -> None:
        """Write the result as JSON atomically."""
        from ..atomic import atomic_write_text

        atomic_write_text(Path(path), self.to_json(indent=1))


def _core_to_dict(c: CoreResult) -> dict[str, Any]:
    d = asdict(c)
    d["bbox"] = [int(v) for v in c.bbox]
    return d


def _core_from_dict(d: dict[str, Any]) -> CoreResult:
    return CoreResult(
        id=str(d["id"]), bbox=tuple(int(v) for v in d["bbox"]), score=d["score"], score3=d["score3"],
        probabilities=d.get("probabilities", {}), confidence=d.get("confidence"), subclass=d.get("subclass"),
        explanation=d.get("explanation", ""), cells=d.get("cells"), n_samples=int(d.get("n_samples", 0)),
    )


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot serialise {type(o).__name__}")


def call_confidence(probabilities: dict[str, float], call: str | None) -> float | None:
    """The confidence of a call, everywhere (JSON `confidence`, the badge, the report): the probability the
    result gives its own call (None without a call)."""
    if call is None or call not in probabilities:
        return None
    return float(probabilities[call])


def _check_probs(where: str, p: Any, problems: list[str], three_way: bool = False) -> None:
    keys = SCORES3 if three_way else SCORES4
    if not isinstance(p, dict) or set(p) != set(keys):
        problems.append(f"{where}: probabilities must have exactly the keys {list(keys)}")
        return
    vals = list(p.values())
    if not all(isinstance(v, (int, float)) and 0.0 <= v <= 1.0 for v in vals):
        problems.append(f"{where}: probabilities must be numbers in [0, 1]")
    elif abs(sum(vals) - 1.0) > 1e-3:
        problems.append(f"{where}: probabilities sum to {sum(vals):.4f}, not 1")


def _check_qc(qc: Any, problems: list[str]) -> None:
    if not isinstance(qc, dict):
        problems.append("qc must be an object")
        return
    if qc.get("status") not in QC_STATUSES:
        problems.append(f"qc.status {qc.get('status')!r} is not one of {list(QC_STATUSES)}")
    if qc.get("stain") not in QC_STAINS:
        problems.append(f"qc.stain {qc.get('stain')!r} is not one of {list(QC_STAINS)}")
    if qc.get("mpp_source") is not None and qc.get("mpp_source") not in QC_MPP_SOURCES:
        problems.append(f"qc.mpp_source {qc.get('mpp_source')!r} is not one of {list(QC_MPP_SOURCES)}")
    mpp = qc.get("mpp")
    if mpp is not None and not (isinstance(mpp, (int, float)) and math.isfinite(mpp) and mpp > 0):
        problems.append("qc.mpp must be a positive number or null")
    if not isinstance(qc.get("messages", []), list) or not all(isinstance(m, str) for m in qc.get("messages", [])):
        problems.append("qc.messages must be a list of strings")


def validate_contract(d: Any) -> None:
    """Raise ContractError listing every way `d` departs from the score JSON contract."""
    problems: list[str] = []
    if not isinstance(d, dict):
        raise ContractError("a score result must be a JSON object")
    for key, typ in (("slide", str), ("method", str), ("model", dict), ("score", (str, type(None))),
                     ("score3", (str, type(None))), ("probabilities", dict), ("samples", list),
                     ("elapsed_s", (int, float))):
        if key not in d:
            problems.append(f"missing key {key!r}")
        elif not isinstance(d[key], typ):
            problems.append(f"{key!r} has the wrong type ({type(d[key]).__name__})")
    if problems:
        raise ContractError("; ".join(problems))
    if not isinstance(d["model"].get("name"), str):
        problems.append("model.name must be a string")
    if "sha256" not in d["model"]:
        problems.append("model.sha256 is missing")
    qc = d.get("qc")
    if qc is not None:
        _check_qc(qc, problems)
    not_assessable = isinstance(qc, dict) and qc.get("status") == QC_NOT_ASSESSABLE
    # a 3-class model fills score3 only; its probabilities are over 0 / Low / High
    three_way = d["score"] is None and d["score3"] is not None
    if not_assessable:
        if d["score"] is not None or d["score3"] is not None:
            problems.append("score and score3 must be null when qc.status is not_assessable")
        if d["probabilities"]:
            _check_probs("result", d["probabilities"], problems)
    else:
        if d["score"] is None and d["score3"] is None:
            problems.append("score and score3 may both be null only when qc.status is not_assessable")
        if d["score"] is not None and d["score"] not in SCORES4:
            problems.append(f"score {d['score']!r} is not one of {list(SCORES4)}")
        if d["score3"] is not None and d["score3"] not in SCORES3:
            problems.append(f"score3 {d['score3']!r} is not one of {list(SCORES3)}")
        _check_probs("result", d["probabilities"], problems, three_way)
    for i, s in enumerate(d["samples"]):
        if not isinstance(s, dict) or not {"score", "probabilities", "confidence", "selected"} <= set(s):
            problems.append(f"samples[{i}] needs score, probabilities, confidence, selected")
            continue
        if s["score"] not in (SCORES3 if three_way else SCORES4):
            problems.append(f"samples[{i}].score {s['score']!r} is not a HER2 score")
        _check_probs(f"samples[{i}]", s["probabilities"], problems, three_way)
    for i, c in enumerate(d.get("cores") or []):
        if not isinstance(c, dict) or not {"id", "bbox", "score"} <= set(c):
            problems.append(f"cores[{i}] needs id, bbox, score")
        elif not (isinstance(c["bbox"], list) and len(c["bbox"]) == 4):
            problems.append(f"cores[{i}].bbox must be [x, y, w, h]")
        elif c["score"] not in SCORES4 and not (c["score"] is None and c.get("score3") in SCORES3):
            problems.append(f"cores[{i}].score {c['score']!r} is not a HER2 score")
    if d.get("cells") is not None and not isinstance(d["cells"], dict):
        problems.append("cells must be an object or null")
    from .contract import check_nested

    check_nested(d, problems)
    if problems:
        raise ContractError("; ".join(problems[:12]) + (f"; and {len(problems) - 12} more" if len(problems) > 12 else ""))
