"""Fuzz cases: damaged and hostile inputs (made by `corpus`) paired with the CLI command that reads them,
and a runner that classifies each run: ok, clean error, traceback, hang, crash, memory over the limit.

Used by tests/fuzz (a quick fixed subset) and benchmarks/fuzz.py (hundreds of cases).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from her2viewer.models.checkpoint import default_model_path
from her2viewer.slide.writer import write_pyramidal_tiff

from . import corpus

REPO = Path(__file__).resolve().parents[2]
SHARED_WSI = REPO.parent / "shared" / "data" / "wsi"
TIMEOUT_S = 30.0
MEMORY_LIMIT_MB = 2048
CATEGORIES = ("ok", "clean error", "unnamed error", "traceback", "hang", "crash", "memory > 2 GB")


@dataclass
class Case:
    """One CLI run: a name, the input it is about and the arguments after `her2viewer`."""

    name: str
    kind: str
    target: Path
    argv: list[str]
    quick: bool = False


@dataclass
class Outcome:
    """How one case ended."""

    case: Case
    category: str
    returncode: int | None
    seconds: float
    peak_mb: float
    stderr: str = field(repr=False, default="")


# ---- inputs ---------------------------------------------------------------------------------------

def _bases(d: Path) -> dict[str, Path]:
    """Valid inputs every variant starts from."""
    img = corpus.core_image(5, 700)
    bases = {"png": corpus.write_png(d / "core.png", img),
             "tif": write_pyramidal_tiff(d / "core.tif", img, mpp=0.5, tile_size=256, min_level_size=128),
             "tiled": corpus.write_tiled_tiff(d / "tiled.tif", img, levels=1, tile=128)}
    cv2.imwrite(str(d / "core.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    bases["jpg"] = d / "core.jpg"
    svs = SHARED_WSI / "CMU-1-Small-Region.svs"
    if svs.is_file():
        bases["svs"] = Path(shutil.copy(svs, d / "cmu.svs"))
    return bases


def slide_inputs(d: Path, n_variants: int, seed: int = 0) -> list[tuple[str, Path, bool]]:
    """(name, path, quick) of damaged and hostile slide files under `d`."""
    d.mkdir(parents=True, exist_ok=True)
    b = _bases(d)
    out: list[tuple[str, Path, bool]] = [(f"good-{k}", p, k in ("png", "tif")) for k, p in b.items()]
    out += [("ifd-loop", corpus.ifd_loop(b["tif"], d / "loop.svs"), True),
            ("huge-width", corpus.huge_width(b["tif"], d / "wide.tif"), True),
            ("png-bomb", corpus.png_bomb(d / "bomb.png", 20_000, 15_000), True),
            ("jpeg-bomb", corpus.jpeg_bomb(d / "bomb.jpg"), True),
            ("pipe", corpus.named_pipe(d / "pipe.svs"), True),
            ("trunc-tif", corpus.truncated(b["tif"], d / "trunc.tif", 0.5), True),
            ("trunc-png", corpus.truncated(b["png"], d / "trunc.png", 0.7), False),
            ("empty", _write(d / "empty.svs", b""), False),
            ("text", _write(d / "notes.svs", b"hello, this is not a slide\n"), False),
            ("one-byte-tiff", _write(d / "magic.tif", b"II*\x00"), False)]
    if "svs" in b:
        out.append(("svs-minus-1-byte", corpus.truncated(b["svs"], d / "cmu-cut.svs", b["svs"].stat().st_size - 1),
                    True))
        out.append(("svs-loop", corpus.ifd_loop(b["svs"], d / "cmu-loop.svs"), False))
    rng = np.random.default_rng(seed)
    kinds = [k for k in b if k != "svs"] + (["svs"] if "svs" in b else [])
    for i in range(n_variants):
        k = kinds[i % len(kinds)]
        suffix = b[k].suffix
        if i % 2:
            p = corpus.bit_flipped(b[k], d / f"flip{i}{suffix}", int(rng.integers(1 << 30)), int(rng.integers(1, 40)))
            out.append((f"flip-{k}-{i}", p, False))
        else:
            p = corpus.truncated(b[k], d / f"cut{i}{suffix}", float(rng.uniform(0.02, 0.99)))
            out.append((f"cut-{k}-{i}", p, False))
    return out


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def json_inputs(d: Path, n_variants: int, seed: int = 0) -> dict[str, list[tuple[str, Path, bool]]]:
    """GeoJSON, result, model card and profile files under `d`, by kind."""
    from tests.report._results import rules_result, tma_result

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out: dict[str, list[tuple[str, Path, bool]]] = {"geojson": [], "result": [], "card": [], "profile": []}
    quick_geo = {"measure-inf", "coords-nan", "bowtie", "list-top"}
    for name, obj in corpus.geojson_cases().items():
        out["geojson"].append((f"geo-{name}", corpus.write_json(d / f"geo-{name}.geojson", obj), name in quick_geo))
    out["geojson"].append(("geo-1e999", _write(d / "geo-1e999.geojson", json.dumps(
        corpus.geojson_cases()["measure-inf"]).replace("Infinity", "1e999").encode()), True))
    out["geojson"].append(("geo-deep-text", _write(d / "geo-deep.geojson", b"[" * 100_000 + b"]" * 100_000), False))
    out["geojson"].append(("geo-big", corpus.write_json(d / "geo-big.geojson", corpus.big_polygon(200_000)), False))
    quick_res = {"bbox-strings", "bbox-nan", "cores-object", "heatmap-string", "deep", "review-long"}
    goods = {"rules": rules_result().to_dict(), "tma": tma_result(2, 2).to_dict()}
    for gname, good in goods.items():
        for name, obj in corpus.result_cases(good).items():
            out["result"].append((f"res-{gname}-{name}", corpus.write_json(d / f"res-{gname}-{name}.json", obj),
                                  gname == "rules" and name in quick_res))
    card_dir = d / "cards"
    card_dir.mkdir(exist_ok=True)
    for method in ("pss", "mil_abmil"):
        stem = default_model_path(method)
        good = json.loads(Path(f"{stem}.json").read_text())
        for name, obj in {"good": good, **corpus.card_cases(good)}.items():
            path = card_dir / f"{method}-{name}.json"
            shutil.copy(f"{stem}.safetensors", path.with_suffix(".safetensors"))
            corpus.write_json(path, obj)
            out["card"].append((f"card-{method}-{name}", path, name in ("huge-in-dim", "huge-n-patches")))
    prof = {"format": "her2viewer-stain-profile/1", "thresholds": {"faint": 0.05, "moderate": 0.12,
                                                                  "strong": 0.25, "complete": 0.6}}
    for name, obj in {"good": prof, "list": [prof], "nan": {**prof, "thresholds": {"faint": float("nan")}},
                      "n-images": {**prof, "n_images": "many"}, "floor-inf": {**prof, "thresholds": {
                          **prof["thresholds"], "sector_floor": float("inf")}}}.items():
        out["profile"].append((f"profile-{name}", corpus.write_json(d / f"profile-{name}.json", obj), name == "nan"))
    all_json = [p for kind in out.values() for _, p, _ in kind if p.suffix == ".json" or p.suffix == ".geojson"]
    for i in range(n_variants):  # byte-level damage of random JSON inputs
        src = all_json[int(rng.integers(len(all_json)))]
        kind = next(k for k, items in out.items() if any(p == src for _, p, _ in items))
        dst = src.with_name(f"dmg{i}-{src.name}")
        if i % 2:
            corpus.bit_flipped(src, dst, int(rng.integers(1 << 30)), int(rng.integers(1, 6)))
        else:
            corpus.truncated(src, dst, float(rng.uniform(0.05, 0.95)))
        if kind == "card":
            shutil.copy(src.with_suffix(".safetensors"), dst.with_suffix(".safetensors"))
        out[kind].append((f"{kind}-damaged-{i}", dst, False))
    return out
