"""OpenSlide backend: SVS, NDPI, MRXS, SCN, BIF, Philips/Ventana TIFF, DICOM, generic tiled TIFF."""

from __future__ import annotations

import logging
import sys
from ctypes import POINTER, c_uint32
from pathlib import Path

import cv2
import numpy as np
import openslide
from openslide import lowlevel

from ._util import ReadGuard, composite_on_white, plausible_mpp
from .base import SlideBase, SlideOpenError
from .tiff_guard import guard_tiff, require_regular_file

log = logging.getLogger(__name__)

#: read into numpy through openslide's ctypes binding (little-endian hosts with the expected binding)
_FAST_READ = sys.byteorder == "little" and callable(getattr(lowlevel, "_read_region", None))


def _float_prop(props: dict[str, str], *keys: str) -> float | None:
    for key in keys:
        try:
            return float(props[key])
        except (KeyError, ValueError):
            continue
    return None


class OpenSlideSource(SlideBase):
    """A slide read through OpenSlide; one handle shared by all threads (OpenSlide reads are thread-safe)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = str(path)
        require_regular_file(path)
        with open(path, "rb") as fh:
            if fh.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                guard_tiff(path)  # a looping IFD chain would hang OpenSlide
        try:
            self._osr = openslide.OpenSlide(self.path)
        except openslide.OpenSlideUnsupportedFormatError as exc:
            raise SlideOpenError(path, "OpenSlide does not recognise this format") from exc
        except (openslide.OpenSlideError, OSError) as exc:
            raise SlideOpenError(path, f"OpenSlide could not read it ({exc})") from exc
        self._guard = ReadGuard(self.path)
        osr = self._osr
        self._props = dict(osr.properties)
        self.vendor = self._props.get(openslide.PROPERTY_NAME_VENDOR) or "openslide"
        self._level_dims = tuple((int(w), int(h)) for w, h in osr.level_dimensions)
        self._downsamples = tuple(float(d) for d in osr.level_downsamples)
        if not self._level_dims or min(self._level_dims[0]) <= 0:
            self._osr.close()
            raise SlideOpenError(path, "the image has zero size")
        mpp_x = _float_prop(self._props, openslide.PROPERTY_NAME_MPP_X)
        mpp_y = _float_prop(self._props, openslide.PROPERTY_NAME_MPP_Y)
        both = [m for m in (mpp_x, mpp_y) if m]
        self._mpp = plausible_mpp(sum(both) / len(both)) if both else None
        self._objective = _float_prop(self._props, openslide.PROPERTY_NAME_OBJECTIVE_POWER, "aperio.AppMag")
        self._assoc: dict[str, np.ndarray] | None = None
        self._probe()

    def _probe(self) -> None:
        """Decode one small region so broken files fail at open, not in the viewer."""
        level = self.level_count - 1
        w, h = self._level_dims[level]
        try:
            self._read_level(level, w // 2, h // 2, min(16, w - w // 2), min(16, h - h // 2))
        except Exception as exc:
            self._osr.close()
            raise SlideOpenError(self.path, f"its pixels cannot be decoded ({exc})") from exc

    @property
    def associated_images(self) -> dict[str, np.ndarray]:
        """Label, macro, thumbnail ... as RGB arrays (read on first access)."""
        with self._lock:
            if self._assoc is None:
                self._assoc = {}
                with self._guard.reading():
                    try:
                        names = list(self._osr.associated_images.keys())
                    except (openslide.OpenSlideError, OSError) as exc:  # e.g. a truncated SVS
                        log.warning("%s: cannot list associated images: %s", self.path, exc)
                        names = []
                    for name in names:
                        try:
                            img = self._osr.associated_images[name]
                            self._assoc[name] = composite_on_white(np.asarray(img.convert("RGBA")))
                        except (openslide.OpenSlideError, OSError, KeyError) as exc:
                            log.warning("%s: cannot read associated image %r: %s", self.path, name, exc)
            return dict(self._assoc)

    def _read_level(self, level: int, lvl_x: int, lvl_y: int, w: int, h: int) -> np.ndarray:
        ds = self.coordinate_downsample(level)
        l0_x, l0_y = int(round(lvl_x * ds)), int(round(lvl_y * ds))
        with self._guard.reading():
            try:
                if _FAST_READ:
                    return self._read_premultiplied(l0_x, l0_y, level, w, h)
                img = self._osr.read_region((l0_x, l0_y), level, (w, h))
            except openslide.OpenSlideError as exc:
                raise OSError(f"Cannot read {self.path}: {exc}") from exc
        # openslide-python hands back straight (un-premultiplied) RGBA
        return composite_on_white(np.asarray(img))

    def _read_premultiplied(self, l0_x: int, l0_y: int, level: int, w: int, h: int) -> np.ndarray:
        """openslide_read_region straight into a numpy buffer (premultiplied ARGB), then RGB on white.

        Skips openslide-python's un-premultiply pass and the PIL round trip that DeepZoom pays for.
        """
        buf = np.empty((h, w), np.uint32)
        lowlevel._read_region(self._osr._osr, buf.ctypes.data_as(POINTER(c_uint32)), l0_x, l0_y, level, w, h)
        bgra = buf.view(np.uint8).reshape(h, w, 4)  # little-endian ARGB words are B, G, R, A bytes
        rgb = cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGB)
        alpha = bgra[..., 3]
        if alpha.min() < 255:
            rgb += (255 - alpha)[..., None]  # premultiplied: colour + (1 - alpha) * white, no overflow
        return rgb

    def close(self) -> None:
        """Release the OpenSlide handle once running reads finish."""
        super().close()
        if self._guard.close():
            self._osr.close()
