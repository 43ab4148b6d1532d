"""Score results cached on disk per slide version, method, model and parameters, so a reopened slide shows its
result at once.

A result is stored as `PROJECT/results/<key>.json`: the `ScoreResult` JSON plus a "cache" member recording
what it was computed from. The key starts with a tag of the slide's path (so a slide's entries are found
without reading other files) and ends with a hash of the slide's path, size and modification time, the
method, the model's sha256 and the canonical parameters. A changed slide file, model or parameter misses
the cache; a damaged cache file is logged, ignored and replaced by the next `put`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_text
from ..scoring.base import ScoreOptions
from ..scoring.result import ScoreResult
from ..slide.region import Region

log = logging.getLogger(__name__)

CACHE_DIR = "results"
CACHE_FORMAT = 1


@dataclass(frozen=True)
class SlideIdentity:
    """What identifies a slide file's content for the cache: absolute path, size and modification time."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, source_path: str | Path) -> SlideIdentity | None:
        """The identity of a slide file, or None when it is not a readable file (an in-memory slide)."""
        if not source_path:
            return None
        p = Path(source_path).expanduser().resolve()
        try:
            st = p.stat()
        except OSError:
            return None
        return cls(str(p), int(st.st_size), int(st.st_mtime_ns))

    @property
    def tag(self) -> str:
        """A short tag of the path alone, shared by every cached result of this slide."""
        return hashlib.sha1(self.path.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CachedResult:
    """A result found in the cache, with what it was computed from."""

    key: str
    file: Path
    method: str
    params: dict[str, Any]
    model_sha256: str | None
    saved: str
    result: ScoreResult


def canonical(obj: Any) -> Any:
    """Parameters as plain JSON values (tuples to lists, numpy to Python, a Region to its bbox and id)."""
    if isinstance(obj, Region):
        return {"bbox": [int(v) for v in obj.l0_bbox], "id": obj.id, "masked": obj.mask is not None}
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, np.generic):
        return canonical(obj.item())
    if isinstance(obj, np.ndarray):
        return canonical(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot use a {type(obj).__name__} as a cache parameter")


def params_for(options: ScoreOptions, method: str, scope: str | Region = "auto") -> dict[str, Any]:
    """The cache parameters of a run of `method`: its settings (`ScoreOptions.method_settings`: the criteria,
    the gastric specimen, PSS's N and k), seed, scope, region, ISH, the scorer's extras (a stain profile
    included) and the input checks' tumour-cell minimum."""
    region = canonical(scope) if isinstance(scope, Region) else None
    return {**options.method_settings(method), "seed": options.seed,
            "scope": "region" if region is not None else scope, "region": region,
            "ish": options.ish_positive, "extra": canonical(options.extra),
            "min_tumour_cells": options.min_tumour_cells}


def _now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


class ResultCache:
    """Score results of a project's slides, one JSON file per (slide version, method, model, parameters)."""

    def __init__(self, folder: str | Path) -> None:
        """A cache under `folder`/results (created on the first `put`)."""
        self.root = Path(folder).expanduser() / CACHE_DIR

    def _fields(self, ident: SlideIdentity, method: str, params: dict[str, Any],
                model_sha256: str | None) -> dict[str, Any]:
        return {"format": CACHE_FORMAT, "slide": ident.path, "size": ident.size, "mtime_ns": ident.mtime_ns,
                "method": method, "model_sha256": model_sha256, "params": canonical(params)}

    def key(self, source_path: str | Path, method: str, params: dict[str, Any], *,
            model_sha256: str | None = None) -> str | None:
        """The cache key of a run, or None when the slide is not a file (nothing is cached for it)."""
        ident = SlideIdentity.of(source_path)
        if ident is None:
            return None
        return self._key(self._fields(ident, method, params, model_sha256), ident)

    @staticmethod
    def _key(fields: dict[str, Any], ident: SlideIdentity) -> str:
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]
        return f"{ident.tag}-{digest}"

    def file_for(self, key: str) -> Path:
        """The file that holds a key's result."""
        return self.root / f"{key}.json"

    def get(self, source_path: str | Path, method: str, params: dict[str, Any], *,
            model_sha256: str | None = None) -> ScoreResult | None:
        """The cached result of this slide version, method, model and parameters, or None."""
        ident = SlideIdentity.of(source_path)
        if ident is None:
            return None
        fields = self._fields(ident, method, params, model_sha256)
        entry = self._read(self.file_for(self._key(fields, ident)))
        if entry is None:
            return None
        meta, result = entry
        if {k: meta.get(k) for k in fields} != fields:
            log.warning("%s: the cache entry does not match its key; ignoring it",
                        self.file_for(self._key(fields, ident)))
            return None
        return result

    def put(self, source_path: str | Path, method: str, params: dict[str, Any], result: ScoreResult, *,
            model_sha256: str | None = None) -> Path | None:
        """Store a result (model_sha256 defaults to the result's) and drop older file versions' entries.

        Returns the file, or None when the slide is not a file or the write failed (logged)."""
        ident = SlideIdentity.of(source_path)
        if ident is None:
            return None
        sha = model_sha256 if model_sha256 is not None else result.model.sha256
        fields = self._fields(ident, method, params, sha)
        path = self.file_for(self._key(fields, ident))
        body = result.to_json(with_evidence=True)
        meta = json.dumps({**fields, "saved": _now_iso()})
        try:
            atomic_write_text(path, f'{body[:-1]}, "cache": {meta}}}')
        except OSError as e:
            log.error("cannot write the cached result %s: %s", path, e)
            return None
        self.prune(ident)
        return path

    def load(self, key: str) -> ScoreResult | None:
        """The result stored under a key (None when missing or damaged)."""
        entry = self._read(self.file_for(key))
        return entry[1] if entry else None

    def latest_for(self, slide_path: str | Path) -> list[CachedResult]:
        """Every cached result of the slide's current file, newest first (damaged or stale ones skipped)."""
        ident = SlideIdentity.of(slide_path)
        if ident is None or not self.root.is_dir():
            return []
        found: list[CachedResult] = []
        for file in self.root.glob(f"{ident.tag}-*.json"):
            entry = self._read(file)
            if entry is None:
                continue
            meta, result = entry
            if (meta.get("slide"), meta.get("size"), meta.get("mtime_ns")) != (
                    ident.path, ident.size, ident.mtime_ns):
                continue
            found.append(CachedResult(file.stem, file, str(meta.get("method")),
                                      dict(meta.get("params") or {}), meta.get("model_sha256"),
                                      str(meta.get("saved", "")), result))
        found.sort(key=lambda c: (c.saved, c.file.stat().st_mtime_ns if c.file.exists() else 0), reverse=True)
        return found

    def prune(self, ident: SlideIdentity) -> int:
        """Delete this slide's damaged entries and those of other file versions; returns how many."""
        removed = 0
        for file in self.root.glob(f"{ident.tag}-*.json"):
            meta = _read_meta(file)  # None: damaged, dropped too
            if meta is not None and (meta.get("size"), meta.get("mtime_ns")) == (ident.size, ident.mtime_ns):
                continue
            try:
                file.unlink()
                removed += 1
            except OSError as e:
                log.warning("cannot remove the stale cached result %s: %s", file, e)
        return removed

    @staticmethod
    def _read(file: Path) -> tuple[dict[str, Any], ScoreResult] | None:
        """(cache metadata, result) of a file; None (logged) when it is missing or damaged."""
        if not file.exists():
            return None
        try:
            d = json.loads(file.read_text(encoding="utf-8"))
            meta = d.pop("cache")
            if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
                raise ValueError("no cache metadata of a known format")
            return meta, ScoreResult.from_dict(d)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
            # ContractError and json.JSONDecodeError are ValueErrors
            log.warning("ignoring the damaged cached result %s: %s", file, e)
            return None


def _read_meta(file: Path) -> dict[str, Any] | None:
    """Only the cache metadata of a file (None when unreadable); cheap enough for pruning."""
    try:
        meta = json.loads(file.read_text(encoding="utf-8")).get("cache")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return None
    return meta if isinstance(meta, dict) else None

