"""Reader guards: IFD loops, named pipes, absurd declared sizes and decompression bombs are refused fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from her2viewer.slide.base import SlideOpenError
from her2viewer.slide.image_header import check_image_header, image_size
from her2viewer.slide.open import open_slide
from her2viewer.slide.tiff_guard import guard_tiff
from tests.fuzz import corpus


@pytest.fixture(scope="module")
def small_tiff(tmp_path_factory) -> Path:
    """A two-level tiled TIFF of a synthetic core."""
    d = tmp_path_factory.mktemp("guard")
    return corpus.write_tiled_tiff(d / "core.tif", corpus.core_image(0, 400))


def _refused(path: Path, words: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(SlideOpenError) as err:
        open_slide(path).close()
    assert time.monotonic() - t0 < 10
    assert str(path) in str(err.value) and words in str(err.value)


def test_good_tiff_passes_the_guard(small_tiff: Path) -> None:
    assert guard_tiff(small_tiff) == 2
    with open_slide(small_tiff) as src:
        assert src.dimensions[0] > 0


def test_ifd_loop_is_refused(small_tiff: Path, tmp_path: Path) -> None:
    _refused(corpus.ifd_loop(small_tiff, tmp_path / "loop.svs"), "loops")


def test_named_pipe_is_refused(tmp_path: Path) -> None:
    _refused(corpus.named_pipe(tmp_path / "x.svs"), "named pipe")


def test_patched_width_is_refused(small_tiff: Path, tmp_path: Path) -> None:
    _refused(corpus.huge_width(small_tiff, tmp_path / "wide.tif"), "tiles or strips")


def test_truncated_tiff_is_refused(small_tiff: Path, tmp_path: Path) -> None:
    _refused(corpus.truncated(small_tiff, tmp_path / "cut.tif", 0.5), "truncated")


def test_png_bomb_refused_before_decoding(tmp_path: Path) -> None:
    path = corpus.png_bomb(tmp_path / "bomb.png", 20_000, 12_000)
    assert image_size(path) == (20_000, 12_000)
    _refused(path, "20000 x 12000 px")


def test_jpeg_header_claiming_huge_size_is_refused(tmp_path: Path) -> None:
    path = corpus.jpeg_bomb(tmp_path / "bomb.jpg")
    assert image_size(path) == (60_000, 60_000)
    with pytest.raises(SlideOpenError, match="60000 x 60000"):
        check_image_header(path)


def test_screenshot_of_an_unreadable_slide_is_one_line_and_exit_2(small_tiff: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    from her2viewer.cli import main

    bad = corpus.ifd_loop(small_tiff, tmp_path / "loop.svs")
    assert main(["gui", str(bad), "--screenshot", str(tmp_path / "shot.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and not (tmp_path / "shot.png").exists()
