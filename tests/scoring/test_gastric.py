"""The gastro-oesophageal HER2 decision (ASCO/CAP/ASCP 2016): resection and biopsy tables, lateral and
basolateral staining counting as complete, and the criteria reaching the result, the CLI and the report."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from her2viewer.cli import main
from her2viewer.scoring.asco import asco_cap_from_cells
from her2viewer.scoring.gastric import gastric_score, largest_cluster
from her2viewer.synth.core import generate_core


def cells(n_total: int, patterns: list[tuple[int, int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """n_total cells; `patterns` = (count, intensity class, completeness) for the stained ones."""
    inten, comp = [], []
    for count, k, c in patterns:
        inten += [k] * count
        comp += [c] * count
    rest = n_total - len(inten)
    return np.array(inten + [0] * rest), np.array(comp + [0.0] * rest)


# (label, patterns among 100 cells, expected resection score)
RESECTION = [
    ("3+ strong complete in 10%", [(10, 3, 1.0)], "3+"),
    ("3+ strong lateral (half the ring) in 12%", [(12, 3, 0.5)], "3+"),
    ("0 strong in only 9% (no unusual-pattern rule)", [(9, 3, 1.0)], "0"),
    ("2+ moderate basolateral in 15%", [(15, 2, 0.7)], "2+"),
    ("2+ strong 5% + moderate 5% complete", [(5, 3, 1.0), (5, 2, 1.0)], "2+"),
    ("1+ faint partial in 10%", [(10, 1, 0.2)], "1+"),
    ("1+ moderate but only a sliver (not lateral)", [(20, 2, 0.2)], "1+"),
    ("0 faint in 9%", [(9, 1, 0.3)], "0"),
    ("0 none", [], "0"),
]


@pytest.mark.parametrize("what, patterns, expected", RESECTION, ids=[r[0] for r in RESECTION])
def test_resection_table(what, patterns, expected):
    inten, comp = cells(100, patterns)
    assert gastric_score(inten, comp, "resection").score == expected


def test_breast_and_gastric_differ_where_the_guidelines_do():
    # strong lateral staining in 30%: breast calls it incomplete (2+ unusual pattern), gastric 3+
    inten, comp = cells(100, [(30, 3, 0.5)])
    breast, _ = asco_cap_from_cells(inten, comp >= 0.9)
    assert breast.score == "2+" and gastric_score(inten, comp).score == "3+"
    # exactly 10%: breast needs > 10%, gastric >= 10%
    inten, comp = cells(100, [(10, 3, 1.0)])
    assert asco_cap_from_cells(inten, comp >= 0.9)[0].score == "2+"     # <= 10%: equivocal in breast
    assert gastric_score(inten, comp).score == "3+"


def _grid(n: int, spacing: float, origin: float = 0.0) -> np.ndarray:
    side = int(np.ceil(np.sqrt(n)))
    return np.array([(origin + spacing * (i % side), origin + spacing * (i // side)) for i in range(n)], float)


def test_biopsy_needs_a_cohesive_cluster_of_five():
    # 5 strongly stained cells together among 500: 3+ in a biopsy although they are 1%
    xy = np.concatenate([_grid(5, 15.0), _grid(495, 15.0, origin=2000.0)])
    inten = np.array([3] * 5 + [0] * 495)
    comp = np.array([1.0] * 5 + [0.0] * 495)
    assert gastric_score(inten, comp, "biopsy", xy).score == "3+"
    assert gastric_score(inten, comp, "resection").score == "0"
    # the same 5 cells scattered far apart are no cluster
    scattered = xy.copy()
    scattered[:5] = [(0, 0), (500, 0), (0, 500), (500, 500), (1000, 1000)]
    assert gastric_score(inten, comp, "biopsy", scattered).score == "0"
    # 4 together is one short
    assert gastric_score(np.array([2] * 4 + [0] * 495), np.array([1.0] * 4 + [0.0] * 495), "biopsy",
                         np.concatenate([_grid(4, 15.0), _grid(495, 15.0, 2000.0)])).score == "0"
    assert largest_cluster(_grid(9, 15.0), 25.0) == 9 and largest_cluster(_grid(9, 30.0), 25.0) == 1
    with pytest.raises(ValueError, match="positions"):
        gastric_score(inten, comp, "biopsy")
    with pytest.raises(ValueError, match="specimen"):
        gastric_score(inten, comp, "autopsy")


def test_criteria_reach_the_result_and_the_report(tmp_path, capsys):
    img = generate_core("3+", seed=4, diameter_px=800, mpp=0.5).image
    core = tmp_path / "core.png"
    cv2.imwrite(str(core), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    out = tmp_path / "r.json"
    assert main(["score", str(core), "--mpp", "0.5", "--criteria", "gastric", "--specimen", "biopsy",
                 "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["params"]["criteria"] == "gastric" and d["params"]["specimen"] == "biopsy"
    assert d["cells"]["criteria"] == "gastric" and "biopsy" in d["explanation"]
    pdf = tmp_path / "r.pdf"
    assert main(["report", str(core), "--result", str(out), "--out", str(pdf)]) == 0
    from pypdf import PdfReader

    text = " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(str(pdf)).pages)
    assert "ASCO/CAP/ASCP 2016 (gastro-oesophageal adenocarcinoma), biopsy" in text
    assert main(["score", str(core), "--mpp", "0.5", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["params"]["criteria"] == "breast"
