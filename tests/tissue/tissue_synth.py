"""Small synthetic tissue images for the tissue tests: textured IHC-coloured discs on glass."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

GLASS = (243, 242, 238)
#: base colours of tissue: brown DAB, blue haematoxylin counterstain, pale versions of both
TISSUE_COLOURS = [(176, 128, 92), (150, 160, 205), (214, 196, 178), (196, 200, 224)]


@dataclass
class TrueCore:
    """Where a synthetic core was drawn (level-0 pixels) and its grid label."""

    id: str
    cx: float
    cy: float
    r: float
    bbox: tuple[int, int, int, int] = (0, 0, 0, 0)


def glass(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An empty slide: near-white glass with a little noise."""
    img = np.empty((h, w, 3), np.float32)
    img[:] = GLASS
    img += rng.normal(0, 2.0, (h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_disc(img: np.ndarray, cx: float, cy: float, r: float, rng: np.random.Generator,
              colour: tuple[int, int, int] | None = None) -> tuple[int, int, int, int]:
    """Paint a textured, slightly ragged tissue disc (nuclei, noise) into `img`; return its (x, y, w, h)."""
    h, w = img.shape[:2]
    pad = int(r * 1.1) + 2
    x0, y0 = max(0, int(cx) - pad), max(0, int(cy) - pad)
    x1, y1 = min(w, int(cx) + pad), min(h, int(cy) + pad)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    ang = np.arctan2(yy - cy, xx - cx)
    phase = rng.uniform(0, 2 * np.pi, 3)
    rag = 1 + 0.015 * (np.sin(3 * ang + phase[0]) + np.sin(5 * ang + phase[1]) + np.sin(11 * ang + phase[2]))
    inside = np.hypot(xx - cx, yy - cy) <= r * rag
    base = np.array(colour or TISSUE_COLOURS[rng.integers(len(TISSUE_COLOURS))], np.float32)
    patch = np.empty((y1 - y0, x1 - x0, 3), np.float32)
    patch[:] = base
    tex = cv2.GaussianBlur(rng.normal(0, 1, patch.shape[:2]).astype(np.float32), (0, 0), 3) * 40
    patch += tex[..., None]
    nuclei = np.zeros(patch.shape[:2], np.uint8)
    n = int(inside.sum() / 150)
    for _ in range(n):
        cv2.circle(nuclei, (int(rng.integers(0, x1 - x0)), int(rng.integers(0, y1 - y0))),
                   int(rng.integers(2, 5)), 1, -1)
    patch[nuclei > 0] = patch[nuclei > 0] * 0.55 + np.array([60, 60, 110], np.float32) * 0.45
    # a few glass holes (lumens) inside the tissue
    for _ in range(3):
        hx, hy = cx + rng.uniform(-0.4, 0.4) * r, cy + rng.uniform(-0.4, 0.4) * r
        lumen = np.hypot(xx - hx, yy - hy) < r * 0.06
        inside &= ~lumen
    patch += rng.normal(0, 4, patch.shape)
    region = img[y0:y1, x0:x1]
    region[inside] = np.clip(patch[inside], 0, 255).astype(np.uint8)
    rr, cc = np.nonzero(inside)
    return (x0 + int(cc.min()), y0 + int(rr.min()), int(cc.max() - cc.min() + 1), int(rr.max() - rr.min() + 1))


def row_name(i: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    s = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        s = chr(65 + rem) + s
    return s


def tma_image(rows: int = 4, cols: int = 5, *, diameter: float = 400, pitch: float = 560,
              missing: tuple[str, ...] = ("B3",), jitter: float = 35, angle_deg: float = 1.5,
              margin: float = 300, seed: int = 0) -> tuple[np.ndarray, list[TrueCore]]:
    """A TMA: a rows x cols grid of discs with jitter and a small rotation, some cores missing."""
    rng = np.random.default_rng(seed)
    w = int(2 * margin + (cols - 1) * pitch + diameter)
    h = int(2 * margin + (rows - 1) * pitch + diameter)
    img = glass(h, w, rng)
    a = np.deg2rad(angle_deg)
    ccx, ccy = w / 2, h / 2
    truth = []
    for r in range(rows):
        for c in range(cols):
            cid = f"{row_name(r)}{c + 1}"
            gx = margin + diameter / 2 + c * pitch - ccx
            gy = margin + diameter / 2 + r * pitch - ccy
            x = ccx + gx * np.cos(a) - gy * np.sin(a) + rng.uniform(-jitter, jitter)
            y = ccy + gx * np.sin(a) + gy * np.cos(a) + rng.uniform(-jitter, jitter)
            rad = diameter / 2 * rng.uniform(0.92, 1.05)
            if cid in missing:
                continue
            truth.append(TrueCore(cid, x, y, rad, draw_disc(img, x, y, rad, rng)))
    return img, truth


def touching_pair(seed: int = 1) -> tuple[np.ndarray, list[TrueCore]]:
    """Two discs that overlap a little (centres 1.7 radii apart) and one separate disc."""
    rng = np.random.default_rng(seed)
    img = glass(1100, 1600, rng)
    discs = [TrueCore("a", 400, 500, 220), TrueCore("b", 400 + 1.7 * 220, 500, 220),
             TrueCore("c", 1330, 600, 150)]
    for d in discs:
        d.bbox = draw_disc(img, d.cx, d.cy, d.r, rng, colour=TISSUE_COLOURS[1])
    return img, discs


def single_core(size: int = 3000, seed: int = 2) -> tuple[np.ndarray, TrueCore]:
    """A core photograph: one big disc filling most of the frame."""
    rng = np.random.default_rng(seed)
    img = glass(size, size, rng)
    core = TrueCore("A1", size / 2 + 40, size / 2 - 30, size * 0.42)
    core.bbox = draw_disc(img, core.cx, core.cy, core.r, rng, colour=TISSUE_COLOURS[0])
    return img, core
