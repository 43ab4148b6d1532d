"""Seconds per 5,000 x 5,000 px core for the rules scorer (target <= 20 s on 2 CPU cores).

Usage: .venv/bin/python benchmarks/bench_scoring_rules.py [--size 5000] [--workers 2]
The image is a synthetic 3+ core (her2viewer.synth) of that diameter at 0.5 um/px.
"""

from __future__ import annotations

import argparse
import sys
import time

from her2viewer.progress import Task
from her2viewer.scoring.base import Region, ScoreOptions, create_scorer
from her2viewer.slide.array_source import ArraySlide


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=930000)
    a = ap.parse_args(argv)
    from her2viewer.synth.core import generate_core

    t0 = time.perf_counter()
    core = generate_core("3+", a.seed, diameter_px=int(a.size / 1.1), canvas=(a.size, a.size))
    t_gen = time.perf_counter() - t0
    scorer = create_scorer("rules", ScoreOptions(extra={"rules": {"workers": a.workers}}))
    t0 = time.perf_counter()
    r = scorer.score_region(ArraySlide(core.image, mpp=0.5), Region((0, 0, a.size, a.size)), Task())
    dt = time.perf_counter() - t0
    print(f"rules scorer: {dt:.1f} s per {a.size} x {a.size} core ({a.workers} workers, {r.cells['n_detected']} "
          f"cells, {r.params['tiles']} tiles; score {r.score}, label {core.label}); generation {t_gen:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
