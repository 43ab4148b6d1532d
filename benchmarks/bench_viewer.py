"""Viewer benchmark: a scripted pan/zoom path over a synthetic 80,000 x 60,000 px pyramidal TIFF, offscreen.

Prints the time to the first full frame after open, per-frame paint times (median / p95) with a cold and a
warm cache, the longest main-thread stall (a 5 ms QTimer heartbeat's worst lateness) and peak RSS.

    .venv/bin/python benchmarks/bench_viewer.py [--size 80000x60000] [--steps 300] [--json OUT]

The slide is written once (a few minutes, about 1 GB) to $TMPDIR/her2viewer_bench/ and reused.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGETS = {"first_frame_s": 1.0, "warm_p95_ms": 16.0, "cold_p95_ms": 33.0, "max_stall_ms": 50.0,
           "peak_rss_mb": 1536.0}
VIEW_W, VIEW_H = 1600, 1000
CORE_PITCH, CORE_RADIUS = 6000, 2600


# -- the synthetic slide ------------------------------------------------------------------------------
def _textures() -> list[np.ndarray]:
    """A few real-looking 512 px IHC textures (scikit-image's DAB image, flipped and re-toned)."""
    import skimage.data

    base = skimage.data.immunohistochemistry()[:512, :512]
    pale = np.clip(255 - (255 - base.astype(np.int16)) * 0.45, 0, 255).astype(np.uint8)
    return [base, base[::-1, ::-1].copy(), pale, pale[:, ::-1].copy()]


class BenchRenderer:
    """renderer(downsample, lvl_x, lvl_y, w, h): round 'cores' on a grid, each filled with a texture."""

    def __init__(self) -> None:
        self.textures = _textures()
        self._scaled: dict[float, list[np.ndarray]] = {}

    def _level_textures(self, ds: float) -> list[np.ndarray]:
        """The textures at this downsample, repeated to cover a tile from any phase."""
        import cv2

        if ds not in self._scaled:
            side = max(2, round(512 / ds))
            reps = -(-1024 // side) + 1
            self._scaled[ds] = [np.tile(cv2.resize(t, (side, side), interpolation=cv2.INTER_AREA), (reps, reps, 1))
                                for t in self.textures]
        return self._scaled[ds]

    def __call__(self, ds: float, lvl_x: int, lvl_y: int, w: int, h: int) -> np.ndarray:
        tex = self._level_textures(ds)
        p = max(2, round(512 / ds))
        xs, ys = np.arange(lvl_x, lvl_x + w), np.arange(lvl_y, lvl_y + h)
        l0x, l0y = (xs + 0.5) * ds, (ys + 0.5) * ds
        col, row = (l0x // CORE_PITCH).astype(np.int64), (l0y // CORE_PITCH).astype(np.int64)
        dx = (l0x % CORE_PITCH - CORE_PITCH / 2) ** 2
        dy = (l0y % CORE_PITCH - CORE_PITCH / 2) ** 2
        inside = (dy[:, None] + dx[None, :]) < CORE_RADIUS**2
        out = np.full((h, w, 3), 242, np.uint8)
        if not inside.any():
            return out
        which = (row[:, None] * 3 + col[None, :]) % len(tex)
        y0, x0 = lvl_y % p, lvl_x % p
        present = {int(r * 3 + c) % len(tex) for r in np.unique(row) for c in np.unique(col)}
        for k in present:
            patch = tex[k][y0 : y0 + h, x0 : x0 + w]
            sel = inside if len(present) == 1 else inside & (which == k)
            np.copyto(out, patch, where=sel[..., None])
        return out


def bench_slide(size: tuple[int, int]) -> Path:
    """The cached benchmark slide, written in a child process (so its memory does not count) when missing."""
    folder = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "her2viewer_bench"
    path = folder / f"bench_{size[0]}x{size[1]}.tif"
    if not path.exists():
        print(f"writing {path} (once; a few minutes)...", flush=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--write-only", f"{size[0]}x{size[1]}", str(path)], check=True)
        print(f"  written in {time.perf_counter() - t0:.0f} s, {path.stat().st_size / 2**20:.0f} MiB", flush=True)
    return path


def write_slide(size: tuple[int, int], path: Path) -> None:
    """Write the benchmark slide."""
    from her2viewer.slide.writer import write_pyramidal_tiff

    write_pyramidal_tiff(path, BenchRenderer(), size=size, mpp=0.25, quality=85,
                         description="her2viewer benchmark slide")


# -- the scripted path ----------------------------------------------------------------------------------
def scripted_path(steps: int, slide_w: int, slide_h: int, fit_ds: float, rng: np.random.Generator) -> list:
    """`steps` actions: ('zoom', factor, sx, sy) or ('pan', dx, dy) or ('jump', l0_x, l0_y, downsample)."""
    actions: list = []
    while len(actions) < steps:
        kind = rng.choice(["zoom_in", "pan", "zoom_out", "pan", "jump"])
        sx, sy = rng.uniform(0.2, 0.8) * VIEW_W, rng.uniform(0.2, 0.8) * VIEW_H
        if kind == "zoom_in":
            actions += [("zoom", 2 ** 0.25, sx, sy)] * 12
        elif kind == "zoom_out":
            actions += [("zoom", 2 ** -0.25, sx, sy)] * 10
        elif kind == "pan":
            angle = rng.uniform(0, 2 * math.pi)
            actions += [("pan", 60 * math.cos(angle), 60 * math.sin(angle))] * 20
        else:
            ds = float(np.exp(rng.uniform(math.log(0.5), math.log(fit_ds))))
            actions.append(("jump", rng.uniform(0, slide_w), rng.uniform(0, slide_h), ds))
    return actions[:steps]


def apply_action(view, action) -> None:
    """Perform one scripted step on a SlideView."""
    from PySide6.QtCore import QPointF

    if action[0] == "zoom":
        view.zoom_by(action[1], QPointF(action[2], action[3]))
    elif action[0] == "pan":
        view.pan_by(action[1], action[2])
    else:
        view.viewport.center_on(action[1], action[2])
        view.set_downsample(action[3])


# -- measuring --------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0 for no values)."""
    return float(np.percentile(values, q)) if values else 0.0


def run_benchmark(path: Path, steps: int, step_ms: int) -> dict:
    """Open the slide in an offscreen SlideView and play the path twice (cold, then warm)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, QTimer

    from her2viewer.slide import open_slide
    from her2viewer.slide.tiles import TileLayer
    from her2viewer.ui.common.qapp import ensure_app, wait_until
    from her2viewer.ui.viewer.slide_view import SlideView

    app = ensure_app()
    t_open = time.perf_counter()
    source = open_slide(path)
    view = SlideView(source, TileLayer(source))
    paint_cpu: list[float] = []
    original_paint = view.paintEvent

    def timed_paint(event, original_paint=original_paint) -> None:
        t = time.thread_time()
        original_paint(event)
        paint_cpu.append((time.thread_time() - t) * 1000.0)

    view.paintEvent = timed_paint
    view.resize(VIEW_W, VIEW_H)
    view.show()
    wait_until(lambda: view.complete_frames > 0, 60.0)
    first_frame_s = time.perf_counter() - t_open

    heartbeat = {"last": None, "max": 0.0}
    clock = QElapsedTimer()
    clock.start()

    def beat() -> None:
        now = clock.nsecsElapsed() / 1e6
        if heartbeat["last"] is not None:
            heartbeat["max"] = max(heartbeat["max"], now - heartbeat["last"])
        heartbeat["last"] = now

    timer = QTimer(interval=5, timeout=beat)
    timer.start()
    actions = scripted_path(steps, *source.dimensions, view.viewport.fit_downsample(), np.random.default_rng(7))
    results = {}
    for phase in ("cold", "warm"):
        view.fit()
        wait_until(lambda: view.is_complete() and view.loader.pending == 0, 60.0)
        app.processEvents()
        view.paint_ms.clear()
        paint_cpu.clear()
        heartbeat["last"], heartbeat["max"] = None, 0.0
        state = {"i": 0, "levels": set()}

        def step(state=state) -> None:
            if state["i"] < len(actions):
                apply_action(view, actions[state["i"]])
                state["levels"].add(view.level)
                state["i"] += 1

        stepper = QTimer(interval=step_ms, timeout=step)
        t0 = time.perf_counter()
        stepper.start()
        wait_until(lambda state=state: state["i"] >= len(actions), 600.0)
        stepper.stop()
        elapsed = time.perf_counter() - t0
        paints = list(view.paint_ms)
        results[phase] = {"frames": len(paints), "paint_median_ms": pct(paints, 50), "paint_p95_ms": pct(paints, 95),
                          "paint_max_ms": max(paints, default=0.0), "max_stall_ms": heartbeat["max"] - 5.0,
                          "paint_cpu_p95_ms": pct(paint_cpu, 95), "paint_cpu_max_ms": max(paint_cpu, default=0.0),
                          "elapsed_s": elapsed, "levels": sorted(state["levels"])}
        wait_until(lambda: view.loader.pending == 0, 120.0)
    timer.stop()
    cache = view.tiles.cache.stats()
    qimage_mb = view.loader.cache.nbytes / 2**20
    view.loader.close()
    return {
        "slide": str(path), "dimensions": source.dimensions, "load_average": os.getloadavg()[0],
        "cpu_count": os.cpu_count(), "levels": source.level_count, "steps": steps,
        "view": [VIEW_W, VIEW_H], "first_frame_s": first_frame_s,
        "cold": results["cold"], "warm": results["warm"],
        "max_stall_ms": max(results["cold"]["max_stall_ms"], results["warm"]["max_stall_ms"]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "tile_cache_mb": cache["nbytes"] / 2**20, "qimage_cache_mb": qimage_mb,
    }


def report(r: dict) -> str:
    """Human-readable lines with the targets."""
    def mark(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    c, w = r["cold"], r["warm"]
    return "\n".join([
        f"slide {r['dimensions'][0]} x {r['dimensions'][1]} px, {r['levels']} levels; view {VIEW_W}x{VIEW_H}; "
        f"{r['steps']} steps per pass; machine: {r['cpu_count']} CPUs, load average {r['load_average']:.1f}",
        f"first full frame after open: {r['first_frame_s'] * 1000:.0f} ms (target <= 1000) "
        f"{mark(r['first_frame_s'] <= TARGETS['first_frame_s'])}",
        f"cold: {c['frames']} frames, paint median {c['paint_median_ms']:.1f} ms, p95 {c['paint_p95_ms']:.1f} ms "
        f"(target <= 33) {mark(c['paint_p95_ms'] <= TARGETS['cold_p95_ms'])}, max {c['paint_max_ms']:.1f} ms",
        f"warm: {w['frames']} frames, paint median {w['paint_median_ms']:.1f} ms, p95 {w['paint_p95_ms']:.1f} ms "
        f"(target <= 16) {mark(w['paint_p95_ms'] <= TARGETS['warm_p95_ms'])}, max {w['paint_max_ms']:.1f} ms",
        f"paint CPU time of the UI thread (excludes waiting for a busy machine): p95 cold {c['paint_cpu_p95_ms']:.1f} ms, "
        f"warm {w['paint_cpu_p95_ms']:.1f} ms; max {max(c['paint_cpu_max_ms'], w['paint_cpu_max_ms']):.1f} ms",
        f"longest main-thread stall: {r['max_stall_ms']:.1f} ms (target <= 50) "
        f"{mark(r['max_stall_ms'] <= TARGETS['max_stall_ms'])}",
        f"peak RSS: {r['peak_rss_mb']:.0f} MB (target <= 1536) {mark(r['peak_rss_mb'] <= TARGETS['peak_rss_mb'])}; "
        f"tile cache {r['tile_cache_mb']:.0f} MB, QImage cache {r['qimage_cache_mb']:.0f} MB",
    ])


def main(argv: list[str] | None = None) -> int:
    """Command line of the benchmark."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--write-only"]:
        w, h = (int(v) for v in argv[1].split("x"))
        write_slide((w, h), Path(argv[2]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="80000x60000", help="slide size WxH (default 80000x60000)")
    ap.add_argument("--steps", type=int, default=300, help="pan/zoom steps per pass (default 300)")
    ap.add_argument("--step-ms", type=int, default=16, help="ms between steps (default 16, i.e. 60 Hz input)")
    ap.add_argument("--json", help="also write the numbers as JSON here")
    args = ap.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    path = bench_slide(size)
    result = run_benchmark(path, args.steps, args.step_ms)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
