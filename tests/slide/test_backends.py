"""Every reader backend on synthetic files: levels, mpp, pixels, level agreement, bounds, thumbnails, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from her2viewer.slide import SlideSource, open_slide
from her2viewer.slide.image_source import ImageSource
from her2viewer.slide.openslide_source import OpenSlideSource
from her2viewer.slide.tifffile_source import TiffFileSource


def level_agreement(src: SlideSource, level: int, l0_x: int, l0_y: int, l0_size: int) -> float:
    """Mean absolute difference between a level-0 read shrunk to `level` and the same area read at `level`."""
    ds = src.level_downsamples[level]
    lvl_size = int(round(l0_size / ds))
    full = src.read_region(0, l0_x, l0_y, l0_size, l0_size)
    shrunk = cv2.resize(full, (lvl_size, lvl_size), interpolation=cv2.INTER_AREA)
    direct = src.read_region(level, l0_x, l0_y, lvl_size, lvl_size)
    return float(np.abs(shrunk.astype(int) - direct.astype(int)).mean())


@pytest.mark.parametrize("fixture, backend, mpp, levels", [
    ("generic_tiff", TiffFileSource, 0.5, 3),
    ("ome_tiff", TiffFileSource, 0.25, 3),
    ("stripped_tiff", ImageSource, 0.5, 2),
    ("png_file", ImageSource, None, 3),
    ("jpeg_file", ImageSource, None, 3),
])
def test_open_slide_picks_backend(request, fixture, backend, mpp, levels):
    path = request.getfixturevalue(fixture)
    with open_slide(path) as src:
        assert type(src) is backend
        assert isinstance(src, SlideSource)
        assert src.level_count == levels
        assert src.mpp == pytest.approx(mpp) if mpp else src.mpp is None
        W, H = src.dimensions
        for (w, h), ds in zip(src.level_dimensions, src.level_downsamples, strict=True):
            assert ds == pytest.approx((W / w + H / h) / 2)  # OpenSlide's convention
        region = src.read_region(0, 100, 50, 300, 200)
        assert region.shape == (200, 300, 3) and region.dtype == np.uint8
        assert 30 <= region.mean() <= 230


@pytest.mark.parametrize("fixture", ["generic_tiff", "ome_tiff", "png_file", "jpeg_file"])
def test_levels_agree(request, fixture):
    with open_slide(request.getfixturevalue(fixture)) as src:
        for level in range(1, src.level_count):
            assert level_agreement(src, level, 400, 300, 1024) < 4.0, level


def test_pixels_match_source_image(generic_tiff, ome_tiff, png_file, base_image):
    for path, tol in ((ome_tiff, 0.0), (png_file, 0.0), (generic_tiff, 3.0)):
        with open_slide(path) as src:
            got = src.read_region(0, 1700, 1200, 301, 300)  # crosses tile edges, ends at the image edge
            diff = np.abs(got.astype(int) - base_image[1200:1500, 1700:2001].astype(int)).mean()
            assert diff <= tol, path


def test_openslide_and_tifffile_backends_agree(generic_tiff):
    with OpenSlideSource(generic_tiff) as osrc, TiffFileSource(generic_tiff) as tsrc:
        assert osrc.vendor == "generic-tiff"
        assert osrc.level_dimensions == tsrc.level_dimensions
        assert osrc.level_downsamples == pytest.approx(tsrc.level_downsamples)
        assert osrc.mpp == pytest.approx(0.5)
        a, b = osrc.read_region(0, 200, 300, 400, 300), tsrc.read_region(0, 200, 300, 400, 300)
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 1.0


@pytest.mark.parametrize("fixture", ["generic_tiff", "ome_tiff", "png_file"])
def test_out_of_bounds_is_white(request, fixture):
    with open_slide(request.getfixturevalue(fixture)) as src:
        W, H = src.dimensions
        outside = src.read_region(0, W + 10, H + 10, 64, 64)
        assert (outside == 255).all()
        corner = src.read_region(0, -50, -40, 100, 100)
        assert (corner[:40] == 255).all() and (corner[:, :50] == 255).all()
        assert corner[40:, 50:].mean() < 240
        top = src.level_count - 1
        w, h = src.level_dimensions[top]
        edge = src.read_region(top, 0, 0, w + 20, h + 5)
        assert (edge[h:] == 255).all() and (edge[:, w:] == 255).all()


@pytest.mark.parametrize("fixture", ["generic_tiff", "ome_tiff", "stripped_tiff", "jpeg_file"])
def test_thumbnail_size(request, fixture):
    with open_slide(request.getfixturevalue(fixture)) as src:
        W, H = src.dimensions
        thumb = src.thumbnail(200)
        assert max(thumb.shape[:2]) == 200
        assert thumb.shape[1] / thumb.shape[0] == pytest.approx(W / H, rel=0.02)


def test_ome_associated_label(ome_tiff):
    with open_slide(ome_tiff) as src:
        assert src.vendor == "ome-tiff"
        label = src.associated_images["label"]
        assert label.shape == (60, 80, 3) and (label == 90).all()


@pytest.mark.parametrize("fixture", ["generic_tiff", "ome_tiff"])
def test_concurrent_reads_equal_serial_reads(request, fixture):
    with open_slide(request.getfixturevalue(fixture)) as src:
        rng = np.random.default_rng(1)
        jobs = [(int(rng.integers(src.level_count)), int(rng.integers(-100, 1900)), int(rng.integers(-100, 1400)))
                for _ in range(48)]
        serial = [src.read_region(lv, x, y, 200, 150) for lv, x, y in jobs]
        with ThreadPoolExecutor(8) as pool:
            parallel = list(pool.map(lambda j: src.read_region(j[0], j[1], j[2], 200, 150), jobs))
        for a, b in zip(serial, parallel, strict=True):
            assert np.array_equal(a, b)


def test_read_after_close_raises(generic_tiff):
    src = open_slide(generic_tiff)
    src.close()
    with pytest.raises(ValueError, match="closed"):
        src.read_region(0, 0, 0, 10, 10)


def test_rgba_png_composited_on_white(tmp_path):
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 2] = 200  # blue
    rgba[:, 32:, 3] = 255
    path = tmp_path / "alpha.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    with open_slide(path) as src:
        img = src.read_region(0, 0, 0, 64, 64)
    assert (img[:, :32] == 255).all()
    assert (img[:, 32:] == [0, 0, 200]).all()


def test_sixteen_bit_grayscale_tiff(tmp_path):
    gray = (np.arange(256 * 128, dtype=np.uint32).reshape(128, 256) * 2).astype(np.uint16)
    path = tmp_path / "gray16.tif"
    import tifffile

    tifffile.imwrite(path, gray)
    with open_slide(path) as src:
        img = src.read_region(0, 0, 0, 256, 128)
    assert img.shape == (128, 256, 3)
    assert np.array_equal(img[..., 0], (gray >> 8).astype(np.uint8))


@pytest.mark.parametrize("tile", [None, (256, 256)])
def test_planar_rgb_tiff_reads_as_rgb(tmp_path, monkeypatch, base_image, tile):
    # one plane per colour (PlanarConfiguration 2): decoded whole it came back as a 3-pixel-high image
    import tifffile

    from her2viewer.slide import open as open_mod

    if tile:
        monkeypatch.setattr(open_mod, "WHOLE_DECODE_MAX_PIXELS", 1000)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, np.moveaxis(base_image, 2, 0), photometric="rgb", planarconfig="separate", tile=tile)
    with open_slide(path) as src:
        assert src.dimensions == (base_image.shape[1], base_image.shape[0])
        assert np.array_equal(src.read_region(0, 250, 250, 20, 20), base_image[250:270, 250:270])


@pytest.mark.parametrize("tile", [None, (256, 256)])
def test_cmyk_tiff_reads_as_its_rgb(tmp_path, monkeypatch, base_image, tile):
    # PhotometricInterpretation SEPARATED: the ink amounts were read as if they were R, G, B
    import tifffile

    from her2viewer.slide import open as open_mod

    if tile:
        monkeypatch.setattr(open_mod, "WHOLE_DECODE_MAX_PIXELS", 1000)
    cmyk = np.concatenate([255 - base_image, np.zeros(base_image.shape[:2] + (1,), np.uint8)], axis=2)
    cmyk[:10, :10] = [0, 0, 0, 255]   # black ink only
    path = tmp_path / "cmyk.tif"
    tifffile.imwrite(path, cmyk, photometric="separated", tile=tile)
    with open_slide(path) as src:
        img = src.read_region(0, 0, 0, base_image.shape[1], base_image.shape[0])
    assert (img[:10, :10] == 0).all()
    assert np.array_equal(img[10:, 10:], base_image[10:, 10:])


@pytest.mark.parametrize("tile", [None, (256, 256)])
def test_tiff_with_a_small_preview_first_opens_its_full_image(tmp_path, monkeypatch, base_image, tile):
    # some writers put a thumbnail before the image: it was tifffile's first series, so the slide was the thumbnail
    import tifffile

    from her2viewer.slide import open as open_mod

    if tile:
        monkeypatch.setattr(open_mod, "WHOLE_DECODE_MAX_PIXELS", 1000)
    h, w = base_image.shape[:2]
    preview = np.full((h // 10, w // 10 + 7, 3), 40, np.uint8)   # not the image's aspect: not a pyramid level
    path = tmp_path / "preview_first.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(preview, photometric="rgb", metadata=None)
        tw.write(base_image, photometric="rgb", tile=tile, metadata=None)
    with open_slide(path) as src:
        assert src.dimensions == (w, h)
        assert np.array_equal(src.read_region(0, 250, 250, 20, 20), base_image[250:270, 250:270])


def test_large_single_level_tiled_tiff_uses_tile_reads(tmp_path, monkeypatch, base_image):
    import tifffile

    from her2viewer.slide import open as open_mod

    monkeypatch.setattr(open_mod, "WHOLE_DECODE_MAX_PIXELS", 1000)
    path = tmp_path / "tiled1.tif"
    tifffile.imwrite(path, base_image, tile=(256, 256), photometric="rgb", compression="zlib")
    with open_slide(path) as src:
        assert type(src) is TiffFileSource and src.level_count == 1
        assert np.array_equal(src.read_region(0, 250, 250, 20, 20), base_image[250:270, 250:270])


@pytest.mark.parametrize("fast", [True, False])
def test_openslide_transparent_areas_are_white(generic_tiff, monkeypatch, fast):
    from her2viewer.slide import openslide_source

    monkeypatch.setattr(openslide_source, "_FAST_READ", fast)
    with OpenSlideSource(generic_tiff) as src:
        W, H = src.dimensions
        img = src._read_level(0, W - 50, H - 40, 100, 100)  # OpenSlide leaves the outside transparent
        assert (img[40:] == 255).all() and (img[:, 50:] == 255).all()
        assert img[:40, :50].mean() < 235
