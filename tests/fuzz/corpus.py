"""Damaged and hostile input files made at test time (used by tests/fuzz and benchmarks/fuzz.py).

Each maker writes one file under a folder and returns its path; nothing here needs ../shared.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import tifffile

from her2viewer.slide.tiff_guard import _Walker


def core_image(seed: int = 0, diameter_px: int = 600) -> np.ndarray:
    """A small synthetic HER2 core (RGB) from the generator."""
    from her2viewer.synth.core import generate_core

    return generate_core(seed=seed, diameter_px=diameter_px).image


def write_png(path: Path, rgb: np.ndarray) -> Path:
    """An RGB array as a PNG file."""
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def write_tiled_tiff(path: Path, rgb: np.ndarray, *, levels: int = 2, tile: int = 128) -> Path:
    """A small pyramidal tiled TIFF (consecutive IFDs) of `rgb`."""
    with tifffile.TiffWriter(path) as tw:
        img = rgb
        for i in range(levels):
            tw.write(img, tile=(tile, tile), photometric="rgb", compression="zlib",
                     subfiletype=1 if i else 0)
            img = img[::2, ::2]
    return path


def _ifd_offsets(path: Path) -> tuple[_Walker, list[int], list[int]]:
    """The main chain's IFD offsets and the file positions of their next-IFD pointers."""
    size = path.stat().st_size
    fh = open(path, "rb")  # noqa: SIM115 - closed by the caller through walker.fh
    w = _Walker(path, fh, size)
    offsets, next_at = [], []
    off = w.first
    while off and off not in offsets:
        tags, nxt = w.entries(off)
        offsets.append(off)
        count_size, entry = (8, 20) if w.big else (2, 12)
        next_at.append(off + count_size + len(tags) * entry)
        off = nxt
    return w, offsets, next_at


def patch_bytes(src: Path, dst: Path, edits: dict[int, bytes]) -> Path:
    """A copy of `src` with bytes replaced at the given offsets."""
    data = bytearray(src.read_bytes())
    for at, b in edits.items():
        data[at : at + len(b)] = b
    dst.write_bytes(bytes(data))
    return dst


def ifd_loop(src: Path, dst: Path) -> Path:
    """`src` with the last directory's next pointer aimed back at the first directory."""
    w, offsets, next_at = _ifd_offsets(src)
    w.fh.close()
    fmt = w.bo + ("Q" if w.big else "I")
    return patch_bytes(src, dst, {next_at[-1]: struct.pack(fmt, offsets[0])})


def huge_width(src: Path, dst: Path, width: int = 1_000_000) -> Path:
    """`src` with its first directory's ImageWidth patched to `width`."""
    w, offsets, _ = _ifd_offsets(src)
    tags, _ = w.entries(offsets[0])
    w.fh.close()
    entry = tags[256]
    fmt = w.bo + ("H" if entry.type == 3 else "I")
    if entry.type == 3:
        width = min(width, 65535)
    return patch_bytes(src, dst, {entry.value_at: struct.pack(fmt, width)})


def truncated(src: Path, dst: Path, keep: float | int) -> Path:
    """The first `keep` bytes (or fraction) of `src`."""
    data = src.read_bytes()
    n = keep if isinstance(keep, int) else int(len(data) * keep)
    dst.write_bytes(data[:n])
    return dst


def bit_flipped(src: Path, dst: Path, seed: int, flips: int = 8) -> Path:
    """`src` with `flips` random bits flipped (the first 4 magic bytes kept)."""
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(seed)
    for at in rng.integers(4, len(data), flips):
        data[at] ^= 1 << int(rng.integers(0, 8))
    dst.write_bytes(bytes(data))
    return dst


