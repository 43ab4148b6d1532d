"""The QImage side of tile loading: owned conversions, a byte-bounded cache, display keys."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from her2viewer.ui.viewer.display import DisplaySettings, apply_display, tone_lut
from her2viewer.ui.viewer.tile_loader import QImageCache, rgb_to_qimage


def test_rgb_to_qimage_copies_pixels():
    rgb = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    img = rgb_to_qimage(rgb)
    rgb[:] = 0                                   # the image owns its memory
    assert img.format() == QImage.Format.Format_RGB32 and (img.width(), img.height()) == (53, 37)
    back = img.convertToFormat(QImage.Format.Format_RGB888)
    arr = np.frombuffer(back.constBits(), np.uint8).reshape(37, back.bytesPerLine())[:, : 53 * 3]
    assert (arr.reshape(37, 53, 3) == np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)).all()


def test_qimage_cache_is_byte_bounded_lru_and_drops_a_slide():
    one = rgb_to_qimage(np.zeros((64, 64, 3), np.uint8))          # 16 KiB each
    cache = QImageCache(max_bytes=5 * one.sizeInBytes())
    for i in range(8):
        cache.put(("a", i), rgb_to_qimage(np.zeros((64, 64, 3), np.uint8)))
        cache.get(("a", 0))                                       # keep the first one hot
    assert len(cache) == 5 and cache.nbytes <= cache.max_bytes
    assert ("a", 0) in cache and ("a", 1) not in cache
    cache.put(("b", 0), one)
    cache.drop("a")
    assert len(cache) == 1 and cache.nbytes == one.sizeInBytes()


def test_display_adjustments():
    rgb = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    identity = DisplaySettings()
    assert identity.is_identity and apply_display(rgb, identity) is rgb and tone_lut(identity) is None
    brighter = apply_display(rgb, DisplaySettings(brightness=0.2))
    assert (brighter.astype(int) >= rgb).all() and brighter.mean() > rgb.mean() + 30
    lut = tone_lut(DisplaySettings(contrast=1.5, gamma=0.8))
    assert (np.diff(lut.astype(int)) >= 0).all()                 # monotone
    assert DisplaySettings(stain="dab").key() != DisplaySettings(stain="hema").key()


def test_stain_views_separate_haematoxylin_and_dab():
    from her2viewer.stain import compose

    conc = np.zeros((8, 16, 2), np.float32)
    conc[:, :8, 0] = 0.8                     # left: haematoxylin only
    conc[:, 8:, 1] = 0.8                     # right: DAB only
    rgb = compose(conc)
    dab = apply_display(rgb, DisplaySettings(stain="dab")).astype(int)
    hema = apply_display(rgb, DisplaySettings(stain="hema")).astype(int)
    assert dab[:, :8].min() > 235 and dab[:, 8:].mean() < 200          # haematoxylin gone in the DAB view
    assert hema[:, 8:].min() > 235 and hema[:, :8].mean() < 200
    both = apply_display(rgb, DisplaySettings(stain="hdab")).astype(int)
    assert np.abs(both - rgb.astype(int)).max() <= 3
