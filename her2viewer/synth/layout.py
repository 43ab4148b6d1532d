"""Tissue layout of a synthetic core: outline, tumour nests and glands, stroma, fat, and the tumour cells.

Everything is in pixels of the core image (level 0). Tumour cells are seeds on a jittered hexagonal grid
inside the nests; each pixel belongs to its nearest seed (a Voronoi tessellation from one OpenCV distance
transform), which gives packed polygonal cells whose shared borders are the membranes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import params as P
from .noise import radial_outline, smooth_noise


@dataclass
class Layout:
    """Masks (bool, image-sized) and tumour cell geometry of one core."""

    tissue: np.ndarray        # inside the core outline, not fat, lumen or cleft
    tumour: np.ndarray        # pixels owned by a tumour cell
    stroma: np.ndarray        # tissue that is not tumour cell
    owner: np.ndarray         # int32 index of the nearest tumour cell seed (valid where tumour / membrane)
    seed_dist: np.ndarray     # float32 distance to that seed (px)
    cx: np.ndarray            # tumour cell centres (float32)
    cy: np.ndarray
    cell_px: float            # mean tumour cell diameter (px)
    region_field: np.ndarray  # smooth field in [-inf, inf], used to cluster staining patterns
    outline: np.ndarray       # polygon of the core / piece outline (n, 2) int32
    fat_centres: np.ndarray   # (k, 3) x, y, r of fat cells


def _hex_seeds(shape: tuple[int, int], spacing: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Jittered hexagonal grid of points covering the image."""
    h, w = shape
    dy = spacing * np.sqrt(3) / 2
    ys = np.arange(dy / 2, h, dy)
    xs = np.arange(spacing / 2, w, spacing)
    gx, gy = np.meshgrid(xs, ys)
    gx = gx + (np.arange(len(ys))[:, None] % 2) * spacing / 2
    gx = gx.ravel() + rng.uniform(-0.3, 0.3, gx.size) * spacing
    gy = gy.ravel() + rng.uniform(-0.3, 0.3, gy.size) * spacing
    keep = (gx >= 0) & (gx < w - 1) & (gy >= 0) & (gy < h - 1)
    return gx[keep].astype(np.float32), gy[keep].astype(np.float32)


def _fat(tissue_core: np.ndarray, tumour_zone: np.ndarray, mpp: float, rng: np.random.Generator,
         n_clusters: int) -> np.ndarray:
    """Fat cells (x, y, r) in clusters placed in stroma."""
    h, w = tissue_core.shape
    out = []
    stroma_pts = np.argwhere(tissue_core[::16, ::16] & ~tumour_zone[::16, ::16]) * 16
    for _ in range(n_clusters if len(stroma_pts) else 0):
        y0, x0 = stroma_pts[rng.integers(len(stroma_pts))]
        r_mean = rng.uniform(*P.FAT_CELL_UM) / 2 / mpp
        k = int(rng.integers(2, 10))
        px, py = float(x0), float(y0)
        for _ in range(k):
            r = r_mean * rng.uniform(0.75, 1.2)
            if 0 <= px < w and 0 <= py < h and tissue_core[int(py), int(px)] and not tumour_zone[int(py), int(px)]:
                out.append((px, py, r))
            ang = rng.uniform(0, 2 * np.pi)
            px, py = px + 1.9 * r * np.cos(ang), py + 1.9 * r * np.sin(ang)
    return np.array(out, dtype=np.float32).reshape(-1, 3)


