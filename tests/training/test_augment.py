"""Training augmentation: what varies between labs (stain hue, focus, exposure) changes pixels the way it should."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from her2viewer.stain import StainMatrix, compose, deconvolve
from training.augment import Augment, augment_stack

ONLY = dict(flip=False, rot90=False, affine_p=0.0, hema_scale=0.0, hema_shift=0.0, dab_scale=0.0, dab_shift=0.0,
            residual_shift=0.0, stain_p=0.0)


def _stack() -> np.ndarray:
    """Two 64 px H-DAB patches with sharp edges, as a (6, 64, 64) uint8 stack."""
    rng = np.random.default_rng(0)
    hema = np.zeros((64, 64), np.float32)
    dab = np.zeros((64, 64), np.float32)
    hema[10:30, 10:30] = 0.4
    dab[:, 40:44] = 0.6
    dab += rng.uniform(0, 0.02, dab.shape).astype(np.float32)
    rgb = compose(np.stack([hema, dab], -1), StainMatrix.default())
    return np.concatenate([rgb.transpose(2, 0, 1), rgb[::-1].transpose(2, 0, 1)])


def test_off_changes_nothing_and_the_new_settings_default_to_off():
    x = _stack()
    assert np.array_equal(augment_stack(x, Augment.off(), np.random.default_rng(1)), x)
    a = Augment()
    assert a.vector_jitter == a.blur_p == a.gamma == 0.0  # existing configs train as before


def test_blur_softens_edges_of_every_patch_alike():
    x = _stack()
    y = augment_stack(x, Augment(**ONLY, blur_p=1.0, blur_sigma=2.0), np.random.default_rng(2))
    assert y.shape == x.shape and y.dtype == np.uint8
    for p in range(2):
        a = cv2.Laplacian(x[3 * p:3 * p + 3].transpose(1, 2, 0)[..., 1].astype(np.float32), cv2.CV_32F).var()
        b = cv2.Laplacian(y[3 * p:3 * p + 3].transpose(1, 2, 0)[..., 1].astype(np.float32), cv2.CV_32F).var()
        assert b < 0.5 * a
    assert abs(float(y.mean()) - float(x.mean())) < 2.0  # blur keeps the mean


def test_gamma_changes_exposure_and_keeps_white_white():
    x = _stack()
    x[:, :4, :4] = 255
    outs = [augment_stack(x, Augment(**ONLY, gamma=0.5), np.random.default_rng(s)) for s in range(6)]
    assert all((o[:, :4, :4] == 255).all() for o in outs)
    means = [float(o.mean()) for o in outs]
    assert max(means) - min(means) > 5.0


def test_vector_jitter_changes_the_hue_of_dab_not_only_its_amount():
    x = _stack()
    aug = Augment(**{**ONLY, "stain_p": 1.0}, vector_jitter=0.08)
    ys = [augment_stack(x, aug, np.random.default_rng(s)) for s in range(4)]
    rgb0 = x[:3].transpose(1, 2, 0)
    band = (slice(None), slice(40, 44))
    hue = lambda rgb: np.log(rgb[band][..., 0].mean() / rgb[band][..., 2].mean())  # noqa: E731
    hues = [hue(y[:3].transpose(1, 2, 0).astype(float)) for y in ys]
    assert np.ptp(hues) > 0.02
    # the stain amount read back with the default vectors stays of the same order (hue, not a new label)
    for y in ys:
        d = deconvolve(y[:3].transpose(1, 2, 0))[..., 1][band].mean()
        assert d == pytest.approx(deconvolve(rgb0)[..., 1][band].mean(), rel=0.5)


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="blurr"):
        Augment.from_dict({"blurr": 1.0})
