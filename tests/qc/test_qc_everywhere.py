"""The input checks reach every consumer: `info` and `report` take `--mpp` and say where the pixel size came
from, the report has an Input checks section and no score for a not-assessable image, every scoring method
refuses H&E, and the slide's own stain vectors reach the viewer's stain views."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from pypdf import PdfReader

from her2viewer.cli import main
from her2viewer.qc.stain_type import slide_stains
from her2viewer.slide import ArraySlide
from her2viewer.stain import DEFAULT_HDAB, StainMatrix, compose, credible_stains
from her2viewer.synth.core import generate_core

METHODS = ("pss", "rules", "mil", "lowres", "patch")


def _text(pdf) -> str:
    return " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(str(pdf)).pages)


@pytest.fixture(scope="module")
def core_png(tmp_path_factory):
    """A synthetic IHC core saved without a pixel size (cv2 writes no pHYs)."""
    d = tmp_path_factory.mktemp("qc_everywhere")
    core = generate_core("3+", seed=5, diameter_px=900, mpp=0.5)
    path = d / "core.png"
    cv2.imwrite(str(path), cv2.cvtColor(core.image, cv2.COLOR_RGB2BGR))
    return path


def test_info_resolves_the_pixel_size_with_its_source(core_png, capsys):
    assert main(["info", str(core_png), "--indent", "0"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["mpp_source"] == "estimated" and 0.3 < info["mpp"] < 0.8 and info["mpp_uncertainty"] > 0
    assert main(["info", str(core_png), "--mpp", "0.25", "--indent", "0"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["mpp"] == 0.25 and info["mpp_source"] == "user"
    assert main(["info", str(core_png), "--no-estimate", "--indent", "0"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["mpp"] is None and info["mpp_source"] is None
    assert main(["info", str(core_png), "--mpp", "0"]) == 2
    assert "--mpp" in capsys.readouterr().err


def test_report_shows_the_input_checks_and_a_user_pixel_size(core_png, tmp_path, capsys):
    out = tmp_path / "r.pdf"
    assert main(["report", str(core_png), "--out", str(out), "--mpp", "0.5"]) == 0, capsys.readouterr().err
    text = _text(out)
    for needle in ("Input checks", "HER2 DAB immunohistochemistry", "0.5 um/px, user", "Tumour cells",
                   "0.5 um/px (set by the user)"):
        assert needle in text, needle
    out2 = tmp_path / "r2.pdf"
    assert main(["report", str(core_png), "--out", str(out2)]) == 0
    assert "ESTIMATED from the image" in _text(out2)


def test_report_of_a_not_assessable_image_has_no_score(tmp_path, capsys):
    glass = tmp_path / "glass.png"
    cv2.imwrite(str(glass), np.full((500, 500, 3), 242, np.uint8))
    res = tmp_path / "r.json"
    assert main(["score", str(glass), "--method", "rules", "--json", str(res)]) == 3
    out = tmp_path / "r.pdf"
    assert main(["report", str(glass), "--result", str(res), "--out", str(out)]) == 0, capsys.readouterr().err
    text = _text(out)
    assert "NOT ASSESSABLE" in text and "no tissue" in text and "HER2 None" not in text
    assert "Class probabilities" not in text


@pytest.mark.parametrize("method", METHODS)
def test_every_method_refuses_he(shared_data, method, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["score", str(shared_data / "wsi" / "CMU-1-Small-Region.svs"), "--method", method,
               "--json", str(out)])
    d = json.loads(out.read_text())
    assert rc == 3 and d["score"] is None and d["score3"] is None and d["qc"]["stain"] == "he"
    assert "H&E" in capsys.readouterr().err


def test_slide_stains_recover_a_labs_haematoxylin_and_fall_back_on_glass():
    bluer = np.array([0.55, 0.75, 0.37])
    rng = np.random.default_rng(0)
    h = np.zeros((800, 800), np.float32)
    for _ in range(900):
        cv2.circle(h, tuple(int(v) for v in rng.integers(0, 800, 2)), int(rng.integers(4, 8)), 0.7, -1)
    d = np.clip(rng.normal(0.15, 0.1, (800, 800)), 0, None).astype(np.float32)
    lab = StainMatrix.from_vectors(bluer, DEFAULT_HDAB[1])
    img = compose(np.stack([h + 0.05, d], -1), lab)
    got = slide_stains(ArraySlide(img, mpp=0.5))
    unit = bluer / np.linalg.norm(bluer)
    assert np.allclose(got.vectors[0], unit, atol=0.01)     # the lab's haematoxylin, not Ruifrok's
    assert not np.allclose(got.vectors[0], StainMatrix.default().vectors[0], atol=0.05)
    glass = slide_stains(ArraySlide(np.full((600, 600, 3), 240, np.uint8), mpp=0.5))
    assert np.allclose(glass.vectors, StainMatrix.default().vectors)
    with pytest.raises(ValueError, match="unknown stain estimation"):
        credible_stains(img, "guess")


def test_stain_views_use_the_slides_vectors_and_rgb_stays_identity(qtbot):
    from her2viewer.ui.viewer.display import DisplaySettings
    from her2viewer.ui.viewer.slide_tab import SlideTab

    src = ArraySlide(np.full((400, 400, 3), 200, np.uint8), mpp=0.5)
    src.stain_vectors = StainMatrix.from_vectors(np.array([0.55, 0.75, 0.37]), DEFAULT_HDAB[1])
    tab = SlideTab(src)
    qtbot.addWidget(tab)
    tab.set_display(DisplaySettings(stain="dab"))
    assert tab.display.stains is src.stain_vectors
    tab.set_display(DisplaySettings())
    assert tab.display.is_identity          # the vectors do not slow the plain RGB view


def test_min_tumour_cells_is_configurable(core_png, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["score", str(core_png), "--method", "rules", "--mpp", "0.5", "--json", str(out)]) == 0
    n = json.loads(out.read_text())["qc"]["tumour_cells"]
    assert n > 50
    rc = main(["score", str(core_png), "--method", "rules", "--mpp", "0.5", "--min-tumour-cells", str(n + 1),
               "--json", str(out)])
    d = json.loads(out.read_text())
    assert rc == 3 and d["score"] is None and d["qc"]["tumour_cells"] == n
    assert any("tumour cells" in m for m in d["qc"]["messages"]) and d["cells"]   # measured cells are kept
    assert "tumour cells" in capsys.readouterr().err
