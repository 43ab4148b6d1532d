"""`her2viewer patches SLIDE --annotations A.geojson --size 224 --mpp 0.5 --out DIR`: labelled patches.

Writes DIR/<slide>/<label>/*.png and DIR/labels.csv (path,label,patient_id,slide,x,y,size,mpp,overlap),
which the training module reads as a patch data set. The labelling rule is in
her2viewer/annotations/patches.py.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import fail

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the patches command."""
    parser.add_argument("slide", help="slide or image file")
    parser.add_argument("--annotations", required=True, help="GeoJSON annotations (QuPath export works)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--size", type=int, default=224, help="patch side in pixels (default 224)")
    parser.add_argument("--mpp", type=float, default=0.5, help="patch resolution in um/px (default 0.5)")
    parser.add_argument("--slide-mpp", type=float, default=None, metavar="UM_PER_PX",
                        help="the slide's pixel size in um/px (overrides the file's and the estimate from the "
                        "image; --mpp is the patches' resolution)")
    parser.add_argument("--min-overlap", type=float, default=0.05,
                        help="fraction of the patch an annotation must cover to label it (default 0.05)")
    parser.add_argument("--tissue-only", action="store_true",
                        help="keep only patches that are mostly tissue (see --min-tissue)")
    parser.add_argument("--min-tissue", type=float, default=0.5, help="tissue fraction for --tissue-only")
    parser.add_argument("--include-unlabelled", action="store_true",
                        help="also write patches no annotation labels (label left empty)")
    parser.add_argument("--patient-id", default=None, help="patient id for the CSV (default: slide name)")
    parser.add_argument("--append", action="store_true",
                        help="keep other slides' rows already in DIR/labels.csv")


def run(args: argparse.Namespace) -> int:
    """Cut and label the patches; 0 on success."""
    from ..annotations.geojson import AnnotationIOError, read_geojson
    from ..annotations.patches import LabelRule, export_patches, tissue_region_mask
    from ..slide import SlideOpenError, open_slide

    if not 0.0 < args.min_overlap <= 1.0:
        return fail("--min-overlap must be a fraction in (0, 1]")
    try:
        anns = read_geojson(args.annotations).annotations
    except AnnotationIOError as e:
        return fail(str(e))
    try:
        source = open_slide(args.slide)
    except SlideOpenError as e:
        return fail(str(e))
    from ..qc.pixel_size import resolve_pixel_size
    from .score import check_mpp

    if problem := check_mpp(args.slide_mpp):
        return fail(problem.replace("--mpp", "--slide-mpp"))
    try:
        ps = resolve_pixel_size(source, args.slide_mpp)
        if ps.source in ("estimated", "assumed"):
            print(f"{args.slide}: the file states no pixel size; using {ps.describe()}", file=sys.stderr)
        tissue = tissue_region_mask(source) if args.tissue_only else None
        res = export_patches(source, anns, args.out, size=args.size, mpp=args.mpp, slide_mpp=ps.mpp,
                             rule=LabelRule(min_overlap=args.min_overlap), tissue=tissue,
                             min_tissue=args.min_tissue, include_unlabelled=args.include_unlabelled,
                             slide_name=Path(args.slide).stem, patient_id=args.patient_id, append=args.append)
    except (ValueError, OSError) as e:
        return fail(str(e))
    finally:
        source.close()
    summary = ", ".join(f"{k or 'unlabelled'}: {v}" for k, v in sorted(res.counts.items())) or "none"
    print(f"{len(res.rows)} patches ({summary}) -> {res.csv_path}")
    return 0
