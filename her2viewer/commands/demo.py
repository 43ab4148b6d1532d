"""`her2viewer demo [--headless]`: open the demo TMA slide in the viewer, or score it when headless."""

from __future__ import annotations

import argparse
import sys

from . import fail
from .gui import has_display


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the `demo` sub-command."""
    parser.add_argument("--headless", action="store_true",
                        help="do not open a window: score the demo slide and print the JSON result")


def run(args: argparse.Namespace) -> int:
    """Make (once) and open the demo slide; without a display, score it instead."""
    try:
        from ..synth.demo import demo_slide_path

        path = demo_slide_path(create=True)
    except ImportError as exc:
        return fail(f"the demo slide generator is not available: {exc}")
    except Exception as exc:
        return fail(f"cannot create the demo slide: {exc}")
    if args.headless or not has_display():
        reason = "--headless" if args.headless else "there is no display (DISPLAY / WAYLAND_DISPLAY unset)"
        print(f"her2viewer demo: {reason}; scoring {path} instead of opening the viewer.", file=sys.stderr)
        return _score_headless(str(path))
    from ..ui.app import run_viewer

    return run_viewer([str(path)], overlays=["tma"], score=demo_method())


def demo_method() -> str:
    """The method the demo scores with: PSS with the bundled default model, or the rules if it is missing."""
    from ..models.checkpoint import checkpoint_exists, default_model_path

    if checkpoint_exists(default_model_path("pss")):
        return "pss"
    print(f"her2viewer demo: no bundled PSS model at {default_model_path('pss')}; using the rule-based scorer.",
          file=sys.stderr)
    return "rules"


def _score_headless(path: str) -> int:
    """Run `her2viewer score PATH --method pss --json -` (the bundled default model), with a clear message
    when the scorer is missing or fails."""
    import importlib.util

    from .. import cli

    if importlib.util.find_spec("her2viewer.commands.score") is None:
        return fail("the headless scorer (`her2viewer score`) is not installed in this build; "
                    f"the demo slide is at {path}")
    try:
        code = cli.main(["score", path, "--method", demo_method(), "--json", "-"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:
        return fail(f"scoring the demo slide {path} failed: {type(exc).__name__}: {exc}")
    if code:
        print(f"her2viewer demo: scoring {path} failed (exit code {code}).", file=sys.stderr)
    return int(code)