def build_layout(size: tuple[int, int], diameter_px: float, mpp: float, rng: np.random.Generator, *,
                 shape: str = "core", tumour_fraction: float | None = None,
                 cell_um: tuple[float, float] = P.TUMOUR_CELL_UM) -> Layout:
    """Random layout of a round core (`shape="core"`) or an irregular tissue piece (`"piece"`)."""
    h, w = size
    um = 1.0 / mpp
    # -- outline
    if shape == "core":
        outline = radial_outline((w / 2, h / 2), diameter_px / 2, rng, roughness=rng.uniform(0.01, 0.05),
                                 aspect=rng.uniform(0.96, 1.04))
    else:
        outline = radial_outline((w / 2, h / 2), diameter_px / 2 * 0.8, rng, roughness=rng.uniform(0.15, 0.3),
                                 aspect=rng.uniform(1.0, 1.35))
    core = np.zeros((h, w), np.uint8)
    cv2.fillPoly(core, [outline], 1)
    for _ in range(int(rng.integers(0, 4))):  # bites out of the edge
        ang = rng.uniform(0, 2 * np.pi)
        rr = diameter_px / 2 * rng.uniform(0.95, 1.05)
        cv2.circle(core, (int(w / 2 + rr * np.cos(ang)), int(h / 2 + rr * np.sin(ang))),
                   int(diameter_px * rng.uniform(0.03, 0.1)), 0, -1)
    core_b = core.astype(bool)

    # -- tumour nests: a mid-frequency field thresholded at the tumour fraction
    nest_scale = rng.uniform(120, 320) * um / 2
    field = smooth_noise((h, w), nest_scale, rng) + 0.35 * smooth_noise((h, w), nest_scale / 3, rng)
    frac = tumour_fraction if tumour_fraction is not None else rng.uniform(0.4, 0.7)
    inside = field[core_b]
    thr = np.quantile(inside[:: max(1, inside.size // 200_000)], 1 - frac) if inside.size else 0.0
    tumour_zone = (field > thr) & core_b
    del field

    # -- fat and glands (lumens)
    fat = _fat(core_b, tumour_zone, mpp, rng, int(rng.choice([0, 0, 0, 1, 1, 2])))
    holes = np.zeros((h, w), np.uint8)
    for x, y, r in fat:
        cv2.circle(holes, (int(x), int(y)), int(r * 0.95), 1, -1)
    seed_spacing = rng.uniform(*cell_um) * um
    lumen = np.zeros((h, w), np.uint8)
    zone_pts = np.argwhere(tumour_zone[::8, ::8]) * 8
    n_lumen = int(rng.choice([0, 0, 0.0003, 0.001]) * zone_pts.shape[0]) if zone_pts.size else 0
    for y, x in zone_pts[rng.choice(len(zone_pts), size=n_lumen, replace=False)] if n_lumen else []:
        r = seed_spacing * rng.uniform(0.4, 1.4)
        cv2.ellipse(lumen, (int(x), int(y)), (int(r * rng.uniform(1, 1.6)), int(r)),
                    float(rng.uniform(0, 180)), 0, 360, 1, -1)
    # -- retraction clefts around some nest borders
    zone_u8 = tumour_zone.astype(np.uint8)
    ring = cv2.dilate(zone_u8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))) - zone_u8
    cleft = ring.astype(bool) & (smooth_noise((h, w), 150 * um / 2, rng) > rng.uniform(0.6, 1.6))
    tissue = core_b & ~(holes.astype(bool) & ~tumour_zone) & ~lumen.astype(bool) & ~cleft
    del holes, ring

    # -- tumour cells: seeds in the nests, Voronoi ownership
    sx, sy = _hex_seeds((h, w), seed_spacing, rng)
    ok = tumour_zone[sy.astype(int), sx.astype(int)] & tissue[sy.astype(int), sx.astype(int)]
    sx, sy = sx[ok], sy[ok]
    src = np.ones((h, w), np.uint8)
    src[sy.astype(int), sx.astype(int)] = 0
    dist, lab = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    del src
    lut = np.full(int(lab.max()) + 1, -1, np.int32)
    lut[lab[sy.astype(int), sx.astype(int)]] = np.arange(len(sx), dtype=np.int32)
    owner = lut[lab]
    del lab
    tumour = tumour_zone & tissue & (dist < 0.62 * seed_spacing) & (owner >= 0)
    stroma = tissue & ~tumour
    region_field = smooth_noise((h // 8 + 1, w // 8 + 1), rng.uniform(300, 900) * um / 16, rng)
    return Layout(tissue=tissue, tumour=tumour, stroma=stroma, owner=owner, seed_dist=dist, cx=sx, cy=sy,
                  cell_px=seed_spacing, region_field=region_field, outline=outline, fat_centres=fat)
