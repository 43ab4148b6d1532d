"""Run `python -m her2viewer ...` in a child process and learn the child's own peak memory.

Linux keeps a parent's peak RSS in the `ru_maxrss` that `wait4` reports for a forked and exec'ed child (the
copy of the parent counts until exec), so a child spawned from a 2 GB pytest process reads as 2 GB. The child
therefore reports its own VmHWM (peak RSS since exec) into a file at exit.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PEAK_FILE_ENV = "HER2_PEAK_FILE"

#: the child's program: her2viewer's CLI, writing /proc/self/status VmHWM (KiB) to $HER2_PEAK_FILE at exit
CHILD_CODE = (
    "import atexit, os, sys\n"
    "def _peak():\n"
    "    path = os.environ.get('" + PEAK_FILE_ENV + "')\n"
    "    if not path:\n"
    "        return\n"
    "    with open('/proc/self/status', encoding='ascii') as f:\n"
    "        kb = next((int(l.split()[1]) for l in f if l.startswith('VmHWM:')), 0)\n"
    "    with open(path, 'w', encoding='ascii') as f:\n"
    "        f.write(str(kb))\n"
    "atexit.register(_peak)\n"
    "sys.argv[0] = 'her2viewer'\n"
    "from her2viewer.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def child_argv(argv: list[str]) -> list[str]:
    """The command line that runs `her2viewer ARGV` and reports its own peak (see CHILD_CODE)."""
    return [sys.executable, "-c", CHILD_CODE, *argv]


def child_env(peak_file: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with the peak file set."""
    env = dict(os.environ if base is None else base)
    env[PEAK_FILE_ENV] = str(peak_file)
    return env


def read_peak_mb(peak_file: Path) -> float | None:
    """The child's peak RSS in MiB, or None when it did not get to write it (killed, crashed)."""
    try:
        return int(peak_file.read_text(encoding="ascii")) / 1024.0
    except (OSError, ValueError):
        return None
