"""Does `calibrate` recover a lab's paler stain? Synthetic cores as generated and with their DAB made 30%
paler: the rules scorer's accuracy with the shipped profile on both, and the leave-one-out accuracy of the
profile calibrated on the paler set (each core scored with cut-offs fitted on the others).

    .venv/bin/python benchmarks/bench_calibrate_pale.py [--n 24] [--seed 930000] [--diameter 1200] [--pale 0.7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from her2viewer.scoring.rules.calibrate import evaluate, leave_one_out, measure_folder  # noqa: E402
from her2viewer.scoring.rules.profile import default_profile  # noqa: E402
from her2viewer.stain import compose, deconvolve  # noqa: E402
from her2viewer.synth.core import generate_core  # noqa: E402

LABELS = ("0", "1+", "2+", "3+")


def paler(rgb: np.ndarray, factor: float) -> np.ndarray:
    """The image with its DAB concentration scaled by `factor` (haematoxylin unchanged)."""
    conc = deconvolve(rgb)
    conc[..., 1] *= factor
    return compose(np.maximum(conc, 0.0))


def write_set(folder: Path, cores: list[tuple[str, np.ndarray]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["file,label"]
    for i, (label, img) in enumerate(cores):
        name = f"core_{i:03d}.png"
        cv2.imwrite(str(folder / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        rows.append(f"{name},{label}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--seed", type=int, default=930000)
    ap.add_argument("--diameter", type=int, default=1200)
    ap.add_argument("--pale", type=float, default=0.7, help="DAB factor of the paler set (0.7: 30%% paler)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cores = [(LABELS[i % 4], generate_core(LABELS[i % 4], seed=args.seed + i, diameter_px=args.diameter,
                                           mpp=0.5).image) for i in range(args.n)]
    start = default_profile()
    with tempfile.TemporaryDirectory() as tmp:
        out = {}
        for name, f in (("as generated", 1.0), (f"DAB x{args.pale:g}", args.pale)):
            folder = write_set(Path(tmp) / name.replace(" ", "_"), [(lab, paler(img, f) if f != 1 else img)
                                                                   for lab, img in cores])
            images = measure_folder(folder, mpp=0.5)
            shipped = evaluate(images, start.membrane, start.positive_pct)
            loo = leave_one_out(images, start)
            out[name] = (shipped, loo)
            print(f"{name:14s}: shipped profile {shipped.accuracy:.1%} (within one {shipped.within_one:.1%}); "
                  f"calibrated, leave-one-out {loo.accuracy:.1%} (within one {loo.within_one:.1%})", flush=True)
            print("  calibrated confusion (rows label, columns call):\n" + loo.confusion_text())
    base = out["as generated"][0].accuracy
    pale_cal = out[f"DAB x{args.pale:g}"][1].accuracy
    print(f"\n{args.n} cores: shipped on the originals {base:.1%}; on the paler set shipped "
          f"{out[f'DAB x{args.pale:g}'][0].accuracy:.1%}, calibrated (LOO) {pale_cal:.1%} "
          f"({100 * (pale_cal - base):+.1f} points vs the originals); {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
