"""Input checks: pixel size with provenance and its estimate, stain type, focus, tissue, tumour cells, and
the `qc` object / null scores in the result contract and the `score` command."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from her2viewer.cli import main
from her2viewer.qc import QCReport, resolve_pixel_size, run_qc
from her2viewer.qc.checks import check_tumour_cells, pixel_size_message
from her2viewer.qc.exposure import exposure_finding, white_point
from her2viewer.qc.focus import focus_check, sharpness
from her2viewer.qc.pixel_size import ASSUMED_MPP, PixelSize, estimate_mpp
from her2viewer.qc.stain_type import EOSIN, HEMATOXYLIN, classify_stain
from her2viewer.scoring.base import ScoreOptions
from her2viewer.scoring.driver import score_slide
from her2viewer.scoring.result import ContractError, ScoreResult, validate_contract
from her2viewer.slide import ArraySlide
from her2viewer.stain import StainMatrix, compose
from her2viewer.synth.core import generate_core
from her2viewer.tissue.regions import regions_for


@pytest.fixture(scope="module")
def cores():
    """Synthetic IHC cores of the same tissue design at two pixel sizes."""
    return {mpp: generate_core("2+", seed=11, diameter_px=int(600 / mpp), mpp=mpp).image for mpp in (0.5, 1.0)}


def _he_image(seed: int = 0) -> np.ndarray:
    """An H&E-like image: haematoxylin nuclei on eosin-pink cytoplasm and stroma."""
    rng = np.random.default_rng(seed)
    h = np.zeros((600, 600), np.float32)
    e = np.full((600, 600), 0.35, np.float32) + rng.normal(0, 0.05, (600, 600)).astype(np.float32)
    for _ in range(250):
        cv2.circle(h, tuple(int(v) for v in rng.integers(0, 600, 2)), int(rng.integers(5, 9)), 0.6, -1)
    he = StainMatrix.from_vectors(HEMATOXYLIN, EOSIN)
    return compose(np.stack([h, np.clip(e, 0, None)], -1), he)


# -- pixel size ---------------------------------------------------------------------------------------

def test_pixel_size_provenance_user_over_file():
    src = ArraySlide(np.full((64, 64, 3), 200, np.uint8), mpp=0.25)
    assert (src.mpp, src.mpp_source, src.file_mpp) == (0.25, "file", 0.25)
    ps = resolve_pixel_size(src, 0.5)
    assert (ps.mpp, ps.source) == (0.5, "user") and (src.mpp, src.mpp_source, src.file_mpp) == (0.5, "user", 0.25)
    src.set_pixel_size(None)
    assert (src.mpp, src.mpp_source) == (0.25, "file")
    with pytest.raises(ValueError):
        src.set_pixel_size(0.5, "guessed")
    with pytest.raises(ValueError):
        resolve_pixel_size(src, float("nan"))


def test_estimate_follows_the_rendered_pixel_size(cores):
    e05 = estimate_mpp(ArraySlide(cores[0.5]))
    e10 = estimate_mpp(ArraySlide(cores[1.0]))
    assert e05 is not None and e10 is not None
    assert 0.1 <= e05.mpp <= 2.0 and 0 < e05.rel_uncertainty < 1
    assert abs(e05.mpp / 0.5 - 1) < 0.35
    # twice the pixel size reads clearly coarser (the benchmark measures the +-20% criterion)
    assert 1.4 < e10.mpp / e05.mpp < 2.6


def test_estimate_used_everywhere_and_assumed_as_last_resort(cores):
    src = ArraySlide(cores[0.5])
    ps = resolve_pixel_size(src)
    assert ps.source == "estimated" and src.mpp == ps.mpp and src.mpp_source == "estimated"
    assert src.mpp_uncertainty == ps.rel_uncertainty
    glass = ArraySlide(np.full((800, 800, 3), 243, np.uint8))
    ps = resolve_pixel_size(glass)
    assert (ps.source, ps.mpp, glass.mpp_source) == ("assumed", ASSUMED_MPP, "assumed")


# -- stain, focus, tissue, tumour cells ---------------------------------------------------------------

def test_stain_type_ihc_he_and_one_colour(cores):
    assert classify_stain([cores[0.5]]).stain == "dab_ihc"
    he = classify_stain([_he_image()])
    assert he.stain == "he" and he.shares["eosin"] > 0.2
    assert "H&E" in he.findings()[0][1]
    one = classify_stain([np.full((300, 300, 3), (150, 90, 60), np.uint8)])
    assert one.stain == "unknown" and "single colour" in one.reason


@pytest.mark.parametrize("gains", [(1.0, 0.92, 1.0), (1.0, 0.88, 1.0), (0.9, 1.0, 1.0), (1.0, 0.95, 0.88)])
def test_a_scanner_colour_cast_is_not_read_as_eosin(cores, gains):
    # a pink, cyan or warm tint of the whole scan (glass included) once turned DAB IHC into "H&E"
    def tint(rgb: np.ndarray) -> np.ndarray:
        return np.clip(rgb * np.array(gains), 0, 255).astype(np.uint8)

    ihc = classify_stain([tint(cores[0.5])])
    assert ihc.stain == "dab_ihc" and ihc.shares["eosin"] < 0.01
    he = classify_stain([tint(_he_image())])
    assert he.stain == "he" and he.shares["eosin"] > 0.2


def test_black_padding_changes_neither_the_pixel_size_estimate_nor_the_stain(cores):
    # exports of a slide's edge carry black where the scanner imaged nothing
    padded = cores[0.5].copy()
    padded[:, :300] = 0
    padded[:250] = 3
    plain, black = estimate_mpp(ArraySlide(cores[0.5])), estimate_mpp(ArraySlide(padded))
    assert plain is not None and black is not None
    assert abs(black.mpp / plain.mpp - 1) < 0.1
    assert classify_stain([padded]).stain == "dab_ihc"


@pytest.mark.parametrize("chromogen", [(0.2743, 0.6796, 0.6803), (0.214, 0.851, 0.478)], ids=["AEC", "Fast Red"])
def test_a_red_chromogen_is_not_dab(chromogen):
    rng = np.random.default_rng(1)
    h = np.zeros((400, 400), np.float32)
    red = np.clip(0.5 + rng.normal(0, 0.1, h.shape), 0, None).astype(np.float32)
    for _ in range(120):
        cv2.circle(h, tuple(int(v) for v in rng.integers(0, 400, 2)), 6, 0.5, -1)
    img = compose(np.stack([h, red], -1), StainMatrix.from_vectors(HEMATOXYLIN, np.array(chromogen)))
    assert classify_stain([img]).stain != "dab_ihc"


def test_a_greyscale_image_is_not_scored_as_ihc(cores):
    grey = np.repeat(cv2.cvtColor(cores[0.5], cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    sc = classify_stain([grey])
    assert sc.stain == "unknown" and "greyscale" in sc.reason
    assert sc.findings()[0][0] == "not_assessable"


def test_stain_vectors_are_reported_for_ihc(cores):
    sc = classify_stain([cores[0.5]])
    v = sc.vectors_dict()
    assert set(v) == {"hematoxylin", "dab"} and all(len(x) == 3 for x in v.values())
    assert np.dot(v["dab"], StainMatrix.default().vectors[1]) > 0.85


def test_focus_drops_with_blur_and_fails_when_very_blurred(cores):
    img = cores[0.5]
    sharp = sharpness(img[300:812, 300:812], 0.5)
    blurred = sharpness(cv2.GaussianBlur(img, (0, 0), 6)[300:812, 300:812], 0.5)
    assert sharp > blurred
    assert focus_check([cv2.GaussianBlur(img, (0, 0), 10)[300:812, 300:812]], 0.5).findings()[0][0] == "not_assessable"
    assert focus_check([img[300:812, 300:812]], 0.5).findings() == []


def test_tumour_cell_thresholds():
    r = QCReport()
    check_tumour_cells(r, 5000)
    assert r.status == "ok" and r.tumour_cells == 5000
    r = QCReport()
    check_tumour_cells(r, 120)
    assert r.status == "warning" and "few tumour cells" in r.messages[0]
    r = QCReport()
    check_tumour_cells(r, 10)
    assert r.status == "not_assessable"
    r.force()
    assert r.status == "warning" and r.forced


def test_an_unusually_coarse_estimate_says_how_far_off_it_may_be():
    _, usual = pixel_size_message(PixelSize(0.9, "estimated", 0.15))
    _, coarse = pixel_size_message(PixelSize(1.9, "estimated", 0.3))
    _, fine = pixel_size_message(PixelSize(0.15, "estimated", 0.3))
    assert "check it" not in usual and "twice" not in usual
    assert "check it" in coarse and "about twice too coarse" in coarse
    assert "check it" in fine and "twice" not in fine
    assert pixel_size_message(PixelSize(1.9, "file")) is None


def test_run_qc_ok_on_ihc_with_a_file_pixel_size(cores):
    src = ArraySlide(cores[0.5], mpp=0.5)
    _, regions = regions_for(src, "slide")
    rep = run_qc(src, regions)
    d = rep.to_dict()
    assert d["status"] == "ok", d["messages"]
    assert d["stain"] == "dab_ihc" and d["mpp"] == 0.5 and d["mpp_source"] == "file"
    assert 0.2 < d["tissue_fraction"] <= 1.0 and "stain_vectors" in d


def test_a_scan_with_grey_glass_is_warned_about_and_a_well_exposed_one_is_not(cores):
    # 13 of the 24 BCI patches have glass and fat at RGB ~180: every stain reads ~0.15 OD darker
    bright = cores[0.5]
    grey = (bright.astype(np.float32) * (180.0 / 255.0)).astype(np.uint8)
    assert exposure_finding(bright) is None
    text = exposure_finding(grey)
    assert text is not None and "under-exposed" in text
    expected = white_point(bright) * 180.0 / 255.0
    assert np.abs(white_point(grey) - expected).max() <= 2.0
    assert "RGB " + ", ".join(str(int(round(v))) for v in white_point(grey)) in text
    src = ArraySlide(grey, mpp=0.5)
    _, regions = regions_for(src, "slide")
    d = run_qc(src, regions).to_dict()
    assert d["status"] == "warning" and any("under-exposed" in m for m in d["messages"])


# -- the driver and the contract ----------------------------------------------------------------------

@pytest.mark.parametrize("image, why", [
    (np.full((900, 900, 3), 244, np.uint8), "no tissue"),
    (np.full((900, 900, 3), (150, 100, 70), np.uint8), "single colour"),
])
def test_glass_and_one_colour_are_not_assessable(image, why):
    res = score_slide(ArraySlide(image, mpp=0.5), "rules", ScoreOptions())
    assert res.score is None and res.score3 is None and not res.assessable
    assert res.qc["status"] == "not_assessable" and any(why in m for m in res.qc["messages"])
    validate_contract(json.loads(res.to_json()))


def test_he_is_not_assessable_and_force_scores_it_with_the_warning():
    src = ArraySlide(_he_image(), mpp=0.5)
    res = score_slide(src, "rules", ScoreOptions())
    assert res.qc["stain"] == "he" and res.score is None
    forced = score_slide(src, "rules", ScoreOptions(force=True))
    assert forced.score is not None and forced.qc["status"] == "warning" and forced.qc["forced"]
    assert any("H&E" in m for m in forced.qc["messages"])


def test_qc_object_in_a_scored_result(cores):
    res = score_slide(ArraySlide(cores[0.5]), "rules", ScoreOptions())
    d = json.loads(res.to_json())
    validate_contract(d)
    assert d["score"] in ("0", "1+", "2+", "3+")
    qc = d["qc"]
    assert qc["stain"] == "dab_ihc" and qc["mpp_source"] == "estimated" and qc["tumour_cells"] > 50
    assert qc["status"] == "warning" and any("estimated" in m for m in qc["messages"])
    again = ScoreResult.from_dict(d)
    assert again.qc == qc


def test_contract_allows_null_scores_only_when_not_assessable():
    base = {"slide": "s", "method": "rules", "model": {"name": "m", "sha256": None}, "score": None,
            "score3": None, "probabilities": {}, "samples": [], "elapsed_s": 0.1,
            "qc": {"status": "not_assessable", "stain": "he", "mpp": 0.5, "mpp_source": "file",
                   "tissue_fraction": 0.3, "tumour_cells": None, "messages": ["H&E"]}}
    validate_contract(base)
    for status in ("ok", "warning"):
        bad = json.loads(json.dumps(base))
        bad["qc"]["status"] = status
        with pytest.raises(ContractError, match="null"):
            validate_contract(bad)
    bad = json.loads(json.dumps(base))
    bad["score"] = "2+"
    with pytest.raises(ContractError, match="must be null"):
        validate_contract(bad)
    bad = json.loads(json.dumps(base))
    bad["qc"]["stain"] = "pas"
    with pytest.raises(ContractError, match="qc.stain"):
        validate_contract(bad)


# -- the score command ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def images(tmp_path_factory, cores):
    d = tmp_path_factory.mktemp("qc_cli")
    cv2.imwrite(str(d / "glass.png"), np.full((600, 600, 3), 243, np.uint8))
    cv2.imwrite(str(d / "he.png"), cv2.cvtColor(_he_image(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(d / "core.png"), cv2.cvtColor(cores[1.0], cv2.COLOR_RGB2BGR))
    return d


def test_cli_exit_3_writes_the_json_with_null_scores(images, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["score", str(images / "glass.png"), "--method", "rules", "--json", str(out)])
    err = capsys.readouterr().err
    assert rc == 3 and "not assessable" in err and "glass.png" in err
    d = json.loads(out.read_text())
    assert d["score"] is None and d["qc"]["status"] == "not_assessable"


def test_cli_force_and_mpp(images, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["score", str(images / "he.png"), "--method", "rules", "--force", "--mpp", "0.5", "--json", str(out)])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["score"] is not None and d["qc"]["forced"] and d["qc"]["stain"] == "he"
    assert d["qc"]["mpp"] == 0.5 and d["qc"]["mpp_source"] == "user"
    rc = main(["score", str(images / "core.png"), "--method", "rules", "--mpp", "1.0", "--json", str(out)])
    d = json.loads(out.read_text())
    assert rc == 0 and d["qc"]["mpp_source"] == "user" and d["params"]["mpp"] == 1.0
    capsys.readouterr()
    assert main(["score", str(images / "core.png"), "--mpp", "-1"]) == 2
    assert "--mpp" in capsys.readouterr().err


# -- real images (skipped without ../shared) ------------------------------------------------------------

def test_real_ihc_is_dab_ihc(shared_data):
    import skimage.data

    files = sorted(p for p in (shared_data / "real_dev").iterdir() if p.suffix in (".png", ".jpg"))
    assert len(files) >= 20
    for p in files:
        rgb = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
        assert classify_stain([rgb]).stain == "dab_ihc", p.name
        pink = np.clip(rgb * np.array([1.0, 0.92, 1.0]), 0, 255).astype(np.uint8)  # another scanner's white
        assert classify_stain([pink]).stain == "dab_ihc", p.name
    assert classify_stain([skimage.data.immunohistochemistry()]).stain == "dab_ihc"


def test_a_green_pen_stroke_on_real_ihc_changes_neither_the_pixel_size_estimate_nor_the_stain(shared_data):
    # on a pale real patch the ink's OD took over the nuclei's threshold: no estimate, 43 tumour cells
    rgb = cv2.cvtColor(cv2.imread(str(shared_data / "real_dev" / "bci_00017_test_1+.jpg")), cv2.COLOR_BGR2RGB)
    inked = rgb.copy()
    cv2.line(inked, (50, 900), (980, 80), (40, 140, 60), 14)
    cv2.circle(inked, (300, 300), 120, (40, 140, 60), 10)
    plain, pen = estimate_mpp(ArraySlide(rgb)), estimate_mpp(ArraySlide(inked))
    assert plain is not None and pen is not None and abs(pen.mpp / plain.mpp - 1) < 0.1
    assert classify_stain([inked]).stain == "dab_ihc"


@pytest.mark.parametrize("name", ["CMU-1-Small-Region.svs", "tcga-cr-7395-01a-01-ts1.svs", "kidney-48-5.tif"])
def test_real_non_her2_slides_exit_3(shared_data, name, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["score", str(shared_data / "wsi" / name), "--method", "rules", "--json", str(out)])
    d = json.loads(out.read_text())
    assert rc == 3 and d["score"] is None and d["qc"]["status"] == "not_assessable"
    if name.endswith(".svs"):
        assert d["qc"]["stain"] == "he"
