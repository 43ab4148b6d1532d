"""`her2viewer [gui] [SLIDE ...] [--screenshot OUT.png [--view x,y,w,h] [--size WxH]]`: the viewer window."""

from __future__ import annotations

import argparse
import os
import sys

from . import fail


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the `gui` sub-command (also used when no sub-command is given)."""
    parser.add_argument("paths", nargs="*", metavar="SLIDE", help="slides or core images to open as tabs")
    parser.add_argument("--screenshot", metavar="OUT.png",
                        help="render the first slide offscreen once every visible tile is in, save, exit")
    parser.add_argument("--view", metavar="X,Y,W,H",
                        help="with --screenshot: the level-0 rectangle to show (default: whole slide)")
    parser.add_argument("--size", metavar="WxH", help="with --screenshot: image size in pixels (default 1200x800)")
    parser.add_argument("--overlays", metavar="NAMES", default="",
                        help="comma-separated overlays to compute and show: tissue, tma")
    parser.add_argument("--window", action="store_true",
                        help="with --screenshot: capture the whole window, not just the slide view")


def has_display() -> bool:
    """True when a window can be shown (X11 or Wayland on Linux; always elsewhere)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args: argparse.Namespace) -> int:
    """Open the viewer, or take a headless screenshot."""
    overlays = [o.strip() for o in args.overlays.split(",") if o.strip()]
    unknown = [o for o in overlays if o not in ("tissue", "tma")]
    if unknown:
        return fail(f"unknown overlay {unknown[0]!r}; choose from tissue, tma")
    if args.screenshot:
        if not args.paths:
            return fail("--screenshot needs a SLIDE to open")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    elif not has_display() and not os.environ.get("QT_QPA_PLATFORM"):
        return fail("there is no display (DISPLAY / WAYLAND_DISPLAY unset); use --screenshot OUT.png "
                    "to render a view headless, or `her2viewer score SLIDE` to score it")
    if args.screenshot and not os.path.exists(args.paths[0]):
        return fail(f"{args.paths[0]} does not exist")
    try:
        from ..ui.app import parse_size, parse_view, run_viewer

        view = parse_view(args.view)
        size = parse_size(args.size)
    except ValueError as exc:
        return fail(str(exc))
    except ImportError as exc:
        return fail(f"the viewer needs Qt (PySide6), which cannot be loaded: {exc}")
    return run_viewer(args.paths, screenshot=args.screenshot, view=view, size=size, overlays=overlays,
                      whole_window=args.window)
