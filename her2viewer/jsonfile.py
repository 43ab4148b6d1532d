"""Reading JSON input files: one place that turns unreadable, non-UTF-8, invalid, too deep or non-finite JSON into
one `JSONFileError` naming the file and the problem. Every JSON input of the application reads through here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: JSON files larger than this are refused before they are read (model cards, results, GeoJSON, profiles)
MAX_JSON_BYTES = 256 * 1024 * 1024


class JSONFileError(ValueError):
    """A JSON input that cannot be used; the message names the file (or source) and the problem."""

    def __init__(self, source: str | Path, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{source}: {problem}")


def _size(n_bytes: int) -> str:
    """A size in MiB with three significant digits ('300 MiB', '0.0586 MiB')."""
    return f"{n_bytes / 2**20:.3g} MiB"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} (JSON has no NaN or Infinity)")


def parse_json(text: str | bytes, source: str | Path = "<text>", what: str = "JSON",
               *, allow_nonfinite: bool = False) -> Any:
    """Parse JSON text; `what` names the kind of file in the message (e.g. "model card")."""
    try:
        if allow_nonfinite:
            return json.loads(text)
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise JSONFileError(source, f"the {what} is not valid JSON ({e})") from None
    except RecursionError:
        raise JSONFileError(source, f"the {what} is not valid JSON (nested too deeply)") from None
    except ValueError as e:  # non-finite constant, or bytes that are not UTF-8
        raise JSONFileError(source, f"the {what} cannot be read: {e}") from None


def read_json(path: str | Path, what: str = "JSON file", *, max_bytes: int = MAX_JSON_BYTES,
              allow_nonfinite: bool = False) -> Any:
    """Read and parse a JSON file, refusing a missing, non-regular, oversized or non-UTF-8 file with a message."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as e:
        raise JSONFileError(p, f"cannot read the {what}: {e.strerror or e}") from None
    if not p.is_file():
        raise JSONFileError(p, f"the {what} is not a regular file")
    if st.st_size > max_bytes:
        raise JSONFileError(p, f"the {what} is {_size(st.st_size)}, more than the {_size(max_bytes)} it may have")
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise JSONFileError(p, f"cannot read the {what}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise JSONFileError(p, f"the {what} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    return parse_json(text, p, what, allow_nonfinite=allow_nonfinite)
