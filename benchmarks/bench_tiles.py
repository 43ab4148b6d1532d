"""Benchmark: 512 px level-0 tiles of a large synthetic pyramidal TIFF through our TileLayer (cold and warm)
versus openslide's DeepZoomGenerator.get_tile, in the same run.

    .venv/bin/python benchmarks/bench_tiles.py [--size 40960] [--tiles 400] [--dir /tmp] [--rounds 3]

Targets (issue 2): cold >= 0.9x DeepZoom, warm >= 20x cold. The slide is written once (JPEG tiles, a real IHC
texture tiled over the plane, so memory stays small) and reused by later runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger("bench_tiles")


def _texture(period: int = 2048) -> np.ndarray:
    """A period x period RGB mosaic of a real IHC image, flipped and rotated so it does not repeat quickly."""
    from skimage.data import immunohistochemistry

    ihc = immunohistochemistry()
    n = period // ihc.shape[0]
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(n):
        row = []
        for _ in range(n):
            t = np.rot90(ihc, int(rng.integers(4)))
            row.append(t[:, ::-1] if rng.random() < 0.5 else t)
        rows.append(np.concatenate(row, axis=1))
    return np.ascontiguousarray(np.concatenate(rows, axis=0))


class TiledRenderer:
    """fn(downsample, lvl_x, lvl_y, w, h): the texture repeated over the plane, at the level's scale."""

    def __init__(self, period: int = 2048) -> None:
        self._base = _texture(period)
        self._levels: dict[float, np.ndarray] = {}

    def __call__(self, ds: float, lvl_x: int, lvl_y: int, w: int, h: int) -> np.ndarray:
        tex = self._levels.get(ds)
        if tex is None:
            size = max(1, round(self._base.shape[0] / ds))
            tex = self._levels[ds] = cv2.resize(self._base, (size, size), interpolation=cv2.INTER_AREA)
        rows = (lvl_y + np.arange(h)) % tex.shape[0]
        cols = (lvl_x + np.arange(w)) % tex.shape[1]
        return tex[rows][:, cols]


def bench_slide(directory: Path, size: int) -> Path:
    """The benchmark slide (size x size px at 0.25 um/px), written on first use."""
    from her2viewer.slide.writer import write_pyramidal_tiff

    path = directory / f"her2viewer_bench_{size}.tif"
    if not path.exists():
        log.warning("writing %s (%d x %d px, once) ...", path, size, size)
        t0 = time.perf_counter()
        write_pyramidal_tiff(path, TiledRenderer(), size=(size, size), mpp=0.25, tile_size=512, quality=85)
        log.warning("wrote %.0f MB in %.0f s", path.stat().st_size / 1e6, time.perf_counter() - t0)
    return path


_CPU: dict[str, float] = {}


def _rate(fn, tiles: list[tuple[int, int]], name: str = "") -> float:
    """Tiles per wall-clock second; tiles per CPU second go to _CPU[name] (steadier on a busy machine)."""
    t0, c0 = time.perf_counter(), time.process_time()
    for col, row in tiles:
        fn(col, row)
    _CPU[name] = len(tiles) / max(time.process_time() - c0, 1e-9)
    return len(tiles) / (time.perf_counter() - t0)


