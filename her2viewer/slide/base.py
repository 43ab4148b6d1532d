"""The `SlideSource` protocol every reader backend implements, and a base class with the shared maths.

Coordinates: `read_region` takes the top-left corner in level-0 pixels (`l0_x`, `l0_y`) and a size in
pixels of the requested level (`lvl_w`, `lvl_h`), as OpenSlide does. Areas outside the image are white.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

WHITE = 255

#: Where a slide's pixel size came from, most trusted first (see `SlideBase.set_pixel_size`).
MPP_SOURCES = ("user", "file", "estimated", "assumed")


class SlideOpenError(Exception):
    """A slide file could not be opened; the message names the file and the cause."""

    def __init__(self, path: str | Path, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"Cannot open {self.path}: {cause}")


@runtime_checkable
class SlideSource(Protocol):
    """What every slide reader offers: a pyramid of RGB levels and the slide's metadata."""

    path: str
    uid: str

    @property
    def level_count(self) -> int: ...
    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]: ...
    @property
    def level_downsamples(self) -> tuple[float, ...]: ...
    @property
    def dimensions(self) -> tuple[int, int]: ...
    @property
    def mpp(self) -> float | None: ...
    @property
    def mpp_source(self) -> str | None: ...
    @property
    def objective_power(self) -> float | None: ...
    @property
    def properties(self) -> dict[str, str]: ...
    @property
    def vendor(self) -> str: ...
    @property
    def associated_images(self) -> dict[str, np.ndarray]: ...

    def read_region(self, level: int, l0_x: int, l0_y: int, lvl_w: int, lvl_h: int) -> np.ndarray: ...
    def thumbnail(self, max_size: int) -> np.ndarray: ...
    def best_level_for_downsample(self, downsample: float) -> int: ...
    def close(self) -> None: ...


