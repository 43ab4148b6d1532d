"""Paint a layout into haematoxylin and DAB concentration maps, then into RGB with acquisition effects."""

from __future__ import annotations

import cv2
import numpy as np

from ..stain import StainMatrix
from . import params as P
from .layout import Layout
from .noise import fine_noise, smooth_noise
from .style import SYNTH_1_1, Style

#: value of `membrane_class` truth-map pixels on the membrane of unstained (class 0) cells.
UNSTAINED_MEMBRANE = 255


def _draw_ellipses(img: np.ndarray, cx, cy, ax, ay, ang, val, thickness: int = -1) -> None:
    for x, y, a, b, t, v in zip(cx, cy, ax, ay, ang, val, strict=True):
        cv2.ellipse(img, (int(round(x * 4)), int(round(y * 4))), (int(a * 4), int(b * 4)), float(t), 0, 360,
                    float(v), thickness, cv2.LINE_AA, 2)


def _px_per_um(lay: Layout, style: Style) -> float:
    """Pixels per micrometre of a layout, approximated through its cell size and the style's cell range."""
    return float(lay.cell_px / np.mean(style.tumour_cell_um))


def paint_nuclei(lay: Layout, hema: np.ndarray, rng: np.random.Generator, strength: float,
                 style: Style = SYNTH_1_1) -> dict:
    """Tumour nuclei, stromal (fibroblast) nuclei and lymphocytes into the haematoxylin map; counts."""
    h, w = hema.shape
    um = _px_per_um(lay, style)
    nuc = np.zeros((h, w), np.float32)
    n = len(lay.cx)
    frac = rng.uniform(*style.nucleus_fraction)
    r = lay.cell_px * frac / 2 * rng.uniform(0.8, 1.2, n) * rng.lognormal(0, 0.08, n)
    elong = rng.uniform(1.0, 1.25, n)
    off = lay.cell_px * 0.08
    ncx = lay.cx + rng.normal(0, off, n)
    ncy = lay.cy + rng.normal(0, off, n)
    val = rng.uniform(*style.hema_tumour_nucleus) * rng.uniform(0.8, 1.2, n)
    ang = rng.uniform(0, 180, n)
    _draw_ellipses(nuc, ncx, ncy, r * elong, r / elong, ang, val)
    tex = fine_noise((h, w), rng, sigma=1.0)
    nuc *= 0.9 + 0.2 * np.clip(tex, -2, 2)
    # nuclear rim and nucleoli
    _draw_ellipses(nuc, ncx, ncy, r * elong, r / elong, ang, val * 1.3, thickness=1)
    has = rng.random(n) < 0.35
    for x, y, v in zip(ncx[has], ncy[has], val[has], strict=True):
        cv2.circle(nuc, (int(round(x * 4)), int(round(y * 4))), int(4 * rng.uniform(1.0, 2.0)), float(v * 2.0),
                   -1, cv2.LINE_AA, 2)
    # stromal nuclei (elongated, sparse) and lymphocytes (small, dark, some clustered)
    spts = np.argwhere(lay.stroma[::4, ::4]) * 4
    n_str = int(spts.shape[0] * 16 / (55 * um) ** 2 * rng.uniform(0.6, 1.4))
    if n_str and len(spts):
        pick = spts[rng.integers(len(spts), size=n_str)] + rng.uniform(0, 4, (n_str, 2))
        ang = np.degrees(lay.region_field[(pick[:, 0] // 8).astype(int), (pick[:, 1] // 8).astype(int)] * 1.5)
        ang = ang + rng.normal(0, 12, n_str)
        _draw_ellipses(nuc, pick[:, 1], pick[:, 0], rng.uniform(4, 7, n_str) * um, rng.uniform(1.0, 1.8, n_str) * um,
                       ang, rng.uniform(*style.hema_stromal_nucleus, n_str))
    n_lym = 0
    if len(spts):
        centres = spts[rng.integers(len(spts), size=int(rng.integers(0, 6)))]
        groups = [c + rng.normal(0, rng.uniform(15, 60) * um, (int(rng.integers(20, 200)), 2)) for c in centres]
        groups.append(spts[rng.integers(len(spts), size=int(n_str * rng.uniform(0.1, 0.5)))].astype(float))
        pts = np.concatenate(groups) if groups else np.zeros((0, 2))
        pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < h) & (pts[:, 1] >= 0) & (pts[:, 1] < w)]
        pts = pts[lay.tissue[pts[:, 0].astype(int), pts[:, 1].astype(int)]]
        n_lym = len(pts)
        lr = rng.uniform(*P.LYMPHOCYTE_NUCLEUS_UM, n_lym) / 2 * um
        _draw_ellipses(nuc, pts[:, 1], pts[:, 0], lr * 1.08, lr / 1.08, rng.uniform(0, 180, n_lym),
                       rng.uniform(*style.hema_lymphocyte, n_lym))
    nuc *= lay.tissue
    np.maximum(hema, nuc * strength, out=hema)
    return {"n_stromal_nuclei": n_str, "n_lymphocytes": n_lym}


def paint_stroma(lay: Layout, hema: np.ndarray, dab: np.ndarray, rng: np.random.Generator, strength: float,
                 style: Style = SYNTH_1_1) -> None:
    """Pale blue-grey fibrous stroma: wavy fibres along a smooth orientation field."""
    h, w = hema.shape
    um = _px_per_um(lay, style)
    fib = np.zeros((h, w), np.float32)
    n_fib = int(lay.stroma.sum() / (40 * um) ** 2 * rng.uniform(8, 16))
    spts = np.argwhere(lay.stroma[::4, ::4]) * 4
    if n_fib and len(spts):
        p = spts[rng.integers(len(spts), size=n_fib)].astype(np.float32)[:, ::-1]  # x, y
        base = lay.region_field
        step = rng.uniform(8, 20) * um
        pts = [p.copy()]
        wig = rng.normal(0, 0.25, n_fib)
        for _ in range(8):
            a = base[np.clip(p[:, 1] // 8, 0, base.shape[0] - 1).astype(int),
                     np.clip(p[:, 0] // 8, 0, base.shape[1] - 1).astype(int)] * 1.5 + wig
            wig = wig + rng.normal(0, 0.15, n_fib)
            p = p + step * np.stack([np.cos(a), np.sin(a)], 1)
            pts.append(p.copy())
        lines = np.stack(pts, 1).round().astype(np.int32)
        groups = rng.integers(0, 4, n_fib)
        for g in range(4):
            cv2.polylines(fib, list(lines[groups == g]), False, 0.25 + 0.15 * g, max(1, int(um)), cv2.LINE_AA)
        fib = cv2.GaussianBlur(fib, (0, 0), 0.8 * um)
    level = rng.uniform(*style.hema_stroma)
    density = 0.8 + 0.2 * smooth_noise((h, w), 80 * um, rng)
    np.minimum(fib, 1.2, out=fib)
    s = (0.2 + 0.9 * fib) * density
    s *= np.float32(level * strength)
    s[~lay.stroma] = 0
    hema += s
    fib += 0.5
    fib *= np.float32(rng.uniform(0, style.stroma_dab_max))
    fib[~lay.stroma] = 0
    dab += fib


def paint_cytoplasm(lay: Layout, hema: np.ndarray, dab: np.ndarray, intensity: np.ndarray,
                    rng: np.random.Generator, strength: float, style: Style = SYNTH_1_1) -> None:
    """Pale cytoplasm with a faint class-dependent DAB background (< 0.05 OD)."""
    h, w = hema.shape
    tex = fine_noise((h, w), rng, sigma=2.0)
    tex *= 0.2
    tex += 1.0
    level = np.float32(rng.uniform(*style.hema_cytoplasm) * strength)
    hema += np.where(lay.tumour, tex * level, np.float32(0))
    cyto_max = np.array(style.cyto_dab_max, np.float32) * np.float32(rng.uniform(0.3, 1.0))
    per_cell = np.append(cyto_max[intensity], np.float32(0))
    o = np.where(lay.tumour, lay.owner, -1)  # -1 picks the appended zero
    np.clip(tex, 0.6, 1.2, out=tex)
    tex *= per_cell[o]
    tex /= 1.2
    dab += tex


def paint_blush(lay: Layout, hema: np.ndarray, dab: np.ndarray, intensity: np.ndarray, rng: np.random.Generator,
                style: Style) -> None:
    """Diffuse cytoplasmic DAB under tumour cells (sparing their nuclei) and a beige DAB tint over stroma.

    Drawn from the style's `cyto_blush` / `stroma_tint` ranges (zero in synth-1.1: nothing is painted). Call
    after the nuclei are in `hema`: pixels much darker in haematoxylin than the cytoplasm get little blush.
    """
    h, w = hema.shape
    level = rng.uniform(*style.cyto_blush)
    if level > 0 and intensity.size:
        per_cell = level * np.asarray(style.blush_by_class, np.float32)[intensity] * rng.lognormal(0, 0.25, intensity.size)
        per_cell = np.append(per_cell.astype(np.float32), np.float32(0))
        o = np.where(lay.tumour, lay.owner, -1)
        tex = 1.0 + 0.25 * np.clip(smooth_noise((h, w), 4 * _px_per_um(lay, style), rng), -2, 2)
        spare = np.clip(1.0 - (hema - np.float32(np.median(hema[lay.tumour]) if lay.tumour.any() else 0)) / 0.08,
                        0.15, 1.0)
        dab += (per_cell[o] * tex * spare).astype(np.float32)
    tint = rng.uniform(*style.stroma_tint)
    if tint > 0:
        density = np.clip(1.0 + 0.4 * smooth_noise((h, w), 60 * lay.cell_px / 13, rng), 0.2, 2.0)
        dab += np.where(lay.stroma, density * np.float32(tint), np.float32(0)).astype(np.float32)


def warp_fields(shape: tuple[int, int], rng: np.random.Generator, *, amp_px: float,
                scale_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random displacement fields (dx, dy) in pixels."""
    return (amp_px * smooth_noise(shape, scale_px, rng), amp_px * smooth_noise(shape, scale_px, rng))


def apply_warp(dx: np.ndarray, dy: np.ndarray, *maps: np.ndarray | None) -> list[np.ndarray | None]:
    """Resample each map at (x + dx, y + dy); uint8 maps with nearest neighbour, float maps bilinearly."""
    h, w = dx.shape
    gx = np.arange(w, dtype=np.float32)[None, :] + dx
    gy = np.arange(h, dtype=np.float32)[:, None] + dy
    out = []
    for m in maps:
        if m is None:
            out.append(None)
            continue
        interp = cv2.INTER_NEAREST if m.dtype == np.uint8 else cv2.INTER_LINEAR
        out.append(cv2.remap(m, gx, gy, interp, borderMode=cv2.BORDER_REPLICATE))
    return out


def jitter_stains(rng: np.random.Generator, style: Style = SYNTH_1_1) -> StainMatrix:
    """H-DAB vectors for one core: the style's haematoxylin / DAB hue, perturbed."""
    hv = np.abs(np.asarray(style.hema_vector) + rng.normal(0, style.stain_vector_jitter, 3))
    dv = np.abs(np.asarray(style.dab_vector) + rng.normal(0, style.stain_vector_jitter, 3))
    return StainMatrix.from_vectors(hv, dv)


def compose_fast(hema: np.ndarray, dab: np.ndarray, stains: StainMatrix, glass_od: np.ndarray,
                 noise: list[np.ndarray] | None = None) -> np.ndarray:
    """`stain.compose` of (hema, dab) plus a glass OD per channel and additive noise, per channel in float32.

    Same Beer-Lambert formula as `her2viewer.stain.compose` (tests check they agree), about 10x faster.
    """
    m = stains.vectors.astype(np.float32)
    out = np.empty(hema.shape + (3,), np.uint8)
    for c in range(3):
        od = cv2.addWeighted(hema, float(m[0, c]), dab, float(m[1, c]), float(glass_od[c]))
        v = cv2.exp(od * np.float32(-np.log(10.0)))
        v *= 255.0
        if noise is not None:
            for nz in noise[c]:
                v += nz
        v += 0.5
        np.clip(v, 0, 255, out=v)
        out[..., c] = v
    return out


def finish(hema: np.ndarray, dab: np.ndarray, rng: np.random.Generator, *, stains: StainMatrix,
           blur_sigma: float, glass_od: np.ndarray, noise_std: float, jpeg_quality: int | None,
           scan_factor: float = 1.0) -> np.ndarray:
    """Blur the stain maps, compose RGB by Beer-Lambert with the glass tint, add sensor noise and JPEG.

    `scan_factor` > 1 scans at that many times coarser pixels and resamples back (the detail of a lower
    magnification brought to the output pixel size), before the JPEG.
    """
    if blur_sigma > 0:
        hema = cv2.GaussianBlur(hema, (0, 0), blur_sigma)
        dab = cv2.GaussianBlur(dab, (0, 0), blur_sigma)
    noise = None
    if noise_std > 0:
        lum = noise_std * fine_noise(hema.shape, rng, sigma=0.0)
        noise = [(lum, np.float32(0.5 * noise_std) * fine_noise(hema.shape, rng, sigma=0.0)) for _ in range(3)]
    out = compose_fast(hema, dab, stains, glass_od, noise)
    if scan_factor > 1.01:
        h, w = out.shape[:2]
        small = cv2.resize(out, (max(1, round(w / scan_factor)), max(1, round(h / scan_factor))),
                           interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if jpeg_quality:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out)
