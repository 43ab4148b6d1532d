"""Fuzz benchmark: hundreds of damaged and hostile inputs through the CLI, counted by how each run ended.

    python benchmarks/fuzz.py [--cases N] [--workers 2] [--seed 0] [--timeout 30] [--keep DIR] [--code DIR]

Inputs (made here from the synthetic generator and crafted bytes; the shared real SVS is used when present):
slides (truncated, bit-flipped, IFD loop, patched width, PNG/JPEG bombs, named pipe, empty, text), GeoJSON,
result JSON, model cards with weights, stain profiles, plus byte-level damage of the JSON files. Each case
runs `python -m her2viewer ...` with a time limit; the table counts ok / clean error / unnamed error /
traceback / hang / crash / memory > 2 GB (the child's own peak RSS, VmHWM), and lists every case that is
not ok or a clean error.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.cases import CATEGORIES  # noqa: E402
from tests.fuzz.runner import build_cases, run_case, summarise  # noqa: E402


def _variants(n_cases: int) -> tuple[int, int]:
    """Slide and JSON variant counts that give about `n_cases` cases (a slide runs 3 commands, a JSON file 1)."""
    fixed = 155  # the named slide and JSON cases, before random variants
    extra = max(0, n_cases - fixed)
    slides = extra // 6
    return slides, extra - 3 * slides


def main(argv: list[str] | None = None) -> int:
    """Build the corpus, run every case, print the counts; 1 when a case hung, crashed, printed a traceback
    or went over 2 GB."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=450, help="about how many cases to run (default 450: over 300 inputs)")
    ap.add_argument("--workers", type=int, default=2, help="cases run at once (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per case (default 30)")
    ap.add_argument("--keep", default=None, help="build the corpus in this folder and keep it")
    ap.add_argument("--code", default=None, help="run another checkout's her2viewer (a folder holding the package)")
    args = ap.parse_args(argv)
    if args.code:
        os.environ["HER2_FUZZ_CODE"] = str(Path(args.code).resolve())
    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="her2-fuzz-")
    folder = Path(args.keep or tmp.name)  # type: ignore[union-attr]
    slide_variants, json_variants = _variants(args.cases)
    t0 = time.monotonic()
    cases = build_cases(folder, slide_variants=slide_variants, json_variants=json_variants, seed=args.seed)
    cases = cases[: args.cases] if len(cases) > args.cases else cases
    inputs = {c.target for c in cases}
    print(f"{len(cases)} cases over {len(inputs)} inputs (built in {time.monotonic() - t0:.0f} s)", flush=True)
    with ThreadPoolExecutor(max(1, args.workers)) as pool:
        outcomes = []
        for i, out in enumerate(pool.map(lambda c: run_case(c, args.timeout), cases)):
            outcomes.append(out)
            if out.category not in ("ok", "clean error"):
                tail = out.stderr.strip().splitlines()[-1:] or [""]
                print(f"  {out.category:>13}  {out.case.name}  rc={out.returncode} {out.peak_mb:.0f} MB  "
                      f"{tail[0][:160]}", flush=True)
            if (i + 1) % 50 == 0:
                print(f"  ... {i + 1}/{len(cases)} done", flush=True)
    counts = summarise(outcomes)
    peak = max(outcomes, key=lambda o: o.peak_mb)
    slowest = max(outcomes, key=lambda o: o.seconds)
    print(f"\n{len(outcomes)} cases, {len(inputs)} inputs, {time.monotonic() - t0:.0f} s")
    for c in CATEGORIES:
        print(f"  {c:>14}: {counts[c]}")
    by_kind: dict[str, int] = {}
    for c in cases:
        by_kind[c.kind] = by_kind.get(c.kind, 0) + 1
    print("  by input kind: " + ", ".join(f"{k} {v}" for k, v in by_kind.items()))
    print(f"  highest peak RSS: {peak.peak_mb:.0f} MB ({peak.case.name}); slowest: {slowest.seconds:.1f} s "
          f"({slowest.case.name})")
    bad = sum(counts[c] for c in ("traceback", "hang", "crash", "memory > 2 GB"))
    if tmp is not None:
        tmp.cleanup()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
