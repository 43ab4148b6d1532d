"""Measure how honest the rules scorer's confidence is on labelled real images, and (with --write) give a
stain profile that was NOT fitted on them the call precision of its cut-offs there.

    python -m training.rules_confidence --data ../shared/data/real_dev [--profile P] [--write] [--licence TEXT]

The default profile is the synthetic one (`SYNTHETIC_PROFILE`), whose calls on real images are out-of-sample.
A profile fitted on the images (the shipped `rules_default.json`) gets its call precision from the
leave-one-out calls of `her2viewer calibrate` instead; writing it from its own in-sample calls is refused. The
figures printed (and stored) are the bootstrap's ECE and the ECE with the call precision, each image passed
through a matrix fitted on the others (leave-one-out).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from her2viewer.scoring.rules.calibrate import evaluate, measure_folder
from her2viewer.scoring.rules.confidence import call_precision_section
from her2viewer.scoring.rules.profile import SYNTHETIC_PROFILE, StainProfile

REAL_DEV_LICENCE = ("BCI patches: non-commercial research and teaching only (Liu et al., CVPR Workshops 2022); "
                    "Warwick HER2 contest tiles")


def main(argv: list[str] | None = None) -> int:
    """Measure, print, and optionally write a profile's confidence entry (not one fitted on the images)."""
    ap = argparse.ArgumentParser(prog="python -m training.rules_confidence", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder with labels.csv (file,label) and the images")
    ap.add_argument("--profile", default=str(SYNTHETIC_PROFILE),
                    help="profile to measure (default: the synthetic one, never fitted on real images)")
    ap.add_argument("--write", action="store_true", help="store the call precision in that profile")
    ap.add_argument("--licence", default=REAL_DEV_LICENCE, help="licence of the images, recorded with it")
    args = ap.parse_args(argv)
    profile = StainProfile.load(args.profile)
    if args.write and isinstance(profile.cross_validation, dict) and profile.cross_validation.get("method"):
        print(f"{args.profile} was fitted on labelled images ({profile.fitted_on[:80]}...): its call precision "
              "comes from the leave-one-out calls of `her2viewer calibrate`, not from its own calls; not written",
              file=sys.stderr)
        return 2
    images = measure_folder(args.data)
    ev = evaluate(images, profile.membrane, profile.positive_pct)
    data = Path(args.data).resolve()
    section = call_precision_section(
        ev.predictions, ev.labels, ev.probabilities,
        fitted_on=f"calls of these cut-offs (not fitted on them) on the {len(images)} labelled real images of "
                  f"{data.name}; slide-level labels",
        data_licence=args.licence,
        command=f"python -m training.rules_confidence --data {args.data} --profile {args.profile} --write")
    print(ev.confusion_text())
    print(f"{section['n']} assessable of {len(images)}: accuracy {section['accuracy']:.1%}")
    print(f"bootstrap alone:              mean confidence {section['mean_confidence_bootstrap']:.3f}, "
          f"ECE {section['ece_bootstrap']:.3f}")
    print(f"with the call precision (LOO): mean confidence {section['mean_confidence_calibrated_loo']:.3f}, "
          f"ECE {section['ece_calibrated_loo']:.3f}")
    print("call precision (rows: call 0..3+, columns: label):")
    for row in section["matrix"]:
        print("  " + "  ".join(f"{v:.3f}" for v in row))
    if args.write:
        out = replace(profile, confidence=section).save(args.profile)
        print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
