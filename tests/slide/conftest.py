"""Synthetic slide files for the reader tests, written into tmp directories (small: each test takes seconds)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from her2viewer.slide.writer import write_pyramidal_tiff


def smooth_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """An RGB image with structure at several scales (JPEG and downsampling keep it recognisable)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((6, 0.5), (24, 0.3), (96, 0.2)):
        noise = rng.random((max(2, height * cells // width), cells, 3)).astype(np.float32)
        img += weight * cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    return (img.clip(0, 1) * 200 + 30).astype(np.uint8)


@pytest.fixture(scope="session")
def slide_dir(tmp_path_factory) -> Path:
    """A directory of synthetic slide files shared by the session."""
    return tmp_path_factory.mktemp("slides")


@pytest.fixture(scope="session")
def base_image() -> np.ndarray:
    """The 2001 x 1500 RGB image most synthetic files hold (odd width: downsamples are not exact powers of 2)."""
    return smooth_image(2001, 1500)


@pytest.fixture(scope="session")
def generic_tiff(slide_dir: Path, base_image: np.ndarray) -> Path:
    """A JPEG-tiled pyramidal TIFF (consecutive IFDs, OpenSlide generic-tiff), mpp 0.5."""
    return write_pyramidal_tiff(slide_dir / "generic.tif", base_image, mpp=0.5, tile_size=256)


@pytest.fixture(scope="session")
def ome_tiff(slide_dir: Path, base_image: np.ndarray) -> Path:
    """An OME-TIFF with reduced levels in SubIFDs, PhysicalSizeX 0.25 um, deflate tiles, plus a label series."""
    path = slide_dir / "pyramid.ome.tif"
    levels = [base_image]
    for _ in range(2):
        h, w = levels[-1].shape[:2]
        levels.append(cv2.resize(levels[-1], (w // 2, h // 2), interpolation=cv2.INTER_AREA))
    opts = {"tile": (256, 256), "compression": "zlib", "photometric": "rgb"}
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(levels[0], subifds=2, metadata={"axes": "YXS", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25,
                                                  "Name": "Image0"}, **opts)
        for lvl in levels[1:]:
            tw.write(lvl, subfiletype=1, **opts)
        tw.write(np.full((60, 80, 3), 90, np.uint8), photometric="rgb", metadata={"Name": "label"})
    return path


@pytest.fixture(scope="session")
def stripped_tiff(slide_dir: Path, base_image: np.ndarray) -> Path:
    """A plain single-level RGB TIFF in strips (what OpenSlide refuses)."""
    path = slide_dir / "plain.tif"
    tifffile.imwrite(path, base_image[:700, :900], photometric="rgb", rowsperstrip=64,
                     resolution=(1e4 / 0.5, 1e4 / 0.5), resolutionunit="CENTIMETER")
    return path


@pytest.fixture(scope="session")
def png_file(slide_dir: Path, base_image: np.ndarray) -> Path:
    """A PNG core photograph."""
    path = slide_dir / "core.png"
    cv2.imwrite(str(path), cv2.cvtColor(base_image, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="session")
def jpeg_file(slide_dir: Path, base_image: np.ndarray) -> Path:
    """A JPEG core photograph."""
    path = slide_dir / "core.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(base_image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path
