"""Limits on a model card's numbers, checked before anything is built or allocated.

A card is data from a file: `in_dim: 10**9` or `patch_size: 10**9` would make the model constructor or the
sampler allocate gigabytes before failing. `check_card_limits` bounds every constructor argument and input
spec value (known keys by their own range, unknown numbers by a general cap) and refuses non-finite numbers,
long text and deep nesting, naming the field.
"""

from __future__ import annotations

import math
from typing import Any

#: architecture keyword arguments: (low, high)
KWARG_LIMITS: dict[str, tuple[float, float]] = {
    "num_classes": (1, 16), "n_patches": (1, 512), "in_dim": (1, 4096), "hidden": (1, 2048),
    "attn_dim": (1, 2048), "k_sample": (1, 1024), "n_groups": (1, 64), "eval_seed": (0, 2**32 - 1),
    "dropout": (0.0, 1.0), "drop_rate": (0.0, 1.0), "bag_weight": (0.0, 1.0),
}
#: input spec values (also inside its nested objects such as "tiles"): (low, high)
SPEC_LIMITS: dict[str, tuple[float, float]] = {
    "n_full": (0, 512), "n_half": (0, 512), "patch_size": (8, 4096), "size": (8, 4096), "tile_px": (8, 4096),
    "mpp": (0.05, 50.0), "half_downsample": (1.0, 64.0), "min_tissue_fraction": (0.0, 1.0),
    "min_tissue": (0.0, 1.0), "max_tiles": (0, 1_000_000), "dim": (1, 4096),
}
#: any other number in the architecture or input spec
GENERAL_LIMIT = 1_000_000
MAX_TEXT = 10_000
MAX_CLASSES = 16
MAX_LIST = 64
MAX_DEPTH = 8


class CardLimitError(ValueError):
    """A model card value outside its limits; the message names the field."""


def _number(where: str, v: Any, limits: tuple[float, float] | None) -> None:
    if not math.isfinite(v):
        raise CardLimitError(f"{where} is {v}, not a finite number")
    lo, hi = limits or (-GENERAL_LIMIT, GENERAL_LIMIT)
    if not lo <= v <= hi:
        raise CardLimitError(f"{where} = {v} is outside the allowed range {lo:g}..{hi:g}")


def _check_value(where: str, key: str, v: Any, table: dict[str, tuple[float, float]], depth: int) -> None:
    """Check one value (recursing into lists and objects) against `table` by its key."""
    if depth > MAX_DEPTH:
        raise CardLimitError(f"{where} is nested too deeply")
    if isinstance(v, bool) or v is None:
        return
    if isinstance(v, (int, float)):
        _number(where, v, table.get(key))
    elif isinstance(v, str):
        if len(v) > MAX_TEXT:
            raise CardLimitError(f"{where} is {len(v):,} characters long (limit {MAX_TEXT:,})")
    elif isinstance(v, list):
        if len(v) > MAX_LIST:
            raise CardLimitError(f"{where} has {len(v)} entries (limit {MAX_LIST})")
        for i, item in enumerate(v):
            _check_value(f"{where}[{i}]", key, item, table, depth + 1)
    elif isinstance(v, dict):
        for k, item in v.items():
            _check_value(f"{where}.{k}", str(k), item, table, depth + 1)
    else:
        raise CardLimitError(f"{where} has an unsupported type {type(v).__name__}")


def check_card_limits(d: dict[str, Any]) -> None:
    """Raise CardLimitError when a card dict's classes, architecture arguments or input spec are out of
    bounds (called by `ModelCard.from_dict` before a model is built)."""
    classes = d.get("classes", ["0"])
    if isinstance(classes, list) and not 1 <= len(classes) <= MAX_CLASSES:
        raise CardLimitError(f"classes has {len(classes)} entries (1..{MAX_CLASSES} allowed)")
    for i, c in enumerate(classes if isinstance(classes, list) else []):
        if isinstance(c, str) and len(c) > 100:
            raise CardLimitError(f"classes[{i}] is longer than 100 characters")
    arch = d.get("architecture")
    if isinstance(arch, dict):
        _check_value("architecture.name", "name", arch.get("name"), {}, 1)
        _check_value("architecture.kwargs", "kwargs", arch.get("kwargs", {}), KWARG_LIMITS, 1)
    spec = d.get("input_spec", {})
    if not isinstance(spec, dict):
        raise CardLimitError("input_spec must be an object")
    _check_value("input_spec", "input_spec", spec, SPEC_LIMITS, 1)
    for key in ("name", "version", "method", "command", "created", "sha256", "description"):
        if key in d and not isinstance(d[key], (str, type(None))):
            raise CardLimitError(f"{key} must be text")
        _check_value(key, key, d.get(key), {}, 1)
