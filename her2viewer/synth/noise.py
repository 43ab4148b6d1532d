"""Cheap random fields for the generator: smooth blobs (upsampled white noise) and fine tiled texture."""

from __future__ import annotations

import math

import cv2
import numpy as np


def smooth_noise(shape: tuple[int, int], scale_px: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-std float32 field whose blobs are about `scale_px` pixels across."""
    h, w = shape
    scale_px = max(2.0, float(scale_px))
    lh, lw = math.ceil(h / scale_px) + 3, math.ceil(w / scale_px) + 3
    low = rng.standard_normal((lh, lw), dtype=np.float32)
    low = cv2.GaussianBlur(low, (0, 0), 0.7)
    low = (low - low.mean()) / (low.std() + 1e-6)
    up = cv2.resize(low, (int(lw * scale_px), int(lh * scale_px)), interpolation=cv2.INTER_CUBIC)
    oy = int(rng.integers(0, max(1, up.shape[0] - h)))
    ox = int(rng.integers(0, max(1, up.shape[1] - w)))
    return up[oy : oy + h, ox : ox + w]


def fine_noise(shape: tuple[int, int], rng: np.random.Generator, sigma: float = 1.0, block: int = 512) -> np.ndarray:
    """Zero-mean, unit-std float32 texture at pixel scale, tiled from one random block (fast)."""
    h, w = shape
    b = rng.standard_normal((block, block), dtype=np.float32)
    if sigma > 0:
        m = int(4 * sigma) + 1
        b = cv2.GaussianBlur(np.pad(b, m, mode="wrap"), (0, 0), sigma)[m:-m, m:-m]
    b = (b - b.mean()) / (b.std() + 1e-6)
    reps = (math.ceil(h / block) + 1, math.ceil(w / block) + 1)
    tiled = np.tile(b, reps)
    oy, ox = int(rng.integers(0, block)), int(rng.integers(0, block))
    return tiled[oy : oy + h, ox : ox + w]


def radial_outline(center: tuple[float, float], radius: float, rng: np.random.Generator, *,
                   roughness: float = 0.03, aspect: float = 1.0, n: int = 256) -> np.ndarray:
    """Closed polygon (n, 2) int32 of a blob: a circle with low-frequency radial wobble."""
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(2, 9):
        amp = roughness * rng.normal() / k**0.8
        r += amp * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    rot = rng.uniform(0, np.pi)
    x = radius * r * np.cos(theta) * aspect
    y = radius * r * np.sin(theta) / aspect
    xr = x * np.cos(rot) - y * np.sin(rot) + center[0]
    yr = x * np.sin(rot) + y * np.cos(rot) + center[1]
    return np.stack([xr, yr], axis=1).round().astype(np.int32)
