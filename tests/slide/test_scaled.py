"""Chunked scaled reads: thumbnails and masks of single-level images never read a whole level at once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from her2viewer.scoring.pss.sampler import PSSSampler, PSSSpec
from her2viewer.slide import scaled
from her2viewer.slide.array_source import ArraySlide
from her2viewer.slide.open import open_slide
from her2viewer.slide.region import Region
from tests.child_peak import child_argv, child_env, read_peak_mb
from tests.fuzz import corpus


class _CountingSlide(ArraySlide):
    """An array slide that records the largest region read."""

    largest = 0

    def _read_level(self, level, lvl_x, lvl_y, w, h):
        self.largest = max(self.largest, w * h)
        return super()._read_level(level, lvl_x, lvl_y, w, h)


def test_read_scaled_matches_a_whole_read(monkeypatch: pytest.MonkeyPatch) -> None:
    img = corpus.core_image(2, 500)
    src = _CountingSlide(img, mpp=0.5, min_level_size=10**6)  # a single level
    whole = src.read_scaled((0, 0, *src.dimensions), (100, 100))
    monkeypatch.setattr(scaled, "DIRECT_MAX_PIXELS", 64 * 64)
    monkeypatch.setattr(scaled, "CHUNK_PX", 64)
    src.largest = 0
    chunked = src.read_scaled((0, 0, *src.dimensions), (100, 100))
    assert chunked.shape == whole.shape == (100, 100, 3)
    assert src.largest <= 70 * 70
    assert np.abs(chunked.astype(int) - whole.astype(int)).mean() < 6


def test_thumbnail_of_single_level_reads_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    src = _CountingSlide(corpus.core_image(3, 600), mpp=0.5, min_level_size=10**6)
    monkeypatch.setattr(scaled, "DIRECT_MAX_PIXELS", 128 * 128)
    monkeypatch.setattr(scaled, "CHUNK_PX", 128)
    thumb = src.thumbnail(64)
    assert max(thumb.shape[:2]) == 64 and src.largest <= 130 * 130


def test_thin_region_is_not_padded_to_a_square() -> None:
    strip = np.tile(corpus.core_image(1, 400)[150:166], (1, 150, 1))  # 60,000 x 16 px
    src = _CountingSlide(strip, mpp=0.5, min_level_size=10**6)
    spec = PSSSpec(n_full=2, n_half=1, patch_size=64, mpp=0.5)
    sampler = PSSSampler(src, Region((0, 0, strip.shape[1], 16)), spec)
    whole = sampler._whole
    assert whole is not None and whole.shape == (64, 64, 3)
    assert src.largest <= strip.shape[0] * strip.shape[1] * 2


@pytest.mark.slow
def test_big_single_level_tiff_info_and_rules_stay_small(tmp_path: Path) -> None:
    path = corpus.big_single_level_tiff(tmp_path / "big.tif", side=30_000)
    with open_slide(path) as src:
        assert src.level_count == 1
        assert src.thumbnail(512).shape[:2] == (512, 512)
    peak = tmp_path / "peak.txt"
    cmd = child_argv(["score", str(path), "--method", "rules", "--json", str(tmp_path / "r.json")])
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env(peak), check=False)
    assert proc.returncode in (0, 3), proc.stderr.decode(errors="replace")
    peak_mb = read_peak_mb(peak)
    assert peak_mb is not None and peak_mb < 2048, f"peak RSS {peak_mb} MiB"