def run_round(path: Path, tiles: list[tuple[int, int]]) -> dict[str, float]:
    """Tiles/s for DeepZoom, our cold and warm TileLayer, and our layer over the OpenSlide backend."""
    import openslide
    from openslide.deepzoom import DeepZoomGenerator

    from her2viewer.slide import TileCache, TileLayer, open_slide
    from her2viewer.slide.openslide_source import OpenSlideSource

    out: dict[str, float] = {}
    with openslide.OpenSlide(str(path)) as osr:
        dz = DeepZoomGenerator(osr, tile_size=512, overlap=0)
        dz_level = dz.level_count - 1
        out["deepzoom"] = _rate(lambda c, r: dz.get_tile(dz_level, (c, r)), tiles, "deepzoom")
    with open_slide(path) as src:
        layer = TileLayer(src, 512, cache=TileCache(4 * 2**30))
        out["cold"] = _rate(lambda c, r: layer.get_tile(0, c, r), tiles, "cold")
        out["warm"] = _rate(lambda c, r: layer.get_tile(0, c, r), tiles)
        out["backend"] = type(src).__name__  # type: ignore[assignment]
    with OpenSlideSource(path) as osrc:
        layer = TileLayer(osrc, 512, cache=TileCache(4 * 2**30))
        out["cold_openslide_backend"] = _rate(lambda c, r: layer.get_tile(0, c, r), tiles, "cold_openslide_backend")
    out.update({f"cpu_{k}": v for k, v in _CPU.items() if k in ("deepzoom", "cold", "cold_openslide_backend")})
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print tiles/s and ratios (also as one JSON line)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=40960, help="level-0 width and height (px)")
    ap.add_argument("--tiles", type=int, default=400, help="tiles per pass")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, each on fresh tiles; medians reported")
    ap.add_argument("--dir", type=Path, default=Path("/tmp"), help="where the benchmark slide is kept")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    path = bench_slide(args.dir, args.size)
    with open(path, "rb") as fh:  # into the OS page cache, so every pass measures decoding, not the disk
        while fh.read(64 * 2**20):
            pass
    cols = rows = -(-args.size // 512)
    rng = np.random.default_rng(args.seed)
    picks = rng.choice(cols * rows, size=min(cols * rows, args.tiles * args.rounds), replace=False)
    rounds = []
    for k in range(args.rounds):
        chunk = picks[k * args.tiles : (k + 1) * args.tiles]
        tiles = [(int(i % cols), int(i // cols)) for i in chunk]
        rounds.append(run_round(path, tiles))
    keys = ("deepzoom", "cold", "warm", "cold_openslide_backend", "cpu_deepzoom", "cpu_cold",
            "cpu_cold_openslide_backend")
    med = {key: statistics.median(r[key] for r in rounds) for key in keys}
    result = {
        "slide": str(path), "size": args.size, "tiles": args.tiles, "rounds": args.rounds,
        "backend": rounds[0]["backend"], **{f"{k}_tiles_per_s": round(v, 1) for k, v in med.items()},
        "cold_over_deepzoom": round(med["cold"] / med["deepzoom"], 3),
        "warm_over_cold": round(med["warm"] / med["cold"], 1),
        "openslide_backend_over_deepzoom": round(med["cold_openslide_backend"] / med["deepzoom"], 3),
        "cpu_cold_over_deepzoom": round(med["cpu_cold"] / med["cpu_deepzoom"], 3),
    }
    print(f"slide {path.name}: {args.size} x {args.size} px, {args.tiles} tiles x {args.rounds} rounds "
          f"(medians), our backend {result['backend']}")
    print(f"  DeepZoom get_tile        {med['deepzoom']:9.1f} tiles/s")
    print(f"  TileLayer cold           {med['cold']:9.1f} tiles/s   {result['cold_over_deepzoom']:.2f}x DeepZoom"
          " (target >= 0.9)")
    print(f"  TileLayer warm           {med['warm']:9.1f} tiles/s   {result['warm_over_cold']:.0f}x cold"
          " (target >= 20)")
    print(f"  TileLayer cold, OpenSlide backend {med['cold_openslide_backend']:9.1f} tiles/s   "
          f"{result['openslide_backend_over_deepzoom']:.2f}x DeepZoom")
    print(f"  per CPU second: DeepZoom {med['cpu_deepzoom']:.1f}, cold {med['cpu_cold']:.1f} "
          f"({result['cpu_cold_over_deepzoom']:.2f}x), OpenSlide backend {med['cpu_cold_openslide_backend']:.1f}")
    print(json.dumps(result))
    ok = result["cold_over_deepzoom"] >= 0.9 and result["warm_over_cold"] >= 20
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
