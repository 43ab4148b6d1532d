"""Tissue tiling, the feature extractor and the feature cache."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from her2viewer.features import FeatureCache, TileSpec, extract_bag, get_extractor, tile_grid
from her2viewer.features.extractor import ExtractorError, FeatureExtractor
from her2viewer.slide import open_slide
from her2viewer.slide.array_source import ArraySlide
from her2viewer.slide.region import Region

SPEC = TileSpec(tile_px=32, mpp=2.0, min_tissue=0.5)


def _disc_slide(mpp=0.5):
    img = np.full((600, 800, 3), 245, np.uint8)
    cv2.circle(img, (300, 300), 200, (150, 90, 140), -1)
    return ArraySlide(img, mpp=mpp, name="disc")


def test_tiles_cover_the_tissue_at_the_asked_resolution():
    src = _disc_slide(mpp=0.5)
    grid = tile_grid(src, Region((0, 0, 800, 600)), SPEC)
    assert grid.l0_tile_size == pytest.approx(128.0)  # 32 px at 2 um/px on a 0.5 um/px slide
    assert grid.shape == (5, 7)
    centres = grid.l0_xy + 64
    assert np.all(np.hypot(centres[:, 0] - 300, centres[:, 1] - 300) < 200 + 91)  # on the disc
    assert 6 <= len(grid) <= 12
    painted = grid.to_grid(np.arange(len(grid)))
    assert np.count_nonzero(~np.isnan(painted)) == len(grid)
    assert painted[grid.grid_rc[3, 0], grid.grid_rc[3, 1]] == 3


def test_max_tiles_takes_a_seeded_subset():
    src = _disc_slide()
    a = tile_grid(src, Region((0, 0, 800, 600)), TileSpec(32, 2.0, 0.5, max_tiles=4))
    b = tile_grid(src, Region((0, 0, 800, 600)), TileSpec(32, 2.0, 0.5, max_tiles=4))
    assert len(a) == 4 and np.array_equal(a.l0_xy, b.l0_xy)


def test_random_extractor_is_seeded_and_sized():
    a = FeatureExtractor("mobilenetv2_050", "random:1")
    b = FeatureExtractor("mobilenetv2_050", "random:1")
    tiles = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    fa, fb = a(tiles), b(tiles)
    assert fa.shape == (2, a.dim) and fa.dtype == np.float32
    np.testing.assert_allclose(fa, fb, rtol=1e-5, atol=1e-6)
    assert a.identity()["sha256"] == "random:1" and a.calls == 1


def test_imagenet_extractor_loads_local_weights():
    ext = get_extractor("mobilenetv2_100", "imagenet")
    assert ext.dim == 1280 and len(ext.sha256) == 64


def test_extractor_errors_name_the_problem(tmp_path):
    with pytest.raises(ExtractorError, match="no local ImageNet weights"):
        FeatureExtractor("convnext_atto", "imagenet")
    with pytest.raises(ExtractorError, match="not found"):
        FeatureExtractor("mobilenetv2_050", str(tmp_path / "enc.safetensors"))


def test_encoder_safetensors_file(tmp_path):
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(3)
    net = timm.create_model("mobilenetv2_050", pretrained=False, num_classes=7)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "enc.safetensors"))
    ext = FeatureExtractor("mobilenetv2_050", str(tmp_path / "enc.safetensors"))
    x = np.full((1, 32, 32, 3), 128, np.uint8)
    net.reset_classifier(0)
    net.eval()
    t = (torch.full((1, 3, 32, 32), 128 / 255.0) - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) \
        / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    np.testing.assert_allclose(ext(x), net(t).detach().numpy(), rtol=1e-4, atol=1e-5)
    assert ext.identity()["weights"] == "enc.safetensors"


def test_cache_is_reused_and_keyed_by_spec_and_file(tmp_path):
    img = np.full((400, 400, 3), 245, np.uint8)
    cv2.circle(img, (200, 200), 150, (150, 90, 140), -1)
    path = tmp_path / "core.png"
    cv2.imwrite(str(path), img)
    cache = FeatureCache(tmp_path / "cache")
    ext = FeatureExtractor("mobilenetv2_050", "random:0", batch_size=4)
    with open_slide(path) as src:
        region = Region((0, 0, 400, 400), None, "slide")
        first = extract_bag(src, region, ext, SPEC, cache=cache)
        calls = ext.calls
        assert calls >= 1 and len(list((tmp_path / "cache").glob("*.npz"))) == 1
        second = extract_bag(src, region, ext, SPEC, cache=cache)
        assert ext.calls == calls  # the backbone did not run again
        np.testing.assert_allclose(second.features, first.features, rtol=1e-2, atol=1e-3)  # float16 on disk
        assert np.array_equal(second.grid.l0_xy, first.grid.l0_xy)
        assert second.grid.l0_tile_size == first.grid.l0_tile_size and second.grid.shape == first.grid.shape
        extract_bag(src, region, ext, TileSpec(32, 2.0, 0.25), cache=cache)  # another spec: computed
        assert ext.calls > calls
    calls = ext.calls
    cv2.imwrite(str(path), 255 - img)  # the file changed: its features are recomputed
    with open_slide(path) as src:
        extract_bag(src, Region((0, 0, 400, 400), None, "slide"), ext, SPEC, cache=cache)
    assert ext.calls > calls


def test_unreadable_cache_file_is_recomputed(tmp_path):
    src = _disc_slide()
    cache = FeatureCache(tmp_path)
    ext = FeatureExtractor("mobilenetv2_050", "random:0")
    region = Region((0, 0, 800, 600))
    extract_bag(src, region, ext, SPEC, cache=cache)
    for f in tmp_path.glob("*.npz"):
        f.write_bytes(b"garbage")
    calls = ext.calls
    bag = extract_bag(src, region, ext, SPEC, cache=cache)
    assert ext.calls > calls and len(bag.features) == len(bag.grid)


def test_slide_bags_match_what_the_scorer_scores(tmp_path):
    from her2viewer.features.bags import slide_bags

    img = np.full((400, 400, 3), 245, np.uint8)
    cv2.circle(img, (200, 200), 150, (150, 90, 140), -1)
    cv2.imwrite(str(tmp_path / "core.png"), img)
    ext = FeatureExtractor("mobilenetv2_050", "random:0")
    bags = slide_bags(tmp_path / "core.png", ext, SPEC, cache=FeatureCache(tmp_path / "c"), scope="slide")
    assert len(bags) == 1 and bags[0][0].id == "slide"
    assert bags[0][1].features.shape == (len(bags[0][1].grid), ext.dim)
