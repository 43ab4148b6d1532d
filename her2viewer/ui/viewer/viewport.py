"""The slide view's transform as plain maths: level-0 pixels <-> screen pixels, zoom, pan, fit.

No Qt here, so the maths is easy to test. `downsample` is level-0 pixels per screen pixel (1.0 = 1:1,
2.0 = half size); `center` is the level-0 point shown in the middle of the widget.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_DOWNSAMPLE = 1.0 / 16.0
MAGNIFICATION_PRESETS = (1.0, 2.0, 5.0, 10.0, 20.0, 40.0)


@dataclass
class Viewport:
    """What part of the slide a widget of `size` shows, and how big."""

    slide_w: int
    slide_h: int
    view_w: int = 800
    view_h: int = 600
    l0_cx: float = 0.0
    l0_cy: float = 0.0
    downsample: float = 1.0

    # -- limits -------------------------------------------------------------------------------------
    def max_downsample(self) -> float:
        """The zoom-out limit: twice the downsample that fits the whole slide."""
        return 2.0 * self.fit_downsample()

    def fit_downsample(self) -> float:
        """The downsample at which the whole slide fits the widget."""
        return max(self.slide_w / max(self.view_w, 1), self.slide_h / max(self.view_h, 1), MIN_DOWNSAMPLE)

    def clamp(self) -> None:
        """Keep the zoom within limits and the centre on the slide."""
        self.downsample = min(max(self.downsample, MIN_DOWNSAMPLE), self.max_downsample())
        self.l0_cx = min(max(self.l0_cx, 0.0), float(self.slide_w))
        self.l0_cy = min(max(self.l0_cy, 0.0), float(self.slide_h))

    # -- conversions --------------------------------------------------------------------------------
    def l0_rect(self) -> tuple[float, float, float, float]:
        """The visible level-0 rectangle (x, y, w, h), possibly extending beyond the slide."""
        w, h = self.view_w * self.downsample, self.view_h * self.downsample
        return self.l0_cx - w / 2.0, self.l0_cy - h / 2.0, w, h

    def screen_to_l0(self, sx: float, sy: float) -> tuple[float, float]:
        """Level-0 coordinates of a widget pixel position."""
        x, y, _, _ = self.l0_rect()
        return x + sx * self.downsample, y + sy * self.downsample

    def l0_to_screen(self, l0_x: float, l0_y: float) -> tuple[float, float]:
        """Widget pixel position of a level-0 point."""
        x, y, _, _ = self.l0_rect()
        return (l0_x - x) / self.downsample, (l0_y - y) / self.downsample

    # -- moves --------------------------------------------------------------------------------------
    def resize(self, view_w: int, view_h: int) -> None:
        """Change the widget size, keeping the centre and zoom."""
        self.view_w, self.view_h = max(int(view_w), 1), max(int(view_h), 1)
        self.clamp()

    def fit(self) -> None:
        """Show the whole slide, centred."""
        self.downsample = self.fit_downsample()
        self.l0_cx, self.l0_cy = self.slide_w / 2.0, self.slide_h / 2.0

    def fit_rect(self, l0_x: float, l0_y: float, l0_w: float, l0_h: float) -> None:
        """Show the level-0 rectangle as large as fits, centred."""
        l0_w, l0_h = max(l0_w, 1.0), max(l0_h, 1.0)
        self.downsample = max(l0_w / self.view_w, l0_h / self.view_h)
        self.l0_cx, self.l0_cy = l0_x + l0_w / 2.0, l0_y + l0_h / 2.0
        self.clamp()

    def zoom_at(self, factor: float, sx: float, sy: float) -> None:
        """Zoom in by `factor` (> 1 enlarges) keeping the slide point under screen (sx, sy) fixed."""
        self.set_downsample_at(self.downsample / factor, sx, sy)

    def set_downsample_at(self, downsample: float, sx: float, sy: float) -> None:
        """Set the downsample keeping the slide point under screen (sx, sy) fixed."""
        l0_x, l0_y = self.screen_to_l0(sx, sy)
        self.downsample = downsample
        self.clamp()
        self.l0_cx = l0_x - (sx - self.view_w / 2.0) * self.downsample
        self.l0_cy = l0_y - (sy - self.view_h / 2.0) * self.downsample
        self.clamp()

    def pan(self, screen_dx: float, screen_dy: float) -> None:
        """Move the image by a screen-pixel offset (dragging right shows what lies left)."""
        self.l0_cx -= screen_dx * self.downsample
        self.l0_cy -= screen_dy * self.downsample
        self.clamp()

    def center_on(self, l0_x: float, l0_y: float) -> None:
        """Centre the view on a level-0 point."""
        self.l0_cx, self.l0_cy = l0_x, l0_y
        self.clamp()


def base_magnification(mpp: float | None, objective_power: float | None) -> float | None:
    """The magnification of level 0 (objective power, else 10 / mpp), or None when unknown."""
    if objective_power:
        return float(objective_power)
    if mpp:
        return 10.0 / mpp
    return None


def downsample_for_magnification(mag: float, base_mag: float) -> float:
    """The downsample that shows the slide at magnification `mag`."""
    return base_mag / mag


def wheel_zoom_factor(angle_dy: int, pixel_dy: int = 0) -> float:
    """Zoom factor of one wheel event: a notch (120) zooms by sqrt(2); touchpad pixels zoom finely."""
    if pixel_dy:
        return 2.0 ** (pixel_dy / 300.0)
    return 2.0 ** (angle_dy / 240.0)


def level_for_downsample(downsamples: tuple[float, ...], downsample: float) -> int:
    """The coarsest level that still has at least screen resolution (OpenSlide's rule)."""
    best = 0
    for i, d in enumerate(downsamples):
        if d <= downsample * 1.0001:
            best = i
    return best