def png_bomb(dst: Path, width: int = 30_000, height: int = 30_000) -> Path:
    """A complete all-black PNG of `width` x `height` RGB pixels: a few MB on disk, GB decoded."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    z = zlib.compressobj(9)
    block = b"\x00" * (1 + 3 * width) * 500
    parts = [z.compress(block) for _ in range(height // 500)]
    parts.append(z.compress(b"\x00" * (1 + 3 * width) * (height % 500)))
    parts.append(z.flush())
    idat = b"".join(parts)
    dst.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return dst


def jpeg_bomb(dst: Path, width: int = 60_000, height: int = 60_000) -> Path:
    """A small JPEG whose SOF header is patched to declare `width` x `height` pixels."""
    ok, buf = cv2.imencode(".jpg", np.full((64, 64, 3), 200, np.uint8))
    data = bytearray(buf.tobytes())
    at = data.find(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", min(height, 65535), min(width, 65535))
    dst.write_bytes(bytes(data))
    return dst


def named_pipe(dst: Path) -> Path:
    """A named pipe (nobody writes to it: opening it for reading blocks)."""
    os.mkfifo(dst)
    return dst


def write_json(dst: Path, obj: object) -> Path:
    """`obj` as JSON text (NaN and Infinity written as such)."""
    dst.write_text(json.dumps(obj), encoding="utf-8")
    return dst


def polygon_feature(coords: list, **props: object) -> dict:
    """A GeoJSON polygon feature."""
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": coords},
            "properties": {"classification": {"name": "Tumor"}, **props}}


def geojson_cases() -> dict[str, object]:
    """Malformed and hostile GeoJSON documents by name."""
    square = [[[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]]]
    bowtie = [[[0, 0], [100, 100], [100, 0], [0, 100], [0, 0]]]
    fc = lambda *f: {"type": "FeatureCollection", "features": list(f)}  # noqa: E731
    return {
        "ok": fc(polygon_feature(square)),
        "list-top": [1, 2, 3],
        "features-object": {"type": "FeatureCollection", "features": {"a": 1}},
        "coords-strings": fc(polygon_feature([[["a", "b"], ["c", "d"], ["e", "f"]]])),
        "coords-nan": fc(polygon_feature([[[0, 0], [float("nan"), 0], [1, 1], [0, 0]]])),
        "measure-inf": fc(*[polygon_feature(square, measurements={"area": float("inf") if i == 2 else 1.0})
                            for i in range(5)]),
        "bowtie": fc(polygon_feature(bowtie)),
        "deep": fc(polygon_feature(_nest(600))),
        "geometry-null": fc({"type": "Feature", "geometry": None, "properties": {}}),
        "props-list": fc({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": square},
                          "properties": [1, 2]}),
        "huge-number": fc(polygon_feature([[[0, 0], [1e300, 0], [1e300, 1e300], [0, 0]]])),
    }


def _nest(depth: int) -> list:
    out: list = [0, 0]
    for _ in range(depth):
        out = [out]
    return out


def big_polygon(n: int) -> dict:
    """A FeatureCollection with one polygon of `n` vertices (a circle)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.stack([1000 + 900 * np.cos(t), 1000 + 900 * np.sin(t)], 1).round(2).tolist()
    ring.append(ring[0])
    return {"type": "FeatureCollection", "features": [polygon_feature([ring])]}


def result_cases(good: dict) -> dict[str, dict]:
    """Malformed variants of a valid result JSON `good`, by name."""
    def with_(**kw: object) -> dict:
        return {**good, **kw}

    cores = good.get("cores") or [{"id": "A1", "bbox": [0, 0, 10, 10], "score": "2+"}]
    core = dict(cores[0])
    return {
        "bbox-strings": with_(cores=[{**core, "bbox": ["a", "b", "c", "d"]}]),
        "bbox-nan": with_(cores=[{**core, "bbox": [float("nan"), 0, 1, 1]}]),
        "bbox-inf": with_(cores=[{**core, "bbox": [0, 0, float("inf"), 1]}]),
        "bbox-short": with_(cores=[{**core, "bbox": [0, 0]}]),
        "cores-object": with_(cores={"A1": core}),
        "core-list": with_(cores=[[1, 2, 3]]),
        "probabilities-list": with_(probabilities=[0.1, 0.2, 0.3, 0.4]),
        "probabilities-nan": with_(probabilities={"0": float("nan"), "1+": 0.2, "2+": 0.3, "3+": 0.5}),
        "probabilities-strings": with_(probabilities={"0": "x", "1+": 0.2, "2+": 0.3, "3+": 0.5}),
        "qc-list": with_(qc=[1, 2]),
        "qc-messages-object": with_(qc={**(good.get("qc") or {}), "messages": {"a": 1}}),
        "samples-object": with_(samples={"a": 1}),
        "sample-list": with_(samples=[[1, 2]]),
        "cells-list": with_(cells=[1, 2]),
        "heatmap-shape": with_(heatmap={"values": [[1, 2], [3]], "bbox": [0, 0, 10, 10]}),
        "heatmap-string": with_(heatmap="abc"),
        "score-number": with_(score=3),
        "confidence-string": with_(confidence="high"),
        "confidence-inf": with_(confidence=float("inf")),
        "elapsed-list": with_(elapsed_s=[1]),
        "model-list": with_(model=["a"]),
        "slide-number": with_(slide=12),
        "missing-method": {k: v for k, v in good.items() if k != "method"},
        "missing-score": {k: v for k, v in good.items() if k != "score"},
        "deep": with_(extra=_nest(600)),
        "review-long": with_(review={"comment": "Lorem ipsum dolor sit amet. " * 150, "reviewer": "x" * 5000}),
        "top-list": [good],  # type: ignore[dict-item]
    }


