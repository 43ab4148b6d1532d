"""Seconds for the rules scorer on 2 CPU cores: a 5,000 x 5,000 px core at 0.25 um/px (target <= 20 s) and the
synthetic 40,000 x 40,000 px slide of bench_ipd.py at 0.5 um/px, input checks included (target <= 90 s).

Usage: .venv/bin/python benchmarks/bench_scoring_rules.py [--size 5000] [--mpp 0.25] [--workers 2]
       [--slide 40000 | --slide 0]
The core is a synthetic 3+ core (her2viewer.synth) of that diameter at --mpp.
"""

from __future__ import annotations

import argparse
import sys
import time

from her2viewer.progress import Task
from her2viewer.scoring.base import ScoreOptions, create_scorer
from her2viewer.slide.array_source import ArraySlide
from her2viewer.slide.region import Region


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=930000)
    ap.add_argument("--mpp", type=float, default=0.25, help="the core's pixel size (default 0.25: 40x)")
    ap.add_argument("--slide", type=int, default=40000, help="side of the synthetic slide to score (0: none)")
    a = ap.parse_args(argv)
    from her2viewer.synth.core import generate_core

    t0 = time.perf_counter()
    core = generate_core("3+", a.seed, diameter_px=int(a.size / 1.1), canvas=(a.size, a.size), mpp=a.mpp)
    t_gen = time.perf_counter() - t0
    scorer = create_scorer("rules", ScoreOptions(extra={"rules": {"workers": a.workers}}))
    t0 = time.perf_counter()
    r = scorer.score_region(ArraySlide(core.image, mpp=a.mpp), Region((0, 0, a.size, a.size)), Task())
    dt = time.perf_counter() - t0
    print(f"rules scorer: {dt:.1f} s per {a.size} x {a.size} core at {a.mpp} um/px ({a.workers} workers, "
          f"{r.cells['n_detected']} cells, {r.params['tiles']} tiles; score {r.score}, label {core.label}); "
          f"generation {t_gen:.1f} s", flush=True)
    if a.slide:
        from bench_ipd import make_slide

        from her2viewer.scoring.driver import score_slide
        from her2viewer.slide import open_slide

        path, made = make_slide(a.slide, 1, "2+")
        with open_slide(path) as src:
            t0 = time.perf_counter()
            r = score_slide(src, "rules", ScoreOptions(extra={"rules": {"workers": a.workers}}), scope="slide")
            dt = time.perf_counter() - t0
        print(f"rules scorer: {dt:.1f} s for the {a.slide} x {a.slide} px synthetic slide (input checks included; "
              f"{r.cells['n_detected'] if r.cells else 0} cells, qc {r.qc['status']}, score {r.score}); "
              f"slide made in {made:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
