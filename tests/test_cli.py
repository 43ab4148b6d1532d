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


def test_top_level_flags_go_before_the_implicit_gui_command(monkeypatch):
    import her2viewer.cli as cli

    seen = {}

    def fake_parse(self, argv):
        seen["argv"] = argv
        raise SystemExit(0)

    monkeypatch.setattr(cli.argparse.ArgumentParser, "parse_args", fake_parse)
    try:
        cli.main(["slide.svs", "-vv", "--screenshot", "x.png"])
    except SystemExit:
        pass
    assert seen["argv"] == ["-vv", "gui", "slide.svs", "--screenshot", "x.png"]
