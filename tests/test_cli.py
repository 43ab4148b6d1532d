"""The command dispatcher: help lists the sub-commands, unknown input is an error, not a traceback."""

from __future__ import annotations

import subprocess
import sys

from her2viewer.cli import build_parser, main


def test_help_lists_commands(capsys):
    parser = build_parser()
    text = parser.format_help()
    for name in ("score", "synth", "info", "tissue"):
        assert name in text


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert "her2viewer" in capsys.readouterr().out


def test_console_entry_runs_as_module():
    out = subprocess.run([sys.executable, "-m", "her2viewer", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "score" in out.stdout
