"""`her2viewer [gui] [SLIDE ...] [--project DIR] [--score METHOD] [--screenshot OUT.png [--view x,y,w,h] [--size WxH]]`: the
viewer window (with --score: scored once open)."""

from __future__ import annotations

import argparse
import os
import sys

from . import fail


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the `gui` sub-command (also used when no sub-command is given)."""
    parser.add_argument("paths", nargs="*", metavar="SLIDE", help="slides or core images to open as tabs")
    parser.add_argument("--project", metavar="DIR",
                        help="open the project in DIR (created when the folder holds none); with --screenshot and "
                             "no SLIDE: the window with the project's case list")
    parser.add_argument("--screenshot", metavar="OUT.png",
                        help="render the first slide offscreen once every visible tile is in, save, exit")
    parser.add_argument("--view", metavar="X,Y,W,H",
                        help="with --screenshot: the level-0 rectangle to show (default: whole slide)")
    parser.add_argument("--size", metavar="WxH", help="with --screenshot: image size in pixels (default 1200x800)")
    parser.add_argument("--overlays", metavar="NAMES", default="",
                        help="comma-separated overlays to compute and show: tissue, tma")
    parser.add_argument("--window", action="store_true",
                        help="with --screenshot: capture the whole window, not just the slide view")
    parser.add_argument("--score", metavar="METHOD",
                        help="score the slide with METHOD (rules, pss, ...) once it is open; with --screenshot the "
                             "window is captured with the finished result")
    parser.add_argument("--model", metavar="CKPT", help="with --score: the model checkpoint (default: bundled)")
    parser.add_argument("-N", dest="n_samples", type=int, default=20, help="with --score: samples per core")
    parser.add_argument("-k", dest="top_k", type=int, default=5, help="with --score: most confident samples kept")


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
        if not args.paths and not args.project:
            return fail("--screenshot needs a SLIDE (or --project DIR) to open")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    elif not has_display() and not os.environ.get("QT_QPA_PLATFORM"):
        return fail("there is no display (DISPLAY / WAYLAND_DISPLAY unset); use --screenshot OUT.png "
                    "to render a view headless, or `her2viewer score SLIDE` to score it")
    if args.screenshot and args.paths and not os.path.exists(args.paths[0]):
        return fail(f"{args.paths[0]} does not exist")
    try:
        from ..scoring.base import ScoreOptions
        from ..ui.app import parse_size, parse_view, run_viewer

        view = parse_view(args.view)
        size = parse_size(args.size, (1600, 1000) if args.score else (1200, 800))
        score_options = ScoreOptions(n_samples=args.n_samples, top_k=args.top_k, model_path=args.model)
    except ValueError as exc:
        return fail(str(exc))
    except ImportError as exc:
        return fail(f"the viewer needs Qt (PySide6), which cannot be loaded: {exc}")
    if args.screenshot:  # an unreadable slide: one line and exit 2 here, before the viewer starts
        from ..slide import SlideOpenError, open_slide

        try:
            open_slide(args.paths[0]).close()
        except SlideOpenError as exc:
            return fail(str(exc))
    return run_viewer(args.paths, screenshot=args.screenshot, view=view, size=size, overlays=overlays,
                      whole_window=args.window, score=args.score, score_options=score_options,
                      project=args.project)