def card_cases(good: dict) -> dict[str, dict]:
    """Hostile variants of a valid model card dict, by name."""
    def with_(**kw: object) -> dict:
        return {**good, **kw}

    arch = good.get("architecture", {})
    kwargs = arch.get("kwargs", {})
    spec = good.get("input_spec", {})
    return {
        "card-list": [good],  # type: ignore[dict-item]
        "classes-object": with_(classes={"a": 1}),
        "classes-many": with_(classes=[str(i) for i in range(5000)]),
        "huge-in-dim": with_(architecture={**arch, "kwargs": {**kwargs, "in_dim": 10**9, "hidden": 10**9}}),
        "huge-n-patches": with_(architecture={**arch, "kwargs": {**kwargs, "n_patches": 10**7}}),
        "kwargs-list": with_(architecture={**arch, "kwargs": [1, 2]}),
        "arch-unknown": with_(architecture={"name": "no-such-net", "kwargs": {}}),
        "arch-string": with_(architecture="pss"),
        "patch-size-huge": with_(input_spec={**spec, "patch_size": 10**9}),
        "mpp-nan": with_(input_spec={**spec, "mpp": float("nan")}),
        "spec-list": with_(input_spec=[1]),
        "name-list": with_(name=[1]),
        "missing-name": {k: v for k, v in good.items() if k != "name"},
        "sha-number": with_(sha256=12),
    }


MAKERS: dict[str, Callable[..., Path]] = {
    "ifd_loop": ifd_loop, "huge_width": huge_width, "truncated": truncated, "bit_flipped": bit_flipped,
    "png_bomb": png_bomb, "jpeg_bomb": jpeg_bomb, "named_pipe": named_pipe,
}


def big_single_level_tiff(dst: Path, side: int = 60_000, tile: int = 512, tissue_px: int = 3072,
                          seed: int = 0) -> Path:
    """A single-level tiled TIFF of `side` x `side` px (a few MB): glass (sparse tiles) around a central
    block of synthetic tissue tiles; tiles are deflate-compressed and repeated by pointer."""
    core = core_image(seed, tissue_px)[:tissue_px, :tissue_px]
    n = -(-side // tile)
    t0 = (n - tissue_px // tile) // 2
    blobs: dict[tuple[int, int], bytes] = {}
    for r in range(tissue_px // tile):
        for c in range(tissue_px // tile):
            part = np.ascontiguousarray(core[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile])
            blobs[(t0 + r, t0 + c)] = zlib.compress(part.tobytes(), 6)
    head = 8
    data = b"".join(blobs.values())
    where, at = {}, head
    for key, blob in blobs.items():
        where[key] = (at, len(blob))
        at += len(blob)
    offsets = [where.get((r, c), (0, 0))[0] for r in range(n) for c in range(n)]
    counts = [where.get((r, c), (0, 0))[1] for r in range(n) for c in range(n)]
    arrays_at = at
    off_bytes = struct.pack(f"<{len(offsets)}I", *offsets)
    cnt_bytes = struct.pack(f"<{len(counts)}I", *counts)
    bps_at = arrays_at + len(off_bytes) + len(cnt_bytes)
    ifd_at = bps_at + 6
    entries = [(256, 4, 1, side), (257, 4, 1, side), (258, 3, 3, bps_at), (259, 3, 1, 8), (262, 3, 1, 2),
               (277, 3, 1, 3), (284, 3, 1, 1), (322, 3, 1, tile), (323, 3, 1, tile),
               (324, 4, len(offsets), arrays_at), (325, 4, len(counts), arrays_at + len(off_bytes))]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, cnt, val in entries:
        packed = struct.pack("<HI", val, 0)[:4] if (typ == 3 and cnt == 1) else struct.pack("<I", val)
        ifd += struct.pack("<HHI", tag, typ, cnt) + packed
    ifd += struct.pack("<I", 0)
    with open(dst, "wb") as fh:
        fh.write(b"II*\x00" + struct.pack("<I", ifd_at))
        fh.write(data + off_bytes + cnt_bytes + struct.pack("<3H", 8, 8, 8) + ifd)
    return dst
