"""`her2viewer info PATH`: print a slide's metadata as JSON.

`mpp` is the pixel size every scorer uses and `mpp_source` where it came from: `file`, `user` (`--mpp`),
`estimated` from the nuclei (with `mpp_uncertainty`, relative) or `assumed`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import fail

#: property name prefixes shown unless --all-properties
SELECTED_PREFIXES = ("openslide.", "aperio.AppMag", "aperio.MPP", "aperio.Date", "aperio.ScanScope ID",
                     "hamamatsu.SourceLens", "leica.objective", "tiff.ImageDescription", "tiff.Software",
                     "tiff.Make", "tiff.Model", "her2viewer.")
MAX_VALUE_CHARS = 300


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `her2viewer info`."""
    parser.add_argument("path", help="slide or image file")
    parser.add_argument("--all-properties", action="store_true", help="print every vendor property in full")
    parser.add_argument("--indent", type=int, default=2, help="JSON indentation (0: one line)")
    parser.add_argument("--mpp", type=float, default=None, metavar="UM_PER_PX",
                        help="the slide's pixel size in um/px (overrides the file's and the estimate)")
    parser.add_argument("--no-estimate", action="store_true",
                        help="do not estimate a pixel size the file does not state (mpp is then null)")


def slide_info(source: Any, all_properties: bool = False) -> dict[str, Any]:
    """A JSON-ready dict of a SlideSource's metadata."""
    props = source.properties
    if not all_properties:
        props = {k: (v if len(v) <= MAX_VALUE_CHARS else v[:MAX_VALUE_CHARS] + "...")
                 for k, v in sorted(props.items()) if k.startswith(SELECTED_PREFIXES)
                 and not k.startswith("openslide.level[")}
    return {
        "path": source.path,
        "backend": type(source).__name__,
        "vendor": source.vendor,
        "dimensions": list(source.dimensions),
        "level_count": source.level_count,
        "levels": [{"dimensions": list(dims), "downsample": round(float(ds), 6)}
                   for dims, ds in zip(source.level_dimensions, source.level_downsamples, strict=True)],
        "mpp": source.mpp,
        "mpp_source": getattr(source, "mpp_source", None),
        **({"mpp_uncertainty": round(float(source.mpp_uncertainty), 3)}
           if getattr(source, "mpp_uncertainty", None) is not None else {}),
        "objective_power": source.objective_power,
        "associated_images": {name: [int(img.shape[1]), int(img.shape[0])]
                              for name, img in source.associated_images.items()},
        "properties": props,
    }


def run(args: argparse.Namespace) -> int:
    """Open the slide, print its metadata; a one-line error and exit 2 when it cannot be read."""
    from her2viewer.qc.pixel_size import resolve_pixel_size
    from her2viewer.slide import SlideOpenError, open_slide

    from .score import check_mpp

    if problem := check_mpp(args.mpp):
        return fail(problem)
    try:
        with open_slide(args.path) as source:
            if args.mpp is not None or source.mpp or not args.no_estimate:
                resolve_pixel_size(source, args.mpp)   # the pixel size the scorers use, with its source
            info = slide_info(source, args.all_properties)
    except SlideOpenError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"Cannot read {args.path}: {exc}")
    json.dump(info, sys.stdout, indent=args.indent or None)
    sys.stdout.write("\n")
    return 0
