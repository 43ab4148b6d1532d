"""One module per `her2viewer` sub-command: `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations

import sys


def fail(message: str, code: int = 2) -> int:
    """Print a one-line error for the user and return the exit code."""
    print(f"her2viewer: error: {message}", file=sys.stderr)
    return code
