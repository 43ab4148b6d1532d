"""Colour deconvolution: compose and deconvolve are inverses; Macenko finds H and DAB on real IHC."""

from __future__ import annotations

import numpy as np

from her2viewer.stain import StainMatrix, compose, deconvolve, estimate_stains_macenko, rgb_to_od


def test_od_of_white_is_zero_and_dark_is_positive():
    od = rgb_to_od(np.array([[[255, 255, 255], [25, 25, 25]]], np.uint8))
    assert np.allclose(od[0, 0], 0.0)
    assert np.allclose(od[0, 1], 1.0094, atol=1e-3)


def test_compose_then_deconvolve_recovers_concentrations():
    rng = np.random.default_rng(0)
    conc = np.stack([rng.uniform(0, 0.8, (32, 32)), rng.uniform(0, 1.0, (32, 32))], axis=-1).astype(np.float32)
    back = deconvolve(compose(conc))
    # 8-bit quantisation limits precision at high OD; 0.03 OD is far below the class bands' widths.
    assert np.abs(back[..., 0] - conc[..., 0]).max() < 0.03
    assert np.abs(back[..., 1] - conc[..., 1]).max() < 0.03
    assert np.abs(back[..., 2]).max() < 0.03


def test_macenko_on_real_ihc_is_close_to_the_default_vectors():
    from skimage import data

    img = data.immunohistochemistry()
    m = estimate_stains_macenko(img)
    ref = StainMatrix.default().vectors
    assert m.vectors[0] @ ref[0] > 0.9
    assert m.vectors[1] @ ref[1] > 0.85
    dab = deconvolve(img, m)[..., 1]
    assert dab.max() > 0.3  # brown DAB is there


def test_macenko_falls_back_on_blank_images():
    m = estimate_stains_macenko(np.full((64, 64, 3), 250, np.uint8))
    np.testing.assert_allclose(m.vectors, StainMatrix.default().vectors)


def test_not_stain_takes_black_padding_and_pen_ink_but_no_stain():
    from her2viewer.stain import not_stain

    px = np.array([[[0, 0, 0], [12, 10, 14], [60, 140, 40], [45, 18, 5],        # padding, dust, green pen, 3+ DAB
                    [79, 43, 23], [66, 59, 141], [155, 154, 181],               # DAB, dark and pale nuclei
                    [242, 242, 242], [200, 170, 140]]], np.uint8)                # glass, pale DAB
    assert not_stain(px).tolist() == [[True, True, True, False, False, False, False, False, False]]
    assert not_stain(px.astype(np.float32)).tolist() == not_stain(px).tolist()
    big = np.full((300, 300, 3), 200, np.uint8)
    assert not not_stain(big).any()
    big[:, 100:112] = (60, 140, 40)                                               # a vertical stroke
    assert not_stain(big)[:, 100:112].all() and not_stain(big).sum() == 300 * 12
    assert not_stain(np.zeros((0, 3), np.uint8)).shape == (0,)


def test_a_grey_haematoxylin_estimate_is_not_credible():
    from her2viewer.stain import credible_haematoxylin

    ruifrok = StainMatrix.default().vectors[0]
    assert credible_haematoxylin(ruifrok)
    bluer = ruifrok * np.array([1.0, 1.05, 1.4])   # a lab's bluer haematoxylin, still blue
    assert credible_haematoxylin(bluer / np.linalg.norm(bluer))
    # what Macenko's extreme angle gave on pale real patches: near Ruifrok's (cos 0.95) but neutral grey
    grey = np.array([0.5776, 0.5863, 0.5681])
    assert grey @ ruifrok > 0.95 and not credible_haematoxylin(grey / np.linalg.norm(grey))


def test_rules_measure_a_real_patch_alike_after_a_jpeg_reencode(shared_data, tmp_path):
    # at quality 75 Macenko's haematoxylin came out grey, which moved the nucleus threshold 2x and the share of
    # complete moderate membranes from 79% to 31%
    import cv2

    from her2viewer.scoring.rules.calibrate import measure_image
    from her2viewer.scoring.rules.decision import intensity_class, is_complete
    from her2viewer.scoring.rules.params import MembraneThresholds

    src = shared_data / "real_dev" / "bci_00002_test_2+.jpg"
    again = tmp_path / "q75.jpg"
    cv2.imwrite(str(again), cv2.imread(str(src)), [cv2.IMWRITE_JPEG_QUALITY, 75])
    t = MembraneThresholds()
    shares = []
    for path in (src, again):
        m = measure_image(path, "2+")
        cls = intensity_class(m.membrane_od, t)
        shares.append(float(np.mean((cls >= 2) & is_complete(m.completeness, cls, t))))
    assert shares[0] > 0.5 and abs(shares[1] - shares[0]) < 0.1
