"""Does a call survive another magnification? Scores the real_dev images as they are and resampled, as if the
same field had been scanned coarser or finer, with the pixel size estimated each time (the files state none).

For each image and scale it prints the call and the estimated pixel size in the original image's pixels
(estimate x scale: the same number at every scale when the estimate follows the magnification). Then, per
scale, the calls that are right and the calls that stay as at scale 1, and how far the estimates drift.
The resampled copies go to a temporary folder (nothing is written into ../shared).

    python benchmarks/real_dev_scale.py [--data ../shared/data/real_dev] [--scales 0.5,0.75,1.5]
        [--method rules]
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


def resampled(path: Path, scale: float, folder: Path) -> Path:
    """A PNG copy of the image resampled by `scale` (area-averaged down, cubic up)."""
    if scale == 1.0:
        return path
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"{path}: cannot read it")
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    out = folder / f"{path.stem}_x{scale:g}.png"
    cv2.imwrite(str(out), cv2.resize(img, None, fx=scale, fy=scale, interpolation=interp))
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
    ap.add_argument("--method", default="rules")
    args = ap.parse_args(argv)
    if not (args.data / "labels.csv").is_file():
        print(f"{args.data}: no labels.csv; nothing to measure", file=sys.stderr)
        return 2
    scales = [1.0] + [float(s) for s in args.scales.split(",") if float(s) != 1.0]
    items = read_labels(args.data)
    calls: dict[float, list[str | None]] = {s: [] for s in scales}
    mpps: dict[float, list[float]] = {s: [] for s in scales}
    print(f"{args.method}: call and estimated um/px in the original pixels at scales {scales}")
    with tempfile.TemporaryDirectory() as tmp:
        for path, label in items:
            line = f"{path.name[:24]:24s} {label:3s}"
            for s in scales:
                call, mpp, src = score_at(resampled(path, s, Path(tmp)), args.method)
                calls[s].append(call)
                mpps[s].append(mpp * s if mpp and src == "estimated" else math.nan)
                line += f" | {call or 'n/a':3s} {mpps[s][-1]:5.2f}"
            print(line, flush=True)
    labels = [lab for _, lab in items]
    bci = np.array([p.name.startswith(("bci_", "00")) for p, _ in items])
    base = np.array(mpps[1.0])
    ok = np.isfinite(base[bci])
    if ok.sum() >= 2:
        print(f"one scanner (the BCI patches): estimates {np.nanmin(base[bci]):.2f}-{np.nanmax(base[bci]):.2f} "
              f"um/px, log-sd {np.std(np.log(base[bci][ok]), ddof=1):.3f} over {ok.sum()} estimated")
    for s in scales:
        right = sum(c == y for c, y in zip(calls[s], labels, strict=True))
        same = sum(c == c1 for c, c1 in zip(calls[s], calls[1.0], strict=True))
        drift = np.abs(np.log(np.array(mpps[s]) / base))
        drift = drift[np.isfinite(drift)]
        within = f"{np.mean(drift < math.log(1.2)):.0%} within 20% of scale 1's" if drift.size else "none estimated"
        print(f"scale {s:g}: right {right}/{len(labels)}, same call as at scale 1 {same}/{len(labels)}, "
              f"estimates {within}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