class SlideBase(ABC):
    """Shared behaviour of the backends: level maths, bounds clipping, thumbnails, context manager.

    Subclasses set `path`, `_level_dims`, `_downsamples`, `_mpp`, `_objective`, `_props`, `vendor` and
    implement `_read_level(level, lvl_x, lvl_y, w, h)` for a rectangle that lies inside the level.
    """

    path: str = ""
    vendor: str = "unknown"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._closed = False
        self._level_dims: tuple[tuple[int, int], ...] = ()
        self._downsamples: tuple[float, ...] = ()
        self._mpp: float | None = None
        self._mpp_override: tuple[float, str, float | None] | None = None
        self._objective: float | None = None
        self._props: dict[str, str] = {}
        #: the slide's haematoxylin / DAB vectors (a her2viewer.stain.StainMatrix) once estimated, else None
        self.stain_vectors: Any = None

    # -- identity -----------------------------------------------------------------------------------
    @property
    def uid(self) -> str:
        """A key that identifies this image's pixels in the tile cache."""
        return f"{type(self).__name__}:{self.path}:{id(self)}"

    # -- metadata -----------------------------------------------------------------------------------
    @property
    def level_count(self) -> int:
        return len(self._level_dims)

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        return self._level_dims

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        return self._downsamples

    @property
    def dimensions(self) -> tuple[int, int]:
        return self._level_dims[0]

    @property
    def mpp(self) -> float | None:
        """The pixel size (um per level-0 pixel) every consumer uses: the one set by `set_pixel_size`,
        else the file's; None when neither is known yet."""
        if self._mpp_override is not None:
            return self._mpp_override[0]
        return self._mpp

    @property
    def file_mpp(self) -> float | None:
        """The pixel size stated in the file's metadata (None when it states none)."""
        return self._mpp

    @property
    def mpp_source(self) -> str | None:
        """Where `mpp` came from: "user", "file", "estimated", "assumed", or None when it is unknown."""
        if self._mpp_override is not None:
            return self._mpp_override[1]
        return "file" if self._mpp else None

    @property
    def mpp_uncertainty(self) -> float | None:
        """Relative uncertainty of an estimated `mpp` (e.g. 0.18), else None."""
        return self._mpp_override[2] if self._mpp_override is not None else None

    def set_pixel_size(self, mpp: float | None, source: str = "user", rel_uncertainty: float | None = None) -> None:
        """Use `mpp` with its provenance (`MPP_SOURCES`) from now on; None goes back to the file's value."""
        if mpp is None:
            self._mpp_override = None
            return
        if source not in MPP_SOURCES:
            raise ValueError(f"unknown pixel size source {source!r}; use one of {', '.join(MPP_SOURCES)}")
        if not (isinstance(mpp, (int, float)) and 0.01 <= float(mpp) <= 100.0):
            raise ValueError(f"pixel size {mpp!r} um/px is not plausible (0.01-100)")
        self._mpp_override = (float(mpp), source, rel_uncertainty)

    @property
    def objective_power(self) -> float | None:
        if self._objective is None and self.mpp:
            return round(10.0 / self.mpp, 1)
        return self._objective

    @property
    def properties(self) -> dict[str, str]:
        return dict(self._props)

    @property
    def associated_images(self) -> dict[str, np.ndarray]:
        return {}

    # -- pixels -------------------------------------------------------------------------------------
    def best_level_for_downsample(self, downsample: float) -> int:
        """The highest-resolution level whose downsample does not exceed `downsample` (OpenSlide's rule)."""
        best = 0
        for i, d in enumerate(self._downsamples):
            if d <= downsample * 1.0001:
                best = i
        return best

    def read_region(self, level: int, l0_x: int, l0_y: int, lvl_w: int, lvl_h: int) -> np.ndarray:
        """RGB uint8 array (lvl_h, lvl_w, 3) of `level` with its top-left at level-0 (l0_x, l0_y)."""
        self._check_open()
        if not 0 <= level < self.level_count:
            raise ValueError(f"level {level} out of range 0..{self.level_count - 1}")
        ds = self.coordinate_downsample(level)
        lvl_x = int(np.floor(l0_x / ds + 1e-9))
        lvl_y = int(np.floor(l0_y / ds + 1e-9))
        return self.read_level(level, lvl_x, lvl_y, lvl_w, lvl_h)

    def coordinate_downsample(self, level: int) -> float:
        """Level-0 px per `level` px used to place regions: the integer factor n when the level is level 0
        divided by n and rounded either way on both axes (4443 -> 2221 is 2, not 2.0005), else the downsample.
        """
        ds = self._downsamples[level]
        n = round(ds)
        (W, H), (w, h) = self._level_dims[0], self._level_dims[level]
        if n >= 1 and w in (W // n, -(-W // n)) and h in (H // n, -(-H // n)):
            return float(n)
        return ds

    def read_level(self, level: int, lvl_x: int, lvl_y: int, lvl_w: int, lvl_h: int) -> np.ndarray:
        """RGB uint8 array (lvl_h, lvl_w, 3) of `level` with its top-left at level pixel (lvl_x, lvl_y)."""
        self._check_open()
        if not 0 <= level < self.level_count:
            raise ValueError(f"level {level} out of range 0..{self.level_count - 1}")
        lvl_w, lvl_h = int(lvl_w), int(lvl_h)
        if lvl_w <= 0 or lvl_h <= 0:
            raise ValueError(f"region size must be positive, got {lvl_w}x{lvl_h}")
        W, H = self._level_dims[level]
        if lvl_x >= 0 and lvl_y >= 0 and lvl_x + lvl_w <= W and lvl_y + lvl_h <= H:
            return self._read_level(level, lvl_x, lvl_y, lvl_w, lvl_h)
        out = np.full((lvl_h, lvl_w, 3), WHITE, dtype=np.uint8)
        x0, y0 = max(lvl_x, 0), max(lvl_y, 0)
        x1, y1 = min(lvl_x + lvl_w, W), min(lvl_y + lvl_h, H)
        if x1 <= x0 or y1 <= y0:
            return out
        patch = self._read_level(level, x0, y0, x1 - x0, y1 - y0)
        out[y0 - lvl_y : y1 - lvl_y, x0 - lvl_x : x1 - lvl_x] = patch
        return out

    def thumbnail(self, max_size: int) -> np.ndarray:
        """The whole slide as an RGB array whose longer side is at most `max_size` pixels (read chunk by
        chunk: a slide without a pyramid is never read whole)."""
        W, H = self.dimensions
        scale = max(max(W, H) / float(max_size), 1.0)
        tw, th = max(1, round(W / scale)), max(1, round(H / scale))
        return self.read_scaled((0, 0, W, H), (tw, th))

    def read_scaled(self, l0_box: tuple[float, float, float, float], out_size: tuple[int, int]) -> np.ndarray:
        """The level-0 box (x, y, w, h) as RGB uint8 of `out_size` (w, h), read from the best level in chunks."""
        from .scaled import read_scaled

        self._check_open()
        return read_scaled(self, l0_box, out_size)

    @abstractmethod
    def _read_level(self, level: int, lvl_x: int, lvl_y: int, w: int, h: int) -> np.ndarray:
        """RGB uint8 pixels of a rectangle fully inside `level`, in a new array the caller may modify."""

    # -- lifetime -----------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"slide {self.path} is closed")

    def close(self) -> None:
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} {self.dimensions} levels={self.level_count}>"
