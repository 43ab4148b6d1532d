"""`her2viewer tissue PATH [--tma|--no-tma]`: print the tissue regions and TMA cores of a slide as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import fail


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the `tissue` sub-command."""
    parser.add_argument("path", metavar="PATH", help="slide or core image")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--tma", dest="tma", action="store_true", default=None,
                       help="treat the image as a TMA and dearray it (default: detect)")
    group.add_argument("--no-tma", dest="tma", action="store_false", help="report tissue regions only")
    parser.add_argument("--downsample", type=float, default=None,
                        help="level-0 pixels per mask pixel for the tissue mask (default: the same as dearraying, "
                             "her2viewer.tissue.mask.DEFAULT_DOWNSAMPLE)")
    parser.add_argument("--core-diameter-um", type=float, default=None,
                        help="expected TMA core diameter in micrometres (default: estimated)")


def tissue_report(source, *, tma: bool | None = None, downsample: float | None = None,
                  core_diameter_um: float | None = None) -> dict:
    """The JSON-ready tissue/TMA description of an open slide."""
    from ..tissue.mask import DEFAULT_DOWNSAMPLE, tissue_mask
    from ..tissue.tma import find_cores, tma_verdict

    tm = tissue_mask(source, target_downsample=downsample or DEFAULT_DOWNSAMPLE)
    cores: list = []
    if tma is not False and not tm.empty:
        cores, _, n_round = find_cores(source, expected_diameter_um=core_diameter_um, tissue=tm)
        if tma is None:
            tma = tma_verdict(cores, tm, n_round, source.dimensions)
            if not tma:
                cores = []
    areas_um2 = tm.areas_um2()
    regions = []
    for i, bbox in enumerate(tm.regions):
        entry: dict = {"bbox": list(bbox)}
        if areas_um2 is not None:
            entry["area_um2"] = round(areas_um2[i], 1)
        else:
            entry["area_px"] = round(tm.areas_l0px[i], 1)
        regions.append(entry)
    return {
        "slide": str(source.path),
        "dimensions": list(source.dimensions),
        "mpp": source.mpp,
        "downsample": round(tm.downsample, 4),
        "tma": bool(tma),
        "cores": [{"id": c.id, "bbox": list(c.l0_bbox), "center": [round(v, 1) for v in c.l0_center],
                   "radius": round(c.l0_radius, 1)} for c in cores],
        "regions": regions,
    }


def run(args: argparse.Namespace) -> int:
    """Open the slide, find tissue (and cores), print JSON; non-zero exit with a message on bad input."""
    from ..slide import open_slide
    from ..slide.base import SlideOpenError

    path = Path(args.path)
    try:
        source = open_slide(path)
    except SlideOpenError as e:
        return fail(str(e))
    except Exception as e:  # noqa: BLE001 - any reader failure is the user's file, not a crash
        return fail(f"Cannot open {path}: {e}")
    try:
        with source:
            report = tissue_report(source, tma=args.tma, downsample=args.downsample,
                                   core_diameter_um=args.core_diameter_um)
    except Exception as e:  # noqa: BLE001
        return fail(f"Cannot read the tissue of {path}: {e}")
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0
