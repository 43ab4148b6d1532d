"""`her2viewer score --annotations`: score inside a named annotation, or the tissue minus Ignore annotations."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import shapely

from her2viewer.cli import main
from her2viewer.slide import open_slide
from her2viewer.slide.region import Region
from her2viewer.synth.core import generate_core
from her2viewer.tissue.regions import exclude_area, regions_for

INVASIVE = (60, 60, 420, 820)      # x0, y0, x1, y1 (level-0 px) of the "invasive" Tumour annotation
IGNORE = (440, 0, 880, 880)        # the Ignore box: the right half of the core image


def _feature(fid: str, box: tuple[int, int, int, int], cls: str, name: str = "") -> dict:
    x0, y0, x1, y1 = box
    props = {"objectType": "annotation", "classification": {"name": cls, "color": [200, 0, 0]}}
    if name:
        props["name"] = name
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Feature", "id": fid, "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": props}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_ann")
    core = generate_core("2+", 0, diameter_px=800)
    cv2.imwrite(str(d / "core.png"), cv2.cvtColor(core.image, cv2.COLOR_RGB2BGR))
    doc = {"type": "FeatureCollection", "features": [
        _feature("tumour-1", INVASIVE, "Tumour", "invasive"),
        _feature("ignore-1", IGNORE, "Ignore"),
    ]}
    (d / "ann.geojson").write_text(json.dumps(doc))
    (d / "bad.geojson").write_text('{"type": "FeatureCollection", "features": [{"type": "Feature"')
    return d


def _score(args, capsys):
    rc = main(["score", *args, "--method", "rules", "--json", "-"])
    out = capsys.readouterr()
    return rc, (json.loads(out.out) if rc == 0 else None), out.err


def _cells(doc) -> tuple[np.ndarray, np.ndarray]:
    cells = doc["evidence"]["cells"]
    return np.asarray(cells["x"], float), np.asarray(cells["y"], float)


def _inside(xs, ys, box, margin=0.0):
    x0, y0, x1, y1 = box
    return (xs >= x0 - margin) & (xs <= x1 + margin) & (ys >= y0 - margin) & (ys <= y1 + margin)


def test_within_a_named_annotation_scores_only_inside_it(files, capsys):
    rc, doc, err = _score([str(files / "core.png"), "--annotations", str(files / "ann.geojson"),
                           "--within", "invasive"], capsys)
    assert rc == 0, err
    assert doc["params"]["within"] == "invasive" and doc["params"]["scope"] == "region"
    xs, ys = _cells(doc)
    assert len(xs) > 20
    assert _inside(xs, ys, INVASIVE, margin=1.0).all()
    # the whole core has cells outside the annotation too: the annotation really limited the scoring
    rc, whole, _ = _score([str(files / "core.png")], capsys)
    wx, wy = _cells(whole)
    assert (~_inside(wx, wy, INVASIVE, margin=1.0)).sum() > 20


def test_within_matches_an_id_when_no_name_does(files, capsys):
    rc, doc, err = _score([str(files / "core.png"), "--annotations", str(files / "ann.geojson"),
                           "--within", "tumour-1", "--keep-ignore"], capsys)
    assert rc == 0, err
    assert doc["params"]["within"] == "invasive" and doc["params"]["ignore_excluded"] == 0
    xs, ys = _cells(doc)
    assert len(xs) > 20 and _inside(xs, ys, INVASIVE, margin=1.0).all()


def test_ignore_annotations_are_cut_out_by_default_and_kept_on_request(files, capsys):
    args = [str(files / "core.png"), "--annotations", str(files / "ann.geojson")]
    rc, doc, err = _score(args, capsys)
    assert rc == 0, err
    assert doc["params"]["ignore_excluded"] == 1 and doc["params"]["excluded"] is True
    xs, ys = _cells(doc)
    assert len(xs) > 20
    assert not _inside(xs, ys, IGNORE, margin=-1.0).any()
    rc, kept, err = _score([*args, "--keep-ignore"], capsys)
    assert rc == 0, err
    kx, ky = _cells(kept)
    assert _inside(kx, ky, IGNORE, margin=-1.0).sum() > 20


def test_an_unknown_name_fails_with_one_line_listing_the_names(files, capsys):
    rc, _, err = _score([str(files / "core.png"), "--annotations", str(files / "ann.geojson"),
                         "--within", "nosuch"], capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "nosuch" in lines[0] and "'invasive'" in lines[0] and "ann.geojson" in lines[0]


def test_an_unreadable_annotation_file_fails_with_one_line_naming_it(files, capsys):
    rc, _, err = _score([str(files / "core.png"), "--annotations", str(files / "bad.geojson")], capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "bad.geojson" in lines[0]
    rc, _, err = _score([str(files / "core.png"), "--within", "invasive"], capsys)
    assert rc == 2 and "--annotations" in err


def test_cores_keep_their_ids_and_lose_the_excluded_area(files):
    with open_slide(files / "core.png") as source:
        kind, cores = regions_for(source, "cores")
        kind_x, cut = regions_for(source, "cores", exclude=shapely.box(*IGNORE))
    assert kind == kind_x == "tma" and [r.id for r in cut] == [r.id for r in cores]
    before, after = cores[0].mask, cut[0].mask
    assert 0 < after.mask.sum() < before.mask.sum()
    assert (after.l0_points()[:, 0] < IGNORE[0]).all()
    assert (before.l0_points()[:, 0] > IGNORE[0]).any()


def test_exclude_area_gives_a_maskless_region_a_mask_and_drops_a_region_wholly_excluded():
    region = Region((0, 0, 100, 100), None, "box")
    half = exclude_area(region, shapely.box(50, 0, 100, 100))
    assert half is not None and half.mask is not None and half.id == "box"
    assert half.mask.mask[:, :50].all() and not half.mask.mask[:, 50:].any()
    assert exclude_area(region, shapely.box(-10, -10, 200, 200)) is None
    assert exclude_area(region, shapely.box(200, 200, 300, 300)) is region
