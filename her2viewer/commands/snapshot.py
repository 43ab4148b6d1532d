"""`her2viewer snapshot SLIDE --out F.png [--view X,Y,W,H] [--magnification M] [--result R.json] [--overlays ...]`:
the viewer's rendering of a slide area (tiles, a result's heatmap / cells / boxes / cores, tissue or TMA
overlays, legends, scale bar) saved as PNG or TIFF, without a display."""

from __future__ import annotations

import argparse
import os

from . import fail


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the snapshot command."""
    parser.add_argument("slide", help="slide or image file")
    parser.add_argument("--out", required=True, help="the image to write (.png, .tif or .tiff)")
    parser.add_argument("--view", metavar="X,Y,W,H", help="level-0 rectangle (default: the whole slide)")
    parser.add_argument("--magnification", type=float, default=None, metavar="M",
                        help="render at this magnification (e.g. 10 for 10x; needs the slide's pixel size); "
                             "default: the longer side at --max-side px")
    parser.add_argument("--max-side", type=int, default=1600, help="longer side without --magnification (px)")
    parser.add_argument("--result", default=None, metavar="R.json", help="a score result to draw (its evidence)")
    parser.add_argument("--overlays", default="", metavar="NAMES", help="comma-separated: tissue, tma")
    parser.add_argument("--mpp", type=float, default=None, metavar="UM_PER_PX",
                        help="the slide's pixel size when the file states none (for the scale bar)")


def run(args: argparse.Namespace) -> int:
    """Render and save; 0 on success, 2 on bad input."""
    from ..scoring.result import ContractError, ScoreResult
    from .score import check_mpp

    overlays = [o.strip() for o in args.overlays.split(",") if o.strip()]
    if bad := [o for o in overlays if o not in ("tissue", "tma")]:
        return fail(f"unknown overlay {bad[0]!r}; choose from tissue, tma")
    if not str(args.out).lower().endswith((".png", ".tif", ".tiff")):
        return fail(f"{args.out}: the snapshot must be a .png, .tif or .tiff file")
    if args.magnification is not None and not 0.1 <= args.magnification <= 200:
        return fail(f"--magnification must be between 0.1 and 200, got {args.magnification:g}")
    if not 16 <= args.max_side <= 12000:
        return fail(f"--max-side must be between 16 and 12000 px, got {args.max_side}")
    if problem := check_mpp(args.mpp):
        return fail(problem)
    if not os.path.exists(args.slide):
        return fail(f"{args.slide} does not exist")
    try:
        result = ScoreResult.load(args.result) if args.result else None
        from ..ui.app import parse_view

        view = parse_view(args.view)
    except (ContractError, ValueError) as e:
        return fail(str(e))
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        from ..ui.app import run_snapshot
    except ImportError as exc:
        return fail(f"snapshots need Qt (PySide6), which cannot be loaded: {exc}")
    return run_snapshot(args.slide, args.out, view=view, magnification=args.magnification, result=result,
                        overlays=overlays, max_side=args.max_side, mpp=args.mpp)
