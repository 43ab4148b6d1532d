"""Regression: pale synthetic cores (stroma ~5 grey levels above glass) must not fall apart into fragments.

Before the fix, `dearray()` with defaults split the cores of a generated 3 x 4 TMA into halves with wrong
grid labels, and the `tissue` command cut some cores to half their size.
"""

from __future__ import annotations

import pytest

from her2viewer.commands.tissue import tissue_report
from her2viewer.tissue.tma import dearray

slides = pytest.importorskip("her2viewer.synth.slides")
slide_pkg = pytest.importorskip("her2viewer.slide")

DIAMETER = 2000          # big enough to reproduce the fragmentation (checked against the old code)
TOL = 0.08


@pytest.fixture(scope="module")
def generated_tma(tmp_path_factory):
    path = tmp_path_factory.mktemp("pale_tma") / "tma.tiff"
    records = slides.write_tma_slide(path, seed=1, rows=3, cols=4, diameter_px=DIAMETER, n_missing=1)
    assert len(records) == 11
    with slide_pkg.open_slide(path) as source:
        yield source, {r["core_id"]: r["bbox"] for r in records}


def _check(found: dict[str, list[int]], truth: dict[str, list[int]]) -> None:
    assert sorted(found) == sorted(truth)
    for cid, (tx, ty, tw, th) in truth.items():
        x, y, w, h = found[cid]
        for got, want in ((x, tx), (y, ty), (x + w, tx + tw), (y + h, ty + th)):
            assert abs(got - want) <= TOL * DIAMETER, (cid, found[cid], truth[cid])
        assert abs(w - tw) <= TOL * tw and abs(h - th) <= TOL * th, (cid, found[cid], truth[cid])


def test_dearray_defaults_find_whole_pale_cores(generated_tma):
    source, truth = generated_tma
    cores = dearray(source)
    _check({c.id: list(c.l0_bbox) for c in cores}, truth)
    for c in cores:
        assert (c.row, c.col) == ("ABC".index(c.id[0]), int(c.id[1:]) - 1)


def test_tissue_command_finds_whole_pale_cores(generated_tma):
    source, truth = generated_tma
    rep = tissue_report(source)
    assert rep["tma"] is True
    _check({c["id"]: c["bbox"] for c in rep["cores"]}, truth)
