"""Feature-extraction tiles/s and seconds to score a synthetic whole slide with each method (issue 8).

Usage:
  .venv/bin/python benchmarks/bench_ipd.py [--size 40000] [--methods all] [--device cpu] [--json OUT]
  .venv/bin/python benchmarks/bench_ipd.py --size 8000 --methods rules,mil:abmil --n-tiles 64
  .venv/bin/python benchmarks/bench_ipd.py --only features --device cuda        # on a GPU machine

Features: N tissue tiles (256 px at 0.5 um/px) of a synthetic core (written as a pyramidal TIFF) through
the default extractor (her2viewer.features, ImageNet mobilenetv2_100), batched, warm-up batch excluded:
tiles/s of the backbone alone (tiles already in memory) and of the whole path extract_bag takes (read +
resize the tiles from the file, then forward).

Slide: a synthetic size x size slide at 0.5 um/px (her2viewer.synth tissue pieces on glass, a pyramidal
TIFF cached in /tmp/her2viewer_bench_ipd/ by size and seed) scored with each method through
her2viewer.scoring.driver.score_slide as `her2viewer score SLIDE --method M --scope slide` does (the CLI's
default options; --scope auto for the CLI's default scope). Each method runs in a fresh process, so its
model load is a first-time load and its peak RSS (VmHWM) is its own. mil is scored twice: cold (features
computed) and warm (from its feature cache, a temporary folder, never the user's). --profile DIR writes a
cProfile of each method's (cold) scoring.

Checkpoints: the bundled resources/models/<method>_default (mil_<aggregator>_default) when present, else a
RANDOMLY INITIALISED test checkpoint (her2viewer.scoring.*.testing) built with the default architecture and
input spec, so the time is the default model's (the score means nothing); the output says which.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(tempfile.gettempdir()) / "her2viewer_bench_ipd"
ALL_METHODS = ("pss", "rules", "mil:abmil", "mil:clam_sb", "mil:clam_mb", "mil:dtfd", "lowres", "patch")
MPP = 0.5
PIECE_PX = 3000       # typical tissue piece diameter on the slide (px at 0.5 um/px)
PIECE_SCALES = (0.6, 0.9, 1.3, 1.7)  # distinct pieces (generated once, placed many times), unequal like real
                                     # fragments; the 1.7 one sets the peak memory of making the slide (~4 GB)
PITCH, FILL = 0.6, 0.3  # grid pitch as a fraction of a typical piece's canvas; fraction of places filled
LOWRES_SIZE = 224     # training.config.TrainConfig.lowres_size: the default low-resolution (and patch) input


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB: VmHWM on Linux, where getrusage's ru_maxrss of
    a spawned child still holds its parent's peak (Linux keeps it across exec), else ru_maxrss."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux, bytes on macOS


# -- synthetic data ------------------------------------------------------------------------------------------

class PieceRenderer:
    """A `write_pyramidal_tiff` renderer: a few distinct tissue pieces, each placed several times on glass."""

    def __init__(self, glass_rgb: np.ndarray, pieces: list[tuple[np.ndarray, np.ndarray]],
                 places: list[tuple[int, int, int]]) -> None:
        self.glass_rgb, self.pieces, self.places = glass_rgb, pieces, places
        self._ds, self._scaled = 0.0, pieces

    def render(self, ds: float, lvl_x: int, lvl_y: int, w: int, h: int) -> np.ndarray:
        """RGB uint8 (h, w, 3) of the slide at downsample `ds`."""
        import cv2

        if ds != self._ds:
            self._scaled = [(img, a) if ds == 1 else
                            tuple(cv2.resize(v, (max(1, round(v.shape[1] / ds)), max(1, round(v.shape[0] / ds))),
                                             interpolation=cv2.INTER_AREA) for v in (img, a))
                            for img, a in self.pieces]
            self._ds = ds
        out = np.empty((h, w, 3), np.float32)
        out[:] = self.glass_rgb
        for l0_x, l0_y, k in self.places:
            img, a = self._scaled[k]
            px, py = round(l0_x / ds), round(l0_y / ds)
            x0, y0 = max(lvl_x, px), max(lvl_y, py)
            x1, y1 = min(lvl_x + w, px + img.shape[1]), min(lvl_y + h, py + img.shape[0])
            if x0 >= x1 or y0 >= y1:
                continue
            dst = out[y0 - lvl_y:y1 - lvl_y, x0 - lvl_x:x1 - lvl_x]
            src = img[y0 - py:y1 - py, x0 - px:x1 - px].astype(np.float32)
            dst += a[y0 - py:y1 - py, x0 - px:x1 - px, None] * (src - dst)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def make_slide(size: int, seed: int, label: str) -> tuple[Path, float]:
    """(path, seconds to make it; 0 when cached) of a size x size synthetic slide: tissue pieces on a
    jittered grid, overlapping, FILL of the places filled."""
    path = BENCH_DIR / f"wsi_{size}_seed{seed}_{label.replace('+', 'p')}_v4.tiff"
    if path.is_file():
        return path, 0.0
    from her2viewer.slide.writer import write_pyramidal_tiff
    from her2viewer.synth import params as P
    from her2viewer.synth.core import generate_core
    from her2viewer.synth.slides import _alpha  # the feathered alpha synth's own slides use

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    glass_od = rng.uniform(*P.GLASS_OD) + np.asarray(P.GLASS_WARMTH)
    diameter = min(PIECE_PX, size // 6)
    pieces = []
    for i, scale in enumerate(PIECE_SCALES):
        core = generate_core(label, seed * 1000 + i, diameter_px=int(diameter * scale), mpp=MPP, shape="piece",
                             jpeg=False, glass_od=glass_od, truth_maps=True)
        pieces.append((core.image, _alpha(core)))
    canvas = int(diameter * 1.35)  # generate_core's canvas around a piece of that diameter
    pitch = int(canvas * PITCH)  # pieces overlap: clumps of tissue, not a grid of cores (a TMA)
    n = max(1, (size - canvas) // pitch + 1)
    margin = (size - canvas - (n - 1) * pitch) // 2
    places = []
    for r in range(n):
        for c in range(n):
            if rng.random() < FILL or ((r, c) == (n - 1, n - 1) and not places):
                jx, jy = rng.integers(-pitch // 4, pitch // 4 + 1, 2)
                k = int(rng.integers(len(pieces)))
                side = max(pieces[k][0].shape[:2])
                places.append((int(np.clip(margin + c * pitch + jx, 0, max(0, size - side))),
                               int(np.clip(margin + r * pitch + jy, 0, max(0, size - side))), k))
    renderer = PieceRenderer((255.0 * np.power(10.0, -glass_od)).astype(np.float32), pieces, places)
    desc = {"generator": "benchmarks/bench_ipd.py", "kind": "wsi", "mpp": MPP, "label": label, "seed": seed,
            "pieces": [{"x": x, "y": y, "piece": k} for x, y, k in places]}
    write_pyramidal_tiff(path, renderer.render, size=(size, size), mpp=MPP, description=json.dumps(desc))
    return path, time.perf_counter() - t0


def make_core_tiff(px: int, seed: int) -> Path:
    """A synthetic 2+ core of diameter `px` as a pyramidal TIFF (cached)."""
    path = BENCH_DIR / f"core_{px}_seed{seed}.tiff"
    if not path.is_file():
        from her2viewer.slide.writer import write_pyramidal_tiff
        from her2viewer.synth.core import generate_core

        write_pyramidal_tiff(path, generate_core("2+", seed, diameter_px=px, mpp=MPP).image, mpp=MPP)
    return path


# -- part 1: feature extraction ------------------------------------------------------------------------------

def bench_features(a: argparse.Namespace) -> dict[str, Any]:
    """Tiles/s of the default extractor: forward alone and read + resize + forward, warm-up excluded."""
    import torch

    from her2viewer.features import TileSpec, get_extractor, tile_grid
    from her2viewer.features.extractor import DEFAULT_BACKBONE, DEFAULT_WEIGHTS
    from her2viewer.features.tiling import TileGrid, iter_tile_batches
    from her2viewer.scoring.pss.scorer import resolve_device
    from her2viewer.slide import open_slide
    from her2viewer.slide.region import Region

    device = resolve_device(a.device)
    path = make_core_tiff(a.core_px, a.seed)
    spec = TileSpec()
    with open_slide(path) as src:
        w, h = src.dimensions
        grid = tile_grid(src, Region((0, 0, w, h), None, "core"), spec)
    idx = np.arange(a.n_tiles) % len(grid)  # tiles repeat when the core has fewer than N
    sub = TileGrid(grid.l0_xy[idx], grid.grid_rc[idx], grid.l0_origin, grid.l0_tile_size, grid.shape, grid.tile_px)
    t0 = time.perf_counter()
    ext = get_extractor(DEFAULT_BACKBONE, DEFAULT_WEIGHTS, device)
    load_s = time.perf_counter() - t0
    bs = a.feature_batch or ext.batch_size

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    with open_slide(path) as src:
        t0 = time.perf_counter()
        tiles = np.concatenate([b for _, b in iter_tile_batches(src, sub, bs)])
        read_s = time.perf_counter() - t0
    ext(tiles[:bs])  # warm-up (first-call allocations, cuDNN autotuning)
    sync()
    fwd, whole = [], []
    for _ in range(max(1, a.repeats)):  # alternated, so a busy moment of the machine hits both alike
        t0 = time.perf_counter()
        for i in range(0, len(tiles), bs):
            ext(tiles[i:i + bs])
        sync()
        fwd.append(time.perf_counter() - t0)
        with open_slide(path) as src:  # a fresh open: nothing decoded yet
            t0 = time.perf_counter()
            for _, batch in iter_tile_batches(src, sub, bs):
                ext(batch)
            sync()
            whole.append(time.perf_counter() - t0)
    n = len(tiles)
    return {"backbone": ext.backbone, "weights": ext.weights, "dim": ext.dim, "device": device,
            "torch_threads": torch.get_num_threads(), "batch_size": bs, "n_tiles": n,
            "distinct_tiles": min(len(grid), n), "tile_px": spec.tile_px, "mpp": spec.mpp, "core_px": a.core_px,
            "load_s": load_s, "repeats": len(fwd), "read_tiles_per_s": n / read_s,
            "forward_tiles_per_s": n / min(fwd), "forward_tiles_per_s_median": n / float(np.median(fwd)),
            "whole_path_tiles_per_s": n / min(whole), "whole_path_tiles_per_s_median": n / float(np.median(whole))}


def print_features(f: dict[str, Any]) -> None:
    """One paragraph of feature-extraction figures."""
    print(f"feature extraction: {f['backbone']} ({f['weights']}, {f['dim']}-d) on {f['device']}, "
          f"{f['torch_threads']} torch threads, batch {f['batch_size']}, {f['n_tiles']} tiles "
          f"({f['distinct_tiles']} distinct) of {f['tile_px']} px at {f['mpp']} um/px from a {f['core_px']} px "
          f"synthetic core (TIFF)")
    print(f"  best of {f['repeats']} (median): backbone forward {f['forward_tiles_per_s']:.1f} "
          f"({f['forward_tiles_per_s_median']:.1f}) tiles/s; whole path (read + resize + forward) "
          f"{f['whole_path_tiles_per_s']:.1f} ({f['whole_path_tiles_per_s_median']:.1f}) tiles/s; reading alone "
          f"{f['read_tiles_per_s']:.0f} tiles/s; extractor load {f['load_s']:.2f} s")


# -- part 2: scoring a slide ---------------------------------------------------------------------------------

def resolve_checkpoint(method: str, agg: str | None, tmp: Path) -> tuple[str | None, str]:
    """(model_path for ScoreOptions (None: the scorer's bundled default), what it is) or (None, "skipped:
    ...") when neither the bundled default nor a test checkpoint of the default architecture exists."""
    from her2viewer.models.checkpoint import checkpoint_exists, default_model_path

    if method == "rules":
        return None, "no checkpoint (rule-based)"
    stem = default_model_path(f"mil_{agg}" if method == "mil" else method)
    if checkpoint_exists(stem):
        return None, f"bundled {stem}"
    if method == "mil":
        from her2viewer.features import TileSpec
        from her2viewer.features.extractor import DEFAULT_BACKBONE, DEFAULT_WEIGHTS
        from her2viewer.scoring.mil.testing import make_test_mil_checkpoint

        out = make_test_mil_checkpoint(tmp / f"mil_{agg}", aggregator=agg, backbone=DEFAULT_BACKBONE,
                                       weights=DEFAULT_WEIGHTS, tiles=TileSpec())
        return str(out), (f"RANDOM test checkpoint (mil/testing.py) on the default extractor {DEFAULT_BACKBONE} "
                          f"ImageNet, default tiles {TileSpec().tile_px} px at {TileSpec().mpp} um/px (aggregator "
                          "hidden 32 / attn 16, not 256 / 128: about 0.2 s less per 8,000 tiles)")
    if method == "lowres":
        from her2viewer.models.lowres import DEFAULT_LOWRES_MODEL
        from her2viewer.scoring.lowres.testing import make_test_lowres_checkpoint

        out = make_test_lowres_checkpoint(tmp / "lowres", arch=DEFAULT_LOWRES_MODEL, size=LOWRES_SIZE)
        return str(out), f"RANDOM test checkpoint (lowres/testing.py) {DEFAULT_LOWRES_MODEL} at {LOWRES_SIZE} px"
    if method == "patch":
        from her2viewer.atomic import atomic_write_text
        from her2viewer.features import TileSpec
        from her2viewer.models.checkpoint import checkpoint_files, read_card
        from her2viewer.models.patch_classifier import DEFAULT_PATCH_MODEL
        from her2viewer.scoring.patch.testing import make_test_patch_checkpoint

        d = TileSpec()
        out = make_test_patch_checkpoint(tmp / "patch", arch=DEFAULT_PATCH_MODEL, tile_px=d.tile_px, mpp=d.mpp,
                                         size=LOWRES_SIZE, aggregator="rf")
        card = read_card(out)  # the helper keeps tiles with 30% tissue; the default spec keeps 50%
        card.input_spec["min_tissue"] = d.min_tissue
        atomic_write_text(checkpoint_files(out)[1], card.to_json())
        return str(out), (f"RANDOM test checkpoint (patch/testing.py) {DEFAULT_PATCH_MODEL}, tiles {d.tile_px} px "
                          f"at {d.mpp} um/px resized to {LOWRES_SIZE}, rf aggregator")
    return None, f"skipped: no checkpoint ({stem} is not there)"


def _tiles_of(method: str, params: dict[str, Any]) -> int | None:
    """Tiles the method looked at (rules: its analysis tiles; pss, lowres: none)."""
    if method == "mil":
        return int(params["n_tiles"])
    if method == "patch":
        return int(sum(params.get("patch_counts", {}).values()))
    if method == "rules":
        return int(params["tiles"])
    return None


def score_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run in a fresh process: load the scorer, score the slide (mil twice), time it, note the peak RSS."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="  [%(name)s] %(message)s")
    import torch

    from her2viewer.models.checkpoint import CheckpointError
    from her2viewer.scoring.base import ScoreOptions, create_scorer
    from her2viewer.scoring.driver import score_slide
    from her2viewer.slide import open_slide

    torch.set_num_threads(job["threads"])
    method = job["method"]
    out: dict[str, Any] = {"rss_after_import_mb": _peak_rss_mb()}
    opts = ScoreOptions(device=job["device"], model_path=job["model_path"], extra=job["extra"])
    t0 = time.perf_counter()
    try:
        scorer = create_scorer(method, opts)
    except CheckpointError as e:
        return {**out, "skipped": f"skipped: {e}"}
    out["load_s"] = time.perf_counter() - t0
    out["rss_after_load_mb"] = _peak_rss_mb()
    runs, cached = [], []
    for i in range(2 if method == "mil" else 1):
        prof = None
        if job["profile"] and i == 0:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        t0 = time.perf_counter()
        with open_slide(job["slide"]) as src:
            res = score_slide(src, method, opts, scope=job["scope"], scorer=scorer)
        runs.append(time.perf_counter() - t0)
        cached.append(bool(res.params.get("features_cached", False)))
        if prof is not None:
            prof.disable()
            prof.dump_stats(job["profile"])
    p = res.params
    tiles = p.get("tiles")
    out.update(score_s=runs[0], wall_s=out["load_s"] + runs[0], score=res.score, n_regions=p.get("n_regions"),
               scope=p.get("scope"), n_tiles=_tiles_of(method, p), n_samples=len(res.samples),
               device=p.get("device"),
               max_tiles=tiles.get("max_tiles") if isinstance(tiles, dict) else None,
               model=res.model.name, model_path=p.get("model_path"), peak_rss_mb=_peak_rss_mb())
    if method == "mil":
        out.update(warm_s=runs[1], cold_features_cached=cached[0], warm_features_cached=cached[1])
    return out


def bench_slide(a: argparse.Namespace) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Make (or reuse) the slide and score it with each method, each in a fresh process."""
    path, made_s = make_slide(a.size, a.seed, a.label)
    from her2viewer.slide import open_slide
    from her2viewer.tissue.mask import tissue_mask

    with open_slide(path) as src:
        frac = tissue_mask(src).tissue_fraction()
    slide = {"path": str(path), "size": a.size, "mpp": MPP, "seed": a.seed, "label": a.label,
             "made_s": made_s, "tissue_fraction": frac, "file_mb": path.stat().st_size / 2**20}
    made = f"made in {made_s:.0f} s" if made_s else "cached"
    print(f"slide: {path} ({a.size} x {a.size} px at {MPP} um/px, {100 * frac:.0f}% tissue, "
          f"{slide['file_mb']:.0f} MiB, {made})")
    rows = []
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench_ipd_") as tmp:
        for name in a.methods:
            method, _, agg = name.partition(":")
            model_path, what = resolve_checkpoint(method, agg or None, Path(tmp))
            row: dict[str, Any] = {"method": name, "checkpoint": what}
            if what.startswith("skipped"):
                rows.append(row)
                print(f"{name}: {what}")
                continue
            extra: dict[str, Any] = {"batch_size": a.batch_size}  # as `her2viewer score` passes it
            if method == "mil":
                extra.update(aggregator=agg, feature_cache=str(Path(tmp) / f"features_{agg}"))
            if method in ("mil", "patch") and a.max_tiles is not None:
                extra["max_tiles"] = a.max_tiles
            job = {"method": method, "slide": str(path), "scope": a.scope, "device": a.device, "threads": a.threads,
                   "model_path": model_path, "extra": extra,
                   "profile": str(Path(a.profile) / f"{name.replace(':', '_')}.prof") if a.profile else ""}
            with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
                try:
                    row.update(pool.submit(score_job, job).result())
                except Exception as e:  # noqa: BLE001 - one method failing must not hide the others
                    row["error"] = f"{type(e).__name__}: {e}"
            rows.append(row)
            print_row(row)
    return slide, rows


def print_row(r: dict[str, Any]) -> None:
    """One method's figures."""
    if "skipped" in r or "error" in r:
        print(f"{r['method']}: {r.get('skipped') or 'ERROR ' + r['error']}")
        return
    tiles = "-" if r["n_tiles"] is None else str(r["n_tiles"])
    if r["method"] == "pss":
        tiles = f"- ({r['n_samples']} PSSs)"
    warm = f", warm (feature cache) {r['warm_s']:.1f} s" if "warm_s" in r else ""
    cap = f", max_tiles {r['max_tiles']}" if r.get("max_tiles") is not None else ""
    print(f"{r['method']}: {r['wall_s']:.1f} s wall = load {r['load_s']:.1f} s + scoring {r['score_s']:.1f} s"
          f"{warm}; {r['n_regions']} region(s) ({r['scope']}), tiles {tiles}{cap}; score {r['score']}; "
          f"peak RSS {r['peak_rss_mb']:.0f} MiB (after load {r['rss_after_load_mb']:.0f}); {r['device']}")
    print(f"    checkpoint: {r['checkpoint']}" + (f" -> {r['model_path']}" if r.get("model_path") else ""))


def parse_methods(text: str) -> list[str]:
    """'all' | comma list of methods; 'mil' means the four aggregators."""
    out: list[str] = []
    for m in (s.strip() for s in text.split(",") if s.strip()):
        if m == "all":
            out += ALL_METHODS
        elif m == "mil":
            out += [n for n in ALL_METHODS if n.startswith("mil:")]
        elif m in ALL_METHODS:
            out.append(m)
        else:
            raise argparse.ArgumentTypeError(f"unknown method {m!r}; use all, mil or {', '.join(ALL_METHODS)}")
    return list(dict.fromkeys(out))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the figures, optionally write them as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=40000, help="slide side in px at 0.5 um/px (default 40000)")
    ap.add_argument("--methods", type=parse_methods, default=list(ALL_METHODS),
                    help="all (default), mil, or a comma list of " + ", ".join(ALL_METHODS))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--scope", default="slide", choices=["slide", "auto", "cores"],
                    help="score_slide scope (default slide: the tissue as one region, `her2viewer score --scope "
                         "slide`); auto is the CLI default, which may take tissue fragments for TMA cores")
    ap.add_argument("--max-tiles", type=int, default=None,
                    help="mil/patch ScoreOptions.extra max_tiles (default: the checkpoint's; 0 = all tiles)")
    ap.add_argument("--batch-size", type=int, default=10, help="extra batch_size, as `her2viewer score` (10)")
    ap.add_argument("--only", choices=["features", "slide"], default=None, help="run one part only")
    ap.add_argument("--n-tiles", type=int, default=256, help="tiles for the feature throughput (default 256)")
    ap.add_argument("--repeats", type=int, default=3, help="timed feature passes (best and median shown)")
    ap.add_argument("--feature-batch", type=int, default=0, help="extractor batch (default: the extractor's, 32)")
    ap.add_argument("--core-px", type=int, default=3000, help="synthetic core diameter for the feature tiles")
    ap.add_argument("--label", default="2+", choices=["0", "1+", "2+", "3+"], help="slide tissue label")
    ap.add_argument("--seed", type=int, default=4040)
    ap.add_argument("--profile", default=None, metavar="DIR", help="cProfile each method's (cold) scoring here")
    ap.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write the figures ('-': stdout)")
    a = ap.parse_args(argv)

    import torch

    torch.set_num_threads(a.threads)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    if a.profile:
        Path(a.profile).mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"benchmark": "bench_ipd", "machine": {
        "platform": platform.platform(), "cpus": multiprocessing.cpu_count(), "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}, "args": {
        k: v for k, v in vars(a).items() if k != "json_out"}}
    if a.only in (None, "features"):
        doc["features"] = bench_features(a)
        print_features(doc["features"])
    if a.only in (None, "slide"):
        doc["slide"], doc["methods"] = bench_slide(a)
    if a.json_out:
        text = json.dumps(doc, indent=1)
        if a.json_out == "-":
            print(text)
        else:
            from her2viewer.atomic import atomic_write_text

            atomic_write_text(Path(a.json_out), text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
