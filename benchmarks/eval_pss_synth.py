"""4-way accuracy of the PSS scorer as `her2viewer score` runs it (open_slide -> score_slide, CLI defaults)
on a labelled folder (labels.csv with file,label), e.g. the synthetic test set of the bundled model.

Usage: .venv/bin/python benchmarks/eval_pss_synth.py /tmp/her2data11/test [--model CKPT] [-N 20] [-k 5]
       .venv/bin/python benchmarks/eval_pss_synth.py --real ../shared/data/real_dev
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default=None)
    ap.add_argument("--real", default=None, help="folder of images whose file name holds the score")
    ap.add_argument("--model", default=None)
    ap.add_argument("-N", type=int, default=20)
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from her2viewer.scoring.asco import SCORES4
    from her2viewer.scoring.base import ScoreOptions
    from her2viewer.scoring.driver import score_slide
    from her2viewer.slide import open_slide

    opts = ScoreOptions(n_samples=args.N, top_k=args.k, seed=args.seed, model_path=args.model)
    if args.real:
        for p in sorted(Path(args.real).glob("*.png")):
            with open_slide(p) as src:
                r = score_slide(src, "pss", opts)
            probs = " ".join(f"{k}:{r.probabilities[k]:.2f}" for k in SCORES4)
            print(f"{p.name}: {r.score} ({r.score3}) conf {r.confidence:.2f} | {probs}")
        return 0
    folder = Path(args.folder)
    rows = list(csv.DictReader(open(folder / "labels.csv", newline="")))
    idx = {s: i for i, s in enumerate(SCORES4)}
    cm = np.zeros((4, 4), int)
    t0 = time.perf_counter()
    for row in rows:
        with open_slide(folder / row["file"]) as src:
            r = score_slide(src, "pss", opts)
        cm[idx[row["label"]], idx[r.score]] += 1
    n = cm.sum()
    print(f"{n} cores, N={args.N} k={args.k} seed={args.seed}: 4-way accuracy {np.trace(cm) / n:.3f} "
          f"({np.trace(cm)}/{n}), {(time.perf_counter() - t0) / n:.1f} s per core")
    print("confusion (rows label 0/1+/2+/3+, cols predicted):", cm.tolist())
    return 0


if __name__ == "__main__":
    sys.exit(main())
