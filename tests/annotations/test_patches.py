"""Patch labels: the 5% overlap rule (4/5/6%), several classes, Ignore, pixels at the right mpp, the CSV."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
from shapely.geometry import box

from her2viewer.annotations.geojson import write_geojson
from her2viewer.annotations.model import Annotation
from her2viewer.annotations.patches import (
    CSV_COLUMNS,
    LabelRule,
    PatchLabeler,
    csv_label,
    export_patches,
    plan_patches,
)
from her2viewer.cli import main
from her2viewer.slide import ArraySlide
from her2viewer.slide.region import RegionMask


def _strip(cls: str, pct: float, x0: float = 0.0, y0: float = 0.0) -> Annotation:
    """An annotation covering exactly `pct` % of the 100 x 100 patch at (x0, y0)."""
    return Annotation.create(box(x0, y0, x0 + 100, y0 + pct), cls)


@pytest.mark.parametrize("pct,label", [(4, None), (5, "HER2 2+"), (6, "HER2 2+")])
def test_overlap_threshold_at_4_5_6_percent(pct, label):
    lab = PatchLabeler([_strip("HER2 2+", pct)]).label(0, 0, 100)
    assert lab.label == label and not lab.excluded
    assert lab.overlap == pytest.approx(pct / 100)


def test_threshold_is_configurable():
    lab = PatchLabeler([_strip("Tumour", 6)], LabelRule(min_overlap=0.10)).label(0, 0, 100)
    assert lab.label is None


def test_several_classes_largest_wins_ties_go_to_higher_her2():
    anns = [_strip("HER2 1+", 30), Annotation.create(box(0, 50, 100, 90), "HER2 3+"), _strip("Tumour", 100)]
    assert PatchLabeler(anns).label(0, 0, 100).label == "Tumour"  # 100% beats 40% and 30%
    tie = [_strip("HER2 1+", 20), Annotation.create(box(0, 50, 100, 70), "HER2 3+"),
           Annotation.create(box(0, 80, 100, 100), "HER2 2+")]
    assert PatchLabeler(tie).label(0, 0, 100).label == "HER2 3+"
    # two overlapping annotations of one class are not counted twice: 4% in all -> unlabelled
    same = [_strip("HER2 0", 4), _strip("HER2 0", 4)]
    assert PatchLabeler(same).label(0, 0, 100).label is None


@pytest.mark.parametrize("ignore_pct,excluded", [(4, False), (5, True)])
def test_ignore_excludes_at_threshold(ignore_pct, excluded):
    anns = [_strip("HER2 3+", 90, y0=10), _strip("Ignore", ignore_pct)]
    lab = PatchLabeler(anns).label(0, 0, 100)
    assert lab.excluded is excluded
    assert (lab.label is None) is excluded


def test_csv_label_maps_her2_classes_to_scores():
    assert [csv_label(c) for c in ("HER2 0", "HER2 1+", "her2 2+", "HER2 3+", "Tumour", None)] == \
        ["0", "1+", "2+", "3+", "Tumour", ""]


def _gradient_slide(mpp: float = 0.25) -> ArraySlide:
    h, w = 1200, 1600
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (np.arange(w) * 255 // w)[None, :]
    img[..., 1] = (np.arange(h) * 255 // h)[:, None]
    img[..., 2] = 128
    return ArraySlide(img, mpp=mpp, name="case_9.tiff")


def test_export_writes_patches_at_the_requested_mpp_and_the_csv(tmp_path):
    src = _gradient_slide()  # 0.25 um/px: a 224 px patch at 0.5 um/px covers 448 level-0 px
    anns = [Annotation.create(box(0, 0, 448, 448), "HER2 2+"), Annotation.create(box(448, 0, 470, 448), "Tumour"),
            Annotation.create(box(896, 448, 1344, 896), "Ignore"), Annotation.create(box(900, 0, 1300, 440), "HER2 0")]
    res = export_patches(src, anns, tmp_path, size=224, mpp=0.5, patient_id="P7")
    rows = list(csv.DictReader(open(res.csv_path)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    got = {(r["x"], r["y"]): r for r in rows}
    # (0,0): fully 2+; (448,0): Tumour covers 22/448 = 4.9% -> unlabelled, not written; (896,0): HER2 0 ~ 88%;
    # (896,448): Ignore -> excluded
    assert set(got) == {("0", "0"), ("896", "0")}
    r = got[("0", "0")]
    assert (r["label"], r["patient_id"], r["slide"], r["size"], r["mpp"]) == ("2+", "P7", "case_9", "224", "0.5")
    assert float(r["overlap"]) == 1.0 and got[("896", "0")]["label"] == "0"
    img = cv2.imread(str(tmp_path / r["path"]))[..., ::-1]
    assert img.shape == (224, 224, 3)
    expected = src.read_region(0, 0, 0, 448, 448)[::2, ::2].astype(int)
    assert np.abs(img.astype(int) - expected).mean() < 3
    # append keeps other slides' rows, replaces this slide's
    other = [{**rows[0], "slide": "other", "path": "x.png"}]
    with open(res.csv_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
        w.writeheader()
        w.writerows(other + rows)
    export_patches(src, anns, tmp_path, size=224, mpp=0.5, append=True)
    slides = [r["slide"] for r in csv.DictReader(open(res.csv_path))]
    assert slides.count("other") == 1 and slides.count("case_9") == 2


def test_tissue_filter_and_unlabelled():
    lab = PatchLabeler([Annotation.create(box(0, 0, 400, 400), "Tumour")])
    tissue = RegionMask(np.array([[True, False], [False, False]]), (0.0, 0.0), 200.0)
    plans = plan_patches((400, 400), lab, l0_size=100, tissue=tissue, min_tissue=0.5)
    assert {(p.l0_x, p.l0_y) for p in plans} == {(0, 0), (100, 0), (0, 100), (100, 100)}
    lab2 = PatchLabeler([Annotation.create(box(0, 0, 100, 100), "Tumour")])
    all_plans = plan_patches((400, 400), lab2, l0_size=100, include_unlabelled=True)
    assert len(all_plans) == 16 and sum(p.label is not None for p in all_plans) == 1


def test_no_mpp_uses_the_resolved_pixel_size(tmp_path):
    """A slide without a pixel size is not refused: the scorers' value (here assumed: a blank image has no
    nuclei to estimate it from) sizes the patches, and the source says where it came from."""
    src = ArraySlide(np.full((600, 600, 3), 200, np.uint8))
    res = export_patches(src, [Annotation.create(box(0, 0, 600, 600), "HER2 2+")], tmp_path, size=100, mpp=1.0)
    assert src.mpp_source == "assumed" and src.mpp == pytest.approx(0.5)
    assert len(res.rows) == 9          # 100 px at 1 um/px = 200 level-0 px at 0.5 um/px: 3 x 3 patches


def test_patches_accepts_the_synth_commands_own_cores(tmp_path, capsys):
    """`her2viewer synth` writes the pixel size into its PNGs, so `patches` cuts them at the right scale."""
    data = tmp_path / "syn"
    assert main(["synth", str(data), "--cores", "1", "--seed", "3", "--diameter", "600", "--mpp", "0.25"]) == 0
    core = next((data / "cores").glob("*.png"))
    ann = tmp_path / "a.geojson"
    write_geojson(ann, [Annotation.create(box(0, 0, 600, 600), "HER2 1+")])
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["patches", str(core), "--annotations", str(ann), "--size", "100", "--mpp", "0.5",
                 "--out", str(out)]) == 0
    assert "no pixel size" not in capsys.readouterr().err
    rows = list(csv.DictReader(open(out / "labels.csv")))
    assert len(rows) == 9     # 100 px at 0.5 um/px = 200 px at 0.25 um/px: 3 x 3 patches of the 600 px box


def test_patches_command(tmp_path, capsys):
    img = np.full((600, 800, 3), 235, np.uint8)
    img[100:500, 100:700] = (120, 80, 60)
    slide = tmp_path / "core.png"
    cv2.imwrite(str(slide), img)
    ann = tmp_path / "a.geojson"
    write_geojson(ann, [Annotation.create(box(100, 100, 700, 500), "HER2 1+")])
    out = tmp_path / "out"
    rc = main(["patches", str(slide), "--annotations", str(ann), "--size", "100", "--mpp", "1.0",
               "--slide-mpp", "0.5", "--out", str(out), "--tissue-only"])
    assert rc == 0, capsys.readouterr().err
    rows = list(csv.DictReader(open(out / "labels.csv")))
    assert rows and {r["label"] for r in rows} == {"1+"}
    assert all((out / r["path"]).is_file() for r in rows)
    bad = tmp_path / "bad.geojson"
    bad.write_text("{nope")
    rc = main(["patches", str(slide), "--annotations", str(bad), "--out", str(out)])
    assert rc != 0 and str(bad) in capsys.readouterr().err
