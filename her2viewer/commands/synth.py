"""`her2viewer synth OUTDIR --cores N --seed S [--tma] [--wsi] [--diameter PX] [--style S]`: write synthetic HER2 IHC data."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..synth.style import DEFAULT_STYLE, STYLES
from . import fail


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the synth command."""
    parser.add_argument("outdir", type=Path, help="folder to write cores/, labels.csv and slides into")
    parser.add_argument("--cores", type=int, default=8, help="number of core images (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data)")
    parser.add_argument("--diameter", type=int, default=3000,
                        help="core diameter in pixels at --mpp (2000-6000 typical; default 3000)")
    parser.add_argument("--mpp", type=float, default=0.5, help="microns per pixel (default 0.5, i.e. 20x)")
    parser.add_argument("--per-patient", type=int, default=2, help="cores per patient id (default 2)")
    parser.add_argument("--format", choices=("png", "jpg"), default="png", help="core image format")
    parser.add_argument("--tma", action="store_true", help="also write a 3x4 TMA slide (tma.tiff, tma_cores.csv)")
    parser.add_argument("--wsi", action="store_true", help="also write a whole-slide pyramidal TIFF (wsi.tiff)")
    parser.add_argument("--style", choices=sorted(STYLES), default=DEFAULT_STYLE,
                        help="the cores' look: synth-1.1 (crisp, the regression sets) or synth-2 (closer to real IHC: "
                             "cytoplasmic blush, pale bluish haematoxylin, lost detail, apparent zoom 1-2x); "
                             "labels follow the same rule in both")


def run(args: argparse.Namespace) -> int:
    """Generate the data set and print where it went."""
    from ..progress import Task
    from ..synth.dataset import write_dataset

    if args.cores < 0:
        return fail("--cores must be 0 or more")
    if not 200 <= args.diameter <= 12000:
        return fail(f"--diameter {args.diameter} is out of range (200-12000 px)")
    if not 0.1 <= args.mpp <= 4.0:
        return fail(f"--mpp {args.mpp} is out of range (0.1-4.0)")
    if args.outdir.exists() and not args.outdir.is_dir():
        return fail(f"{args.outdir} exists and is not a folder")

    def progress(f: float, msg: str) -> None:
        if sys.stderr.isatty():
            print(f"\r{100 * f:5.1f}% {msg:40s}", end="", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    try:
        labels = write_dataset(args.outdir, n_cores=args.cores, seed=args.seed, tma=args.tma, wsi=args.wsi,
                               diameter_px=args.diameter, mpp=args.mpp, cores_per_patient=args.per_patient,
                               fmt=args.format, task=Task(progress), style=args.style)
    except OSError as e:
        return fail(f"could not write to {args.outdir}: {e.strerror or e}")
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(f"wrote {args.cores} cores{' + TMA' if args.tma else ''}{' + WSI' if args.wsi else ''} to {args.outdir} "
          f"({labels.name}) in {time.perf_counter() - t0:.1f} s")
    return 0
