"""Accuracy of the rule-based scorer on fresh synthetic cores (a seed range nobody trains on).

Usage: .venv/bin/python benchmarks/eval_rules_synth.py [--n 40] [--seed 900000] [--diameter 1500]
       [--rules '{"membrane": {"strong": 0.5}}'] [--real]
Prints the 4-way accuracy, the confusion matrix (rows: label, columns: prediction) and, with --real,
what the scorer says on ../shared/data/real_dev/*.png and skimage.data.immunohistochemistry().
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from her2viewer.progress import Task
from her2viewer.scoring.asco import SCORES4
from her2viewer.scoring.base import ScoreOptions, create_scorer
from her2viewer.slide.array_source import ArraySlide
from her2viewer.slide.region import Region

REAL_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real_dev"


def score_image(img: np.ndarray, options: ScoreOptions, mpp: float | None = 0.5, name: str = "image"):
    """Score one whole image with the rules scorer."""
    h, w = img.shape[:2]
    return create_scorer("rules", options).score_region(ArraySlide(img, mpp=mpp, name=name),
                                                        Region((0, 0, w, h)), Task())


def eval_synth(n: int, seed: int, diameter: int, options: ScoreOptions) -> float:
    """Score n synthetic cores (labels cycling 0, 1+, 2+, 3+) and print accuracy and confusion."""
    from her2viewer.synth.core import generate_core

    conf = np.zeros((4, 4), int)
    t_score = 0.0
    for i in range(n):
        label = SCORES4[i % 4]
        core = generate_core(label, seed + i, diameter_px=diameter)
        t0 = time.perf_counter()
        r = score_image(core.image, options)
        t_score += time.perf_counter() - t0
        conf[SCORES4.index(core.label), SCORES4.index(r.score)] += 1
        flag = "" if r.score == core.label else "  <-- wrong"
        print(f"seed {seed + i}: label {core.label:>2} -> {r.score:>2} (p={r.probabilities[r.score]:.2f}, "
              f"{r.cells['n']} tumour cells){flag}", flush=True)
    acc = np.trace(conf) / conf.sum()
    print(f"\n4-way accuracy {acc:.1%} on {n} cores (seeds {seed}..{seed + n - 1}, diameter {diameter} px), "
          f"{t_score / n:.1f} s per core scoring")
    print("confusion (rows label 0,1+,2+,3+; columns prediction):")
    print(conf)
    return float(acc)


def eval_real(options: ScoreOptions) -> None:
    """What the scorer says on the real development images (mpp unknown: 0.5 assumed)."""
    import cv2
    import skimage.data

    items = [(p.name, cv2.imread(str(p))[:, :, ::-1]) for p in sorted(REAL_DEV.glob("*.png"))]
    items.append(("skimage.data.immunohistochemistry()", skimage.data.immunohistochemistry()))
    for name, img in items:
        r = score_image(np.ascontiguousarray(img), options, mpp=None, name=name)
        c = r.cells
        print(f"{name}: {r.score} (3-way {r.score3}, p={json.dumps({k: round(v, 2) for k, v in r.probabilities.items()})})"
              f"\n   {r.explanation}\n   tumour {c['n_tumour']}/{c['n_detected']} cells; complete strong "
              f"{c['pct_complete_strong']:.1f}%, complete w-m {c['pct_complete_weak_moderate']:.1f}%, incomplete "
              f"strong {c['pct_incomplete_strong']:.1f}%, any {c['pct_any_staining']:.1f}%")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=900000)
    ap.add_argument("--diameter", type=int, default=1500)
    ap.add_argument("--rules", default="{}", help="JSON overrides for the rules scorer")
    ap.add_argument("--real", action="store_true", help="also score the real development images")
    ap.add_argument("--no-synth", action="store_true")
    a = ap.parse_args(argv)
    options = ScoreOptions(extra={"rules": json.loads(a.rules)})
    if not a.no_synth:
        eval_synth(a.n, a.seed, a.diameter, options)
    if a.real:
        eval_real(options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
