"""Helpers shared by the reader backends: pixel conversion to RGB uint8, mpp from tags, a close guard."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

#: microns per pixel outside this range are not microscopy (72 dpi photos give 352.8 um/px)
MPP_RANGE = (0.02, 50.0)


def plausible_mpp(mpp: float | None) -> float | None:
    """`mpp` when it is a believable microscope pixel size, else None."""
    if mpp is None or not np.isfinite(mpp):
        return None
    return float(mpp) if MPP_RANGE[0] <= mpp <= MPP_RANGE[1] else None


def mpp_from_resolution(resolution: float | None, unit: str | int | None) -> float | None:
    """Microns per pixel from a pixels-per-unit resolution and its unit ('cm'/3, 'inch'/2, else None)."""
    if not resolution or resolution <= 0:
        return None
    unit_s = str(unit).lower()
    if unit_s in ("3", "cm", "centimeter", "resunit.centimeter"):
        return plausible_mpp(1e4 / resolution)
    if unit_s in ("2", "inch", "resunit.inch"):
        return plausible_mpp(25400.0 / resolution)
    if unit_s in ("mm", "millimeter", "5"):
        return plausible_mpp(1e3 / resolution)
    if unit_s in ("um", "micrometer", "µm", "4"):
        return plausible_mpp(1.0 / resolution)
    return None


def composite_on_white(rgba: np.ndarray, premultiplied: bool = False) -> np.ndarray:
    """RGB uint8 of an RGBA image laid on a white background."""
    rgb, alpha = rgba[..., :3], rgba[..., 3:4]
    if alpha.min() == 255:
        return np.ascontiguousarray(rgb)
    a = alpha.astype(np.uint16)
    if premultiplied:
        return (rgb.astype(np.uint16) + (255 - a)).clip(0, 255).astype(np.uint8)
    return ((rgb.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def to_rgb8(pixels: np.ndarray, *, alpha: bool = False, premultiplied: bool = False,
            min_is_white: bool = False, cmyk: bool = False) -> np.ndarray:
    """RGB uint8 (H, W, 3) from gray, gray+alpha, RGB, RGBA or (`cmyk`) CMYK pixels of any integer or float
    type; CMYK ink amounts become RGB without a colour profile, as Pillow converts them."""
    arr = pixels
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.integer):
            shift = 8 * (arr.dtype.itemsize - 1)
            arr = (arr.astype(np.uint64) >> shift).astype(np.uint8) if shift else arr.astype(np.uint8)
        else:
            hi = float(np.nanmax(arr)) if arr.size else 1.0
            scale = 255.0 if hi <= 1.0 else 255.0 / max(hi, 1e-9)
            arr = np.nan_to_num(arr * scale).clip(0, 255).astype(np.uint8)
    if min_is_white:
        arr = 255 - arr
    if cmyk and arr.shape[2] >= 4:
        ink = arr[..., :4].astype(np.uint32)
        arr = (((255 - ink[..., :3]) * (255 - ink[..., 3:4]) + 127) // 255).astype(np.uint8)
    n = arr.shape[2]
    if n in (2, 4) and alpha:
        color = arr[..., :1].repeat(3, axis=2) if n == 2 else arr[..., :3]
        return composite_on_white(np.concatenate([color, arr[..., -1:]], axis=2), premultiplied)
    if n < 3:
        return np.ascontiguousarray(arr[..., :1].repeat(3, axis=2))
    return np.ascontiguousarray(arr[..., :3])


class ReadGuard:
    """Lets many threads read at once and makes `close` wait until running reads have finished."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Context for one read; raises ValueError when the slide is closed."""
        with self._cond:
            if self._closed:
                raise ValueError(f"slide {self._name} is closed")
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                if self._active == 0:
                    self._cond.notify_all()

    def close(self) -> bool:
        """Mark closed and wait for running reads; True the first time."""
        with self._cond:
            if self._closed:
                return False
            self._closed = True
            self._cond.wait_for(lambda: self._active == 0)
            return True


class _CaptureFilter(logging.Filter):
    """Diverts tifffile's log records to a per-thread list while `capture_tifffile_log` is active."""

    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        sink = getattr(self.local, "sink", None)
        if sink is None:
            return True
        sink.append(record.getMessage())
        return False


_capture_filter = _CaptureFilter()
logging.getLogger("tifffile").addFilter(_capture_filter)


@contextmanager
def capture_tifffile_log() -> Iterator[list[str]]:
    """Collect (instead of printing) what tifffile logs in this thread, e.g. IFD offsets past the end."""
    outer = getattr(_capture_filter.local, "sink", None)
    sink: list[str] = []
    _capture_filter.local.sink = sink
    try:
        yield sink
    finally:
        _capture_filter.local.sink = outer


def past_end_offset(messages: list[str], size: int) -> int | None:
    """The first offset beyond `size` that tifffile complained about, if any (a truncated file)."""
    for msg in messages:
        for num in re.findall(r"offset (?:to first page )?(\d+)", msg):
            if int(num) >= size:
                return int(num)
    return None
