"""Nested type checks of a score result JSON: every field the report, the viewer and the batch read.

`validate_contract` (scoring/result.py) checks the top-level keys and the calls; `check_nested` adds the
types inside: numbers finite, bboxes of four numbers, lists where lists belong, heatmap shapes that match
their values, bounded sizes and depth. Each problem names its field (`cores[3].bbox`, `evidence.heatmaps[0]`).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

#: a result nested deeper than this is refused (the contract needs about 6 levels)
MAX_DEPTH = 32
#: list lengths: samples, cores, patch boxes, detected cells, heatmap cells
MAX_ITEMS = {"samples": 100_000, "cores": 10_000, "patch_boxes": 1_000_000, "cells": 20_000_000,
             "heatmap": 16_000_000}
#: characters of a text field
MAX_TEXT = 100_000
_CELL_NUMBERS = ("n", "n_tumour", "h_score")
_QC_NUMBERS = ("tissue_fraction", "tumour_cells", "focus", "mpp_uncertainty")


def is_number(v: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(float(v))


def depth_of(obj: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of lists and objects, counted without recursion and stopping past `limit`."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, (list, dict)):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            stack.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))
    return deepest


def _number(where: str, v: Any, problems: list[str], *, optional: bool = True) -> None:
    if v is None and optional:
        return
    if not is_number(v):
        problems.append(f"{where} must be a finite number{' or null' if optional else ''} (got {_show(v)})")


def _text(where: str, v: Any, problems: list[str], *, optional: bool = True) -> None:
    if v is None and optional:
        return
    if not isinstance(v, str):
        problems.append(f"{where} must be text (got {_show(v)})")
    elif len(v) > MAX_TEXT:
        problems.append(f"{where} is {len(v)} characters long (limit {MAX_TEXT})")


def _bbox(where: str, v: Any, problems: list[str]) -> None:
    if not (isinstance(v, (list, tuple)) and len(v) == 4 and all(is_number(x) for x in v)):
        problems.append(f"{where} must be [x, y, w, h] of four finite numbers (got {_show(v)})")


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _list(where: str, v: Any, problems: list[str], key: str) -> list:
    if v is None:
        return []
    if not isinstance(v, (list, tuple)):
        problems.append(f"{where} must be a list (got {type(v).__name__})")
        return []
    if len(v) > MAX_ITEMS[key]:
        problems.append(f"{where} has {len(v)} entries (limit {MAX_ITEMS[key]})")
        return []
    return v


def _check_cells(where: str, cells: Any, problems: list[str]) -> None:
    if cells is None:
        return
    if not isinstance(cells, dict):
        problems.append(f"{where} must be an object or null")
        return
    for k, v in cells.items():
        if k.startswith("pct_") or k in _CELL_NUMBERS:
            _number(f"{where}.{k}", v, problems)


def _check_cores(d: dict, problems: list[str]) -> None:
    for i, c in enumerate(_list("cores", d.get("cores"), problems, "cores")):
        where = f"cores[{i}]"
        if not isinstance(c, dict):
            continue  # validate_contract says so
        if not isinstance(c.get("id"), (str, int)) or isinstance(c.get("id"), bool):
            problems.append(f"{where}.id must be text")
        if "bbox" in c:
            _bbox(f"{where}.bbox", c["bbox"], problems)
        if c.get("probabilities") is not None and not (
                isinstance(c["probabilities"], dict) and all(is_number(v) for v in c["probabilities"].values())):
            problems.append(f"{where}.probabilities must be an object of finite numbers")
        _number(f"{where}.confidence", c.get("confidence"), problems)
        _number(f"{where}.n_samples", c.get("n_samples"), problems)
        _text(f"{where}.explanation", c.get("explanation"), problems)
        _text(f"{where}.subclass", c.get("subclass"), problems)
        _check_cells(f"{where}.cells", c.get("cells"), problems)


def _check_samples(d: dict, problems: list[str]) -> None:
    for i, s in enumerate(_list("samples", d.get("samples"), problems, "samples")):
        if not isinstance(s, dict):
            continue
        _number(f"samples[{i}].confidence", s.get("confidence"), problems, optional=False)
        if not isinstance(s.get("selected"), bool):
            problems.append(f"samples[{i}].selected must be true or false")
        if s.get("core_id") is not None and not isinstance(s["core_id"], str):
            problems.append(f"samples[{i}].core_id must be text or null")


def _check_heatmap(where: str, h: Any, problems: list[str]) -> None:
    if not isinstance(h, dict):
        problems.append(f"{where} must be an object")
        return
    shape, values = h.get("shape"), h.get("values")
    if not (isinstance(shape, (list, tuple)) and len(shape) == 2
            and all(isinstance(n, numbers.Integral) and n > 0 for n in shape)):
        problems.append(f"{where}.shape must be [rows, cols] of positive whole numbers")
        return
    if shape[0] * shape[1] > MAX_ITEMS["heatmap"]:
        problems.append(f"{where}.shape {shape} is too large")
        return
    if not isinstance(values, (list, tuple)) or len(values) != shape[0] * shape[1]:
        problems.append(f"{where}.values must be a list of rows x cols = {shape[0] * shape[1]} numbers")
    elif not all(v is None or is_number(v) for v in values):
        problems.append(f"{where}.values must be finite numbers or null")
    _text(f"{where}.name", h.get("name"), problems, optional=False)
    origin = h.get("l0_origin")
    if not (isinstance(origin, (list, tuple)) and len(origin) == 2 and all(is_number(v) for v in origin)):
        problems.append(f"{where}.l0_origin must be [x, y] of finite numbers")
    if not (is_number(h.get("l0_cell_size")) and h["l0_cell_size"] > 0):
        problems.append(f"{where}.l0_cell_size must be a positive number")
    for k in ("vmin", "vmax"):
        _number(f"{where}.{k}", h.get(k), problems)


def _check_evidence(ev: Any, problems: list[str]) -> None:
    if ev is None:
        return
    if not isinstance(ev, dict):
        problems.append("evidence must be an object or null")
        return
    for i, b in enumerate(_list("evidence.patch_boxes", ev.get("patch_boxes"), problems, "patch_boxes")):
        where = f"evidence.patch_boxes[{i}]"
        if not isinstance(b, dict):
            problems.append(f"{where} must be an object")
            continue
        _bbox(f"{where}.bbox", b.get("bbox"), problems)
        if not isinstance(b.get("sample"), numbers.Integral) or not isinstance(b.get("score"), (str, type(None))):
            problems.append(f"{where} needs a whole-number sample and a text (or null) score")
    cells = ev.get("cells")
    if cells is not None:
        cols = ("x", "y", "intensity", "complete")
        if not isinstance(cells, dict) or not all(isinstance(cells.get(k), (list, tuple)) for k in cols):
            problems.append("evidence.cells must be an object with lists x, y, intensity, complete")
        elif len({len(cells[k]) for k in cols}) != 1 or len(cells["x"]) > MAX_ITEMS["cells"]:
            problems.append("evidence.cells lists x, y, intensity, complete must have one (bounded) length")
        elif not all(is_number(v) for k in cols for v in cells[k]):
            problems.append("evidence.cells must hold finite numbers")
    for i, h in enumerate(_list("evidence.heatmaps", ev.get("heatmaps"), problems, "samples")):
        _check_heatmap(f"evidence.heatmaps[{i}]", h, problems)


def check_nested(d: dict, problems: list[str]) -> None:
    """Append to `problems` every nested field of result `d` with a wrong type, size or non-finite number."""
    if depth_of(d) > MAX_DEPTH:
        problems.append(f"the result is nested more than {MAX_DEPTH} levels deep")
        return
    m = d.get("model")
    if isinstance(m, dict):
        _text("model.sha256", m.get("sha256"), problems)
        _text("model.version", m.get("version"), problems)
    _text("slide", d.get("slide"), problems, optional=False)
    _number("confidence", d.get("confidence"), problems)
    _number("elapsed_s", d.get("elapsed_s"), problems)
    _text("explanation", d.get("explanation"), problems)
    _text("subclass", d.get("subclass"), problems)
    if d.get("ish_positive") is not None and not isinstance(d["ish_positive"], bool):
        problems.append("ish_positive must be true, false or null")
    if d.get("params") is not None and not isinstance(d["params"], dict):
        problems.append("params must be an object")
    qc = d.get("qc")
    if isinstance(qc, dict):
        for k in _QC_NUMBERS:
            _number(f"qc.{k}", qc.get(k), problems)
        sv = qc.get("stain_vectors")
        if sv is not None and not (isinstance(sv, dict) and all(
                isinstance(v, (list, tuple)) and all(is_number(x) for x in v) for v in sv.values())):
            problems.append("qc.stain_vectors must be an object of number lists")
    _check_samples(d, problems)
    _check_cores(d, problems)
    _check_cells("cells", d.get("cells"), problems)
    _check_evidence(d.get("evidence"), problems)
