"""Exposure: a scan whose brightest areas (glass, fat, lumina) are far from white.

Optical density is measured against white (255). Take a scan whose glass reads grey, for example RGB 180,
which is log10(255 / 180) = 0.15 OD in every channel. Every pixel then carries that extra density, so every
stain reads darker than it is, and a faint membrane can pass the cut-offs of a stain profile that was fitted
on well-exposed scans. Measured on real_dev: 13 of the 24 BCI patches are such a batch. Their fat and glass
read RGB 178-187, their DAB never drops below 0.13-0.17 OD (0.03-0.10 in the others), and nearly every cell
ring reads as stained.

The check warns; it does not correct. A correction by the image's own white point moved three 2+ images to
1+ and an obvious 3+ to 2+ on real_dev, so a lab with such a scanner is better served by calibrating its
stain profile on its own cases.
"""

from __future__ import annotations

import numpy as np

from ..stain import rgb_to_od
from .stain_type import brightest_od

#: mean of the brightest areas' R, G, B below which the scan reads as under-exposed (well-exposed glass
#: reads 235-255; a field packed with tissue still has pale areas above 215 on real_dev)
DARK_WHITE = 200.0
#: the brightest share of pixels taken as the image's white
BRIGHTEST = 0.005


def white_point(rgb: np.ndarray) -> np.ndarray:
    """Per-channel RGB of the brightest `BRIGHTEST` share of an RGB uint8 image's pixels (the glass, as the
    stain check finds it)."""
    od = rgb_to_od(np.ascontiguousarray(rgb[..., :3])).reshape(-1, 3)
    return 255.0 * np.power(10.0, -brightest_od(od, BRIGHTEST))


def exposure_finding(rgb: np.ndarray) -> str | None:
    """A warning when the image's brightest areas are far from white (None when they are not)."""
    white = white_point(rgb)
    if float(white.mean()) >= DARK_WHITE:
        return None
    rgb_text = ", ".join(str(int(round(v))) for v in white)
    return (f"the brightest areas read RGB {rgb_text}, far from white: if they are glass or fat, the scan is "
            "under-exposed or has a grey cast, so every stain reads darker than it is and the suggested score "
            "may run high; calibrate the stain profile on this scanner's cases (Tools > Calibrate scoring "
            "thresholds)")
