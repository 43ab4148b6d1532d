"""Write tiled pyramidal TIFFs (levels as consecutive IFDs: OpenSlide's generic-tiff layout, mpp in tags)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import tifffile

log = logging.getLogger(__name__)

#: fn(downsample, lvl_x, lvl_y, w, h) -> RGB uint8 (h, w, 3): pixels of the image at that downsample.
RegionRenderer = Callable[[float, int, int, int, int], np.ndarray]


def pyramid_dims(size: tuple[int, int], min_level_size: int = 512) -> list[tuple[int, int]]:
    """Level sizes (w, h), halving until the longer side is at most `min_level_size`."""
    w, h = size
    dims = [(w, h)]
    while max(dims[-1]) > min_level_size:
        k = len(dims)
        dims.append((max(1, w >> k), max(1, h >> k)))
    return dims


def _tiles_from_array(img: np.ndarray, tile: int) -> Iterator[np.ndarray]:
    h, w = img.shape[:2]
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            t = img[y : y + tile, x : x + tile]
            if t.shape[0] != tile or t.shape[1] != tile:
                pad = np.full((tile, tile, 3), 255, np.uint8)
                pad[: t.shape[0], : t.shape[1]] = t
                t = pad
            yield np.ascontiguousarray(t)


def _tiles_from_renderer(render: RegionRenderer, ds: float, dims: tuple[int, int], tile: int) -> Iterator[np.ndarray]:
    w, h = dims
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            tw, th = min(tile, w - x), min(tile, h - y)
            t = render(ds, x, y, tw, th)
            if (tw, th) != (tile, tile):
                pad = np.full((tile, tile, 3), 255, np.uint8)
                pad[:th, :tw] = t
                t = pad
            yield np.ascontiguousarray(t, dtype=np.uint8)


def write_pyramidal_tiff(
    path: str | Path,
    image: np.ndarray | RegionRenderer,
    *,
    size: tuple[int, int] | None = None,
    mpp: float | None = None,
    tile_size: int = 512,
    compression: str = "jpeg",
    quality: int = 90,
    min_level_size: int = 512,
    description: str = "",
) -> Path:
    """Write `image` (an RGB array, or a renderer plus `size`) as a tiled pyramidal TIFF; returns the path."""
    path = Path(path)
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 image, got {image.shape} {image.dtype}")
        size = (image.shape[1], image.shape[0])
    elif size is None:
        raise ValueError("a renderer needs size=(width, height)")
    dims = pyramid_dims(size, min_level_size)
    comp_args: dict = {}
    if compression == "jpeg":
        comp_args = {"compression": "jpeg", "compressionargs": {"level": quality}, "photometric": "rgb"}
    elif compression in ("deflate", "zlib", "lzw", "zstd", "none", None):
        comp_args = {"compression": None if compression == "none" else compression, "photometric": "rgb"}
    else:
        raise ValueError(f"unsupported compression {compression!r}")
    res: dict = {}
    if mpp:
        res = {"resolution": (1e4 / mpp, 1e4 / mpp), "resolutionunit": "CENTIMETER"}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    with tifffile.TiffWriter(tmp, bigtiff=size[0] * size[1] * 3 > 2**31) as tw:
        level_img = image if isinstance(image, np.ndarray) else None
        for k, (w, h) in enumerate(dims):
            ds = 2.0**k
            if level_img is not None:
                if k > 0:
                    level_img = cv2.resize(level_img, (w, h), interpolation=cv2.INTER_AREA)
                tiles = _tiles_from_array(level_img, tile_size)
            else:
                tiles = _tiles_from_renderer(image, ds, (w, h), tile_size)
            level_res = {}
            if mpp:
                level_res = {"resolution": (1e4 / (mpp * size[0] / w), 1e4 / (mpp * size[1] / h)),
                             "resolutionunit": "CENTIMETER"}
            tw.write(
                tiles, shape=(h, w, 3), dtype=np.uint8, tile=(tile_size, tile_size),
                description=(description if k == 0 else None), metadata=None,
                subfiletype=0 if k == 0 else 1, **comp_args, **(level_res or res),
            )
            log.debug("wrote level %d: %dx%d", k, w, h)
    tmp.replace(path)
    return path


def encode_image(rgb: np.ndarray, fmt: str, mpp: float | None = None, *, png_compression: int = 1,
                 jpeg_quality: int = 90) -> bytes:
    """PNG or JPEG bytes of an RGB image that state its pixel size (PNG pHYs in pixels per metre; JPEG
    JFIF density in dots per cm), so that readers find `mpp` in the file."""
    fmt = fmt.lower().lstrip(".")
    if fmt == "png":
        ok, buf = cv2.imencode(".png", rgb[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, png_compression])
    elif fmt in ("jpg", "jpeg"):
        ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    else:
        raise ValueError(f"cannot encode {fmt!r}: use png or jpg")
    if not ok:
        raise RuntimeError(f"could not encode a {rgb.shape} image as {fmt}")
    data = buf.tobytes()
    if mpp is None:
        return data
    return _png_with_phys(data, mpp) if fmt == "png" else _jpeg_with_density(data, mpp)


def _png_with_phys(data: bytes, mpp: float) -> bytes:
    import struct
    import zlib

    ppm = round(1e6 / mpp)
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)      # unit 1: metre
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    end_of_ihdr = 8 + 8 + 13 + 4                            # signature, IHDR length+type, data, CRC
    return data[:end_of_ihdr] + chunk + data[end_of_ihdr:]


def _jpeg_with_density(data: bytes, mpp: float) -> bytes:
    import struct

    dpcm = round(1e4 / mpp)
    if data[2:4] != b"\xff\xe0" or data[6:11] != b"JFIF\x00" or not 0 < dpcm < 65536:
        log.warning("cannot record a pixel size of %s um/px in this JPEG", mpp)
        return data
    # APP0: length(2) 'JFIF\0'(5) version(2) units(1) Xdensity(2) Ydensity(2) ...; units 2 = dots per cm
    return data[:13] + struct.pack(">BHH", 2, dpcm, dpcm) + data[18:]
