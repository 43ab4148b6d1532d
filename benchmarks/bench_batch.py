"""Batch scoring throughput: N synthetic cores scored (a) by `her2viewer batch`'s local engine with 2 workers,
(b) as N separate `her2viewer score` processes, 2 at a time, and (c) by the Ray engine on a local 2-CPU Ray.
Prints the wall time, throughput and per-item overhead of each (overhead = wall x workers / N minus the mean
in-process scoring time of one core), and the local engine's speed-up over the separate processes.

    .venv/bin/python benchmarks/bench_batch.py [--n 40] [--method rules] [--diameter 600] [--no-ray]

Run it with nothing else busy on the machine: it measures wall time on all cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from her2viewer.batch import BatchSettings, run_batch  # noqa: E402
from her2viewer.batch.engines import EngineError  # noqa: E402
from her2viewer.batch.worker import BatchJob, score_one  # noqa: E402
from her2viewer.project import Project  # noqa: E402
from her2viewer.scoring.base import ScoreOptions  # noqa: E402
from her2viewer.synth.dataset import write_dataset  # noqa: E402

WORKERS = 2


def in_process(cores: list[Path], method: str) -> float:
    """Mean seconds to score one core inside one warm process (the work itself, no start-up)."""
    score_one(BatchJob(str(cores[0]), method, ScoreOptions()))  # warm imports and models
    t0 = time.perf_counter()
    sample = cores[: min(8, len(cores))]
    for c in sample:
        score_one(BatchJob(str(c), method, ScoreOptions()))
    return (time.perf_counter() - t0) / len(sample)


def batch_engine(cores: list[Path], method: str, engine: str, folder: Path) -> float:
    """Wall seconds for `run_batch` into a fresh project (nothing cached)."""
    with Project.create(folder) as proj:
        t0 = time.perf_counter()
        summary = run_batch(proj, cores, BatchSettings(method, engine=engine, workers=WORKERS))
        wall = time.perf_counter() - t0
    if summary.errors or summary.scored != len(cores):
        raise SystemExit(f"{engine}: {summary.scored} scored, errors {summary.errors}")
    return wall


def separate_processes(cores: list[Path], method: str, out: Path) -> float:
    """Wall seconds for one `her2viewer score` process per core, WORKERS at a time."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HER2VIEWER_DATA_DIR": str(out / "user")}

    def one(core: Path) -> int:
        cmd = [sys.executable, "-m", "her2viewer", "score", str(core), "--method", method,
               "--json", str(out / f"{core.stem}.json")]
        return subprocess.run(cmd, env=env, capture_output=True, check=False).returncode

    t0 = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        codes = list(pool.map(one, cores))
    wall = time.perf_counter() - t0
    if any(c not in (0, 3) for c in codes):
        raise SystemExit(f"separate processes: exit codes {sorted(set(codes))}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--method", default="rules")
    ap.add_argument("--diameter", type=int, default=600)
    ap.add_argument("--seed", type=int, default=4000)
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        os.environ["HER2VIEWER_DATA_DIR"] = str(tmpdir / "user")
        write_dataset(tmpdir / "data", n_cores=args.n, seed=args.seed, diameter_px=args.diameter)
        cores = sorted((tmpdir / "data" / "cores").glob("*.png"))[: args.n]
        work = in_process(cores, args.method)
        rows = [("local engine, 2 workers", batch_engine(cores, args.method, "local", tmpdir / "p_local")),
                ("separate `score` processes, 2 at a time", separate_processes(cores, args.method, tmpdir / "sep"))]
        if not args.no_ray:
            try:
                rows.append(("ray engine, local 2-CPU Ray", batch_engine(cores, args.method, "ray", tmpdir / "p_ray")))
            except EngineError as e:
                print(f"ray engine: cannot start ({e})")
    n = len(cores)
    print(f"{n} synthetic cores ({args.diameter} px), method {args.method}, {os.cpu_count()} CPUs; "
          f"in-process scoring {work:.2f} s per core")
    print(f"{'engine':42s} {'wall s':>8s} {'cores/min':>10s} {'overhead s/item':>16s}")
    for name, wall in rows:
        print(f"{name:42s} {wall:8.1f} {60 * n / wall:10.1f} {wall * WORKERS / n - work:16.2f}")
    local, separate = rows[0][1], rows[1][1]
    print(f"local engine vs separate processes: {separate / local:.2f}x")


if __name__ == "__main__":
    main()
