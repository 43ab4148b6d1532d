"""Limits on what an annotation may carry: finite numbers, bounded text, depth and vertex counts.

Import refuses a file whose properties hold a non-finite number (`1e999` parses as infinity) so nothing is
imported that could not be written back; writing replaces any non-finite number that slipped in by null,
so one bad value can never make every later autosave of a slide fail.
"""

from __future__ import annotations

import math
from typing import Any

#: properties (measurements, metadata) nested deeper than this are refused
MAX_PROPERTY_DEPTH = 16
#: characters of one text value in the properties, a name or a class name
MAX_TEXT = 100_000
#: "[" characters in a GeoJSON text over this many times the vertex cap: refused before parsing
BRACKETS_PER_VERTEX = 1.2


class PropertyProblem(ValueError):
    """A property value that cannot be kept; the message names the field."""


def check_properties(props: dict[str, Any], where: str = "properties") -> None:
    """Raise PropertyProblem for a non-finite number, an over-long text or too deep nesting in `props`."""
    stack: list[tuple[str, Any, int]] = [(where, props, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise PropertyProblem(f"{path} is {value}, not a finite number")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise PropertyProblem(f"{path} is {len(value):,} characters long (limit {MAX_TEXT:,})")
        if isinstance(value, (dict, list)):
            if depth >= MAX_PROPERTY_DEPTH:
                raise PropertyProblem(f"{path} is nested more than {MAX_PROPERTY_DEPTH} levels deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                stack.append((f"{path}.{k}" if isinstance(value, dict) else f"{path}[{k}]", v, depth + 1))


def finite_or_null(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (for writing JSON that stays valid)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value


def too_many_vertices(text: str, max_vertices: int) -> bool:
    """True when GeoJSON `text` surely holds more than `max_vertices` positions (checked before parsing:
    parsing itself would allocate the lists)."""
    return text.count("[") > max_vertices * BRACKETS_PER_VERTEX + 10_000
