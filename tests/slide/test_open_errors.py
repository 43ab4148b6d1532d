"""`open_slide` turns every kind of bad input into a SlideOpenError that names the file and the problem."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile

from her2viewer.slide import SlideOpenError, open_slide


def _truncate(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _expect(path: Path, *words: str) -> SlideOpenError:
    with pytest.raises(SlideOpenError) as info:
        open_slide(path)
    msg = str(info.value)
    assert str(path) in msg and msg.startswith("Cannot open")
    for word in words:
        assert word in msg, msg
    return info.value


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.svs", "does not exist")


def test_directory(tmp_path):
    _expect(tmp_path, "directory")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.svs"
    path.touch()
    _expect(path, "empty", "0 bytes")


def test_text_file_named_like_a_slide(tmp_path):
    path = tmp_path / "notes.svs"
    path.write_text("this is not a slide\n" * 20)
    _expect(path, "unsupported format", "text")


def test_pdf_is_unsupported(tmp_path):
    path = tmp_path / "report.tif"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)
    _expect(path, "unsupported format", "PDF")


def test_random_bytes_are_not_an_image(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    _expect(path, "not an image")


@pytest.mark.parametrize("fraction", [0.03, 0.5, 0.9])
def test_truncated_pyramidal_tiff(generic_tiff, tmp_path, fraction):
    _expect(_truncate(generic_tiff, tmp_path / "cut.tif", fraction))


def test_truncated_pyramid_says_truncated(generic_tiff, tmp_path):
    _expect(_truncate(generic_tiff, tmp_path / "cut.tif", 0.6), "truncated")


def test_truncated_ome_tiff(ome_tiff, tmp_path):
    _expect(_truncate(ome_tiff, tmp_path / "cut.ome.tif", 0.7), "truncated")


def test_truncated_stripped_tiff(stripped_tiff, tmp_path):
    _expect(_truncate(stripped_tiff, tmp_path / "cut.tif", 0.5), "truncated")


@pytest.mark.parametrize("fixture", ["jpeg_file", "png_file"])
def test_truncated_raster(request, tmp_path, fixture):
    src = request.getfixturevalue(fixture)
    _expect(_truncate(src, tmp_path / f"cut{src.suffix}", 0.6), "truncated")


def test_tiff_header_only(tmp_path):
    path = tmp_path / "header.tif"
    path.write_bytes(b"II*\x00\x08\x00\x00\x00")
    _expect(path, "truncated")


def test_zero_size_png(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0)
    body = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"")) + \
        _png_chunk(b"IEND", b"")
    path = tmp_path / "zero.png"
    path.write_bytes(body)
    _expect(path, "zero size")


def test_zero_size_tiff(tmp_path):
    path = tmp_path / "zero.tif"
    tifffile.imwrite(path, np.zeros((8, 8, 3), np.uint8), photometric="rgb")
    with tifffile.TiffFile(path, mode="r+") as tf:
        tf.pages.first.tags["ImageWidth"].overwrite(0)
    _expect(path, "zero size")


def test_unreadable_file(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root can read anything")
    path = tmp_path / "locked.tif"
    path.write_bytes(b"II*\x00" + b"\x00" * 100)
    path.chmod(0)
    _expect(path, "permission denied")
