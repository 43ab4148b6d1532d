"""Does a call survive another magnification, or harder compression? Scores the real_dev images as they are
and resampled, as if the same field had been scanned coarser or finer (and, with --jpeg Q, saved as JPEG at
quality Q, scale 1 included), with the pixel size estimated each time (the files state none).

For each image and scale it prints the call and the estimated pixel size in the original image's pixels
(estimate x scale: the same number at every scale when the estimate follows the magnification). Then, per
scale, the calls that are right and the calls that stay as at scale 1, and how far the estimates drift.
The resampled copies go to a temporary folder (nothing is written into ../shared).

    python benchmarks/real_dev_scale.py [--data ../shared/data/real_dev] [--scales 0.5,0.75,1.5]
        [--jpeg Q] [--method rules]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from her2viewer.scoring.base import ScoreOptions
from her2viewer.scoring.driver import score_slide
from her2viewer.scoring.rules.calibrate import read_labels
from her2viewer.slide import open_slide

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real_dev"


def resampled(path: Path, scale: float, folder: Path, jpeg: int | None = None) -> Path:
    """A copy of the image resampled by `scale` (area-averaged down, cubic up): PNG, or JPEG at quality
    `jpeg`; the image itself at scale 1 without JPEG."""
    if scale == 1.0 and jpeg is None:
        return path
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"{path}: cannot read it")
    if scale != 1.0:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=interp)
    out = folder / f"{path.stem}_x{scale:g}.{'png' if jpeg is None else 'jpg'}"
    cv2.imwrite(str(out), img, [] if jpeg is None else [cv2.IMWRITE_JPEG_QUALITY, int(jpeg)])
    return out


def score_at(path: Path, method: str) -> tuple[str | None, float | None, str]:
    """(call or None, pixel size used, its source) of one image."""
    with open_slide(path) as source:
        r = score_slide(source, method, ScoreOptions())
    d = r.to_dict()
    qc = d.get("qc") or {}
    return d.get("score"), qc.get("mpp"), str(qc.get("mpp_source"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--scales", default="0.5,0.75,1.5")
    ap.add_argument("--jpeg", type=int, default=None, metavar="Q", help="save each copy as JPEG at quality Q")
    ap.add_argument("--method", default="rules")
    args = ap.parse_args(argv)
    if not (args.data / "labels.csv").is_file():
        print(f"{args.data}: no labels.csv; nothing to measure", file=sys.stderr)
        return 2
    scales = [float(s) for s in args.scales.split(",") if float(s) != 1.0 or args.jpeg is not None]
    items = read_labels(args.data)
    columns: list[tuple[str, float, int | None]] = [("as is", 1.0, None)]
    columns += [(f"{s:g}x" + (f" JPEG {args.jpeg}" if args.jpeg is not None else ""), s, args.jpeg) for s in scales]
    calls: dict[str, list[str | None]] = {c: [] for c, _, _ in columns}
    mpps: dict[str, list[float]] = {c: [] for c, _, _ in columns}
    print(f"{args.method}: call and estimated um/px in the original pixels: {', '.join(c for c, _, _ in columns)}")
    with tempfile.TemporaryDirectory() as tmp:
        for path, label in items:
            line = f"{path.name[:24]:24s} {label:3s}"
            for c, s, q in columns:
                call, mpp, src = score_at(resampled(path, s, Path(tmp), q), args.method)
                calls[c].append(call)
                mpps[c].append(mpp * s if mpp and src == "estimated" else math.nan)
                line += f" | {call or 'n/a':3s} {mpps[c][-1]:5.2f}"
            print(line, flush=True)
    labels = [lab for _, lab in items]
    bci = np.array([p.name.startswith(("bci_", "00")) for p, _ in items])
    base = np.array(mpps["as is"])
    ok = np.isfinite(base[bci])
    if ok.sum() >= 2:
        print(f"one scanner (the BCI patches): estimates {np.nanmin(base[bci]):.2f}-{np.nanmax(base[bci]):.2f} "
              f"um/px, log-sd {np.std(np.log(base[bci][ok]), ddof=1):.3f} over {ok.sum()} estimated")
    for col, _, _ in columns:
        right = sum(c == y for c, y in zip(calls[col], labels, strict=True))
        same = sum(c == c1 for c, c1 in zip(calls[col], calls["as is"], strict=True))
        drift = np.abs(np.log(np.array(mpps[col]) / base))
        drift = drift[np.isfinite(drift)]
        within = f"{np.mean(drift < math.log(1.2)):.0%} within 20% of the image's own" if drift.size else "none"
        print(f"{col}: right {right}/{len(labels)}, same call as the image as is {same}/{len(labels)}, "
              f"estimates {within}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
