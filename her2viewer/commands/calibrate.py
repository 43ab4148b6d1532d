"""`her2viewer calibrate --data DIR --out profile.json`: fit the rules scorer's stain profile (membrane
cut-offs, completeness and percentage cuts) to a lab's own labelled images (DIR/labels.csv: file,label).

Prints the accuracy and confusion matrix of the starting profile (the shipped one, or `--start P`) and the
leave-one-out accuracy of the fit (each image scored with cut-offs fitted on all the others), then writes
the profile fitted on all images with those figures in it. Use it with `score --profile profile.json` or in
the viewer's Scoring panel.
"""

from __future__ import annotations

import argparse
import logging

from . import fail

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the calibrate command."""
    parser.add_argument("--data", required=True, help="folder with labels.csv (file,label) and the images")
    parser.add_argument("--out", required=True, help="the stain profile (JSON) to write")
    parser.add_argument("--start", default=None, help="profile to start from and compare with (default: shipped)")
    parser.add_argument("--mpp", type=float, default=None, metavar="UM_PER_PX",
                        help="the images' pixel size in um/px when their files state none (default: estimated)")
    parser.add_argument("--name", default=None, help="the profile's name (default: the data folder's name)")
    parser.add_argument("--fit", default="scale", choices=["scale", "intensity", "full"],
                        help="scale (default): one factor on the OD cut-offs and the completeness cut; intensity: "
                        "the weak-moderate and strong cut-offs apart and the completeness cut; full: every cut-off "
                        "and the percentage cut (needs many images)")
    parser.add_argument("--licence", default="", help="licence of the images, recorded in the profile")


def run(args: argparse.Namespace) -> int:
    """Measure, fit, cross-validate, write; 0 on success."""
    from pathlib import Path

    from ..scoring.rules.calibrate import CalibrationError, calibrated_profile, measure_folder
    from ..scoring.rules.confidence import confidence_summary
    from ..scoring.rules.profile import ProfileError, StainProfile, default_profile
    from ..slide.base import SlideOpenError
    from .score import check_mpp

    if problem := check_mpp(args.mpp):
        return fail(problem)
    try:
        start = StainProfile.load(args.start) if args.start else default_profile()
    except ProfileError as e:
        return fail(str(e))
    data = Path(args.data)
    try:
        images = measure_folder(data, args.mpp, on_image=lambda m: print(
            f"  {m.file}: label {m.label}, {m.n} tumour cells, {m.mpp:.3g} um/px ({m.mpp_source})", flush=True))
    except (CalibrationError, SlideOpenError) as e:
        return fail(str(e))
    profile, before, loo = calibrated_profile(images, start, args.fit, args.name or data.resolve().name,
                                              args.licence)
    print(f"\nbefore ({start.name}): accuracy {before.accuracy:.1%}, within one class {before.within_one:.1%}")
    print(before.confusion_text())
    print(f"\nafter, leave-one-out: accuracy {loo.accuracy:.1%}, within one class {loo.within_one:.1%}")
    print(loo.confusion_text())
    print(confidence_summary(profile.confidence))
    try:
        out = profile.save(args.out)
    except OSError as e:
        return fail(f"cannot write {args.out}: {e}")
    t = profile.to_dict()["thresholds"]
    print(f"\nprofile fitted on all {len(images)} images -> {out}: " + ", ".join(f"{k} {v}" for k, v in t.items()))
    return 0
