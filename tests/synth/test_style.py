"""Generator styles: synth-2 changes the look (blush, glass, detail, zoom) and never the label rule."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from her2viewer.scoring.asco import SCORES4, asco_cap_score, cell_percentages
from her2viewer.stain import deconvolve
from her2viewer.synth.core import generate_core
from her2viewer.synth.style import STYLES, SYNTH_2, get_style


@pytest.mark.parametrize("label", SCORES4)
def test_synth2_core_scores_its_label_by_the_same_rule(label):
    core = generate_core(label, 300 + SCORES4.index(label), diameter_px=900, style="synth-2")
    assert core.label == label
    assert asco_cap_score(cell_percentages(core.cells.intensity, core.cells.complete)).score == label
    assert core.stats["generator_version"] == "synth-2"
    assert SYNTH_2.zoom[0] <= core.stats["scene_zoom"] <= SYNTH_2.zoom[1]


def _tissue_and_glass(core) -> tuple[np.ndarray, np.ndarray]:
    rgb = core.image.astype(np.float32)
    dark = rgb.mean(-1) < 225
    h, w = dark.shape
    corner = np.zeros_like(dark)
    corner[: h // 20, : w // 20] = True  # the glass margin around a round core
    return dark, corner


def test_synth2_has_cytoplasmic_blush_warm_glass_and_less_detail_than_synth11():
    a = generate_core("1+", 41, diameter_px=900)
    b = generate_core("1+", 41, diameter_px=900, style="synth-2")
    dab_a = deconvolve(a.image)[..., 1]
    dab_b = deconvolve(b.image)[..., 1]
    tis_a, glass_a = _tissue_and_glass(a)
    tis_b, glass_b = _tissue_and_glass(b)
    # diffuse DAB over the tissue: the blush lifts the median, not only the membranes
    assert np.median(dab_b[tis_b]) > np.median(dab_a[tis_a]) + 0.05
    # warm glass: red above blue
    glass = b.image[glass_b].astype(float).mean(0)
    assert glass[0] > glass[2]
    # far less pixel-level detail (variance of the Laplacian over tissue)
    lap = lambda img, m: float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_32F)[m].var())  # noqa: E731
    assert lap(b.image, tis_b) < 0.25 * lap(a.image, tis_a)


def test_unknown_style_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="synth-1.1, synth-2"):
        get_style("synth-3")
    with pytest.raises(ValueError, match="unknown synthetic style"):
        generate_core("0", 1, diameter_px=400, style="nope")
    assert set(STYLES) == {"synth-1.1", "synth-2"}


def test_synth_data_cli_writes_the_style_and_does_not_reuse_another_styles_cores(tmp_path):
    from training.synth_data import main

    assert main([str(tmp_path), "--seeds", "0-1", "--diameter", "400"]) == 0
    first = (tmp_path / "core_0000000.png").read_bytes()
    assert main([str(tmp_path), "--seeds", "0-1", "--diameter", "400", "--style", "synth-2"]) == 0
    with open(tmp_path / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["generator_version"] for r in rows] == ["synth-2", "synth-2"]
    assert (tmp_path / "core_0000000.png").read_bytes() != first
