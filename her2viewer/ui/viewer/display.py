"""Display adjustments applied to tiles on the loader's worker threads: brightness, contrast, gamma and
colour-deconvolution views (haematoxylin only, DAB only, both). Plain numpy; no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from her2viewer.stain import StainMatrix, compose, deconvolve

#: stain view name -> (label for menus, which concentrations to keep: hema, DAB)
STAIN_VIEWS: dict[str, tuple[str, tuple[bool, bool] | None]] = {
    "rgb": ("Original (RGB)", None),
    "hema": ("Haematoxylin only", (True, False)),
    "dab": ("DAB only", (False, True)),
    "hdab": ("Haematoxylin + DAB", (True, True)),
}


@dataclass(frozen=True)
class DisplaySettings:
    """How tiles are shown: brightness in [-1, 1], contrast and gamma factors (1 = unchanged), stain view."""

    brightness: float = 0.0
    contrast: float = 1.0
    gamma: float = 1.0
    stain: str = "rgb"
    stains: StainMatrix | None = None

    def __post_init__(self) -> None:
        if self.stain not in STAIN_VIEWS:
            raise ValueError(f"unknown stain view {self.stain!r}; expected one of {sorted(STAIN_VIEWS)}")
        if self.contrast <= 0 or self.gamma <= 0:
            raise ValueError("contrast and gamma must be positive")

    @property
    def is_identity(self) -> bool:
        """True when tiles are shown unchanged."""
        return self.key() == DisplaySettings().key()

    def key(self) -> tuple:
        """A hashable key for caches of adjusted tiles."""
        # the vectors matter only to the stain views
        stains = (None if self.stains is None or self.stain == "rgb"
                  else tuple(np.round(self.stains.vectors, 5).ravel()))
        return (round(self.brightness, 4), round(self.contrast, 4), round(self.gamma, 4), self.stain, stains)

    def with_(self, **changes) -> DisplaySettings:
        """A copy with some fields changed."""
        return replace(self, **changes)


def tone_lut(settings: DisplaySettings) -> np.ndarray | None:
    """The 256-entry uint8 lookup table of brightness, contrast and gamma, or None when it is identity."""
    if settings.brightness == 0 and settings.contrast == 1 and settings.gamma == 1:
        return None
    x = np.arange(256, dtype=np.float64) / 255.0
    x = (x - 0.5) * settings.contrast + 0.5 + settings.brightness
    x = np.clip(x, 0.0, 1.0) ** (1.0 / settings.gamma)
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def apply_display(rgb: np.ndarray, settings: DisplaySettings) -> np.ndarray:
    """The tile as displayed: stain view first, then the tone curve. Returns `rgb` itself when unchanged."""
    keep = STAIN_VIEWS[settings.stain][1]
    out = rgb
    if keep is not None:
        conc = deconvolve(rgb, settings.stains)
        conc[..., 2] = 0.0
        if not keep[0]:
            conc[..., 0] = 0.0
        if not keep[1]:
            conc[..., 1] = 0.0
        out = compose(np.maximum(conc, 0.0), settings.stains)
    lut = tone_lut(settings)
    if lut is not None:
        out = cv2.LUT(np.ascontiguousarray(out), lut)
    return out
