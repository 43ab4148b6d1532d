"""The three real files in ../shared/data/wsi (skipped when ../shared is absent)."""

from __future__ import annotations

import cv2
import numpy as np
import openslide
import pytest

from her2viewer.slide import TileCache, TileLayer, open_slide
from her2viewer.slide.openslide_source import OpenSlideSource

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def wsi(shared_data):
    return shared_data / "wsi"


def test_cmu_svs(wsi):
    with open_slide(wsi / "CMU-1-Small-Region.svs") as src:
        assert isinstance(src, OpenSlideSource) and src.vendor == "aperio"
        assert src.dimensions == (2220, 2967) and src.level_count == 1
        assert src.mpp == pytest.approx(0.499, abs=1e-3)
        assert src.objective_power == pytest.approx(20)
        assoc = src.associated_images
        assert set(assoc) == {"label", "macro", "thumbnail"}
        assert assoc["label"].shape == (463, 387, 3) and assoc["label"].dtype == np.uint8
        tissue = src.read_region(0, 1000, 1000, 256, 256)
        assert tissue.mean() < 235  # H&E tissue, not glass
        thumb = src.thumbnail(300)
        assert thumb.shape == (300, 224, 3)
        layer = TileLayer(src, 512, TileCache(2**26))
        assert np.array_equal(layer.get_tile(0, 2, 3), src.read_region(0, 1024, 1536, 512, 512))


def test_tcga_jpeg2000_without_mpp(wsi):
    with open_slide(wsi / "tcga-cr-7395-01a-01-ts1.svs") as src:
        assert isinstance(src, OpenSlideSource)
        assert src.level_dimensions == ((4443, 3567), (2221, 1783))
        assert src.mpp is None and src.objective_power is None
        assert "thumbnail" in src.associated_images
        full = src.read_region(0, 1800, 1400, 800, 800)
        half = src.read_region(1, 1800, 1400, 400, 400)
        shrunk = cv2.resize(full, (400, 400), interpolation=cv2.INTER_AREA)
        assert np.abs(shrunk.astype(int) - half.astype(int)).mean() < 8
        assert full.std() > 10  # real pixels were decoded


def test_kidney_plain_tiff_refused_by_openslide_opens_elsewhere(wsi):
    path = wsi / "kidney-48-5.tif"
    with pytest.raises(openslide.OpenSlideUnsupportedFormatError):
        openslide.OpenSlide(str(path))
    with open_slide(path) as src:
        assert not isinstance(src, OpenSlideSource)
        assert src.dimensions == (1493, 901)
        assert src.level_count >= 2
        img = src.read_region(0, 0, 0, 1493, 901)
        assert img.shape == (901, 1493, 3) and img.min() < 200  # the small tissue fragment is there
        assert max(src.thumbnail(256).shape[:2]) == 256


def test_concurrent_reads_on_real_svs(wsi):
    from concurrent.futures import ThreadPoolExecutor

    with open_slide(wsi / "tcga-cr-7395-01a-01-ts1.svs") as src:
        jobs = [(lv, x, y) for lv in (0, 1) for x in range(0, 4000, 700) for y in range(0, 3400, 900)]
        serial = [src.read_region(lv, x, y, 256, 256) for lv, x, y in jobs]
        with ThreadPoolExecutor(6) as pool:
            parallel = list(pool.map(lambda j: src.read_region(j[0], j[1], j[2], 256, 256), jobs))
        assert all(np.array_equal(a, b) for a, b in zip(serial, parallel, strict=True))
