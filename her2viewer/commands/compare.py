"""`her2viewer compare`: every scoring method in the same patient-wise cross-validation on one labelled set,
reported as the IPD-Breast paper's table (AUC, macro F1, accuracy; mean +/- sd over folds; 4-way, 3-way and
binary HER2 0 vs >= 1+).

    her2viewer compare --data DIR_or_CSV [--folds 10] [--methods pss,rules,mil_abmil,...] [--out REPORT]

Writes REPORT.json (per-fold metrics, out-of-fold predictions, settings) and REPORT.md (the table) and
prints the table. See `training.compare` for what is trained per fold and what is fixed.
"""

from __future__ import annotations

import argparse
import logging

from . import fail

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `her2viewer compare`."""
    from training.compare import ALL_METHODS

    parser.add_argument("--data", required=True, help="labelled set: a folder with labels.csv or a CSV")
    parser.add_argument("--methods", default=",".join(ALL_METHODS),
                        help=f"comma-separated methods (default all: {','.join(ALL_METHODS)})")
    parser.add_argument("--folds", type=int, default=10, help="patient-wise stratified folds (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pss-model", default="", help="PSS checkpoint (default: the bundled model)")
    parser.add_argument("--patch-model", default="", help="patch classifier checkpoint (default: the bundled one)")
    parser.add_argument("--feature-cache", default="", help="folder for tile features (default: the user cache)")
    parser.add_argument("--mil-epochs", type=int, default=25)
    parser.add_argument("--lowres-epochs", type=int, default=20)
    parser.add_argument("--lowres-size", type=int, default=224, choices=(224, 512))
    parser.add_argument("--lowres-model", default="lowres_mobilenetv2", help="registry name of the low-res model")
    parser.add_argument("--lowres-init", default="imagenet", choices=("random", "imagenet"))
    parser.add_argument("--lowres-lr", type=float, default=3e-4)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--predictions-dir", default="",
                        help="keep each method's predictions here; a re-run with the same settings reuses them")
    parser.add_argument("--out", default="", help="write OUT.json and OUT.md")


def run(args: argparse.Namespace) -> int:
    """Run the comparison and print the table."""
    from training.compare import CompareConfig, compare, write_report
    from training.cv import SplitError
    from training.items import DatasetError, read_items

    from ..models.checkpoint import CheckpointError

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    cfg = CompareConfig(data=args.data, methods=methods, folds=args.folds, seed=args.seed, pss_model=args.pss_model,
                        patch_model=args.patch_model, feature_cache=args.feature_cache, mil_epochs=args.mil_epochs,
                        lowres_epochs=args.lowres_epochs, lowres_size=args.lowres_size, device=args.device,
                        lowres_model=args.lowres_model, lowres_init=args.lowres_init, lowres_lr=args.lowres_lr,
                        predictions_dir=args.predictions_dir)
    try:
        items = read_items(args.data)
        result = compare(cfg, items)
    except (DatasetError, SplitError, CheckpointError, ValueError) as e:
        return fail(str(e))
    print(result["table"])
    for method, note in result.get("notes", {}).items():
        print(f"note, {method}: {note}")
    for method, s in result.get("summary", {}).items():
        pooled = s.get("pooled")
        if pooled and pooled.get("called"):
            print(f"calibration, {method}: ECE {pooled['ece']:.3f} on the {pooled['called']} images called; a "
                  f"perfectly calibrated method with the same confidences shows {pooled['ece_if_calibrated']:.3f} "
                  f"on average at this n, {pooled['ece']:.3f} or more in "
                  f"{pooled['calibrated_at_least_as_far']:.0%} of draws")
    if args.out:
        path = write_report(result, args.out)
        print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0
