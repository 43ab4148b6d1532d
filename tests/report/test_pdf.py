"""The PDF report: real text with the score, case fields and model sha256, an image, RUO on every page,
multi-page for a 40-core TMA, hostile text escaped, and the `report` command."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from pypdf import PdfReader

from her2viewer.cli import main
from her2viewer.report.model import CaseInfo, ReportInputError, ReviewInfo, case_from_source
from her2viewer.report.pdf import RUO_STATEMENT, build_report, write_report

from ._results import SHA, rules_result, tma_result, tma_slide


def _pages_text(path) -> list[str]:
    return [" ".join((p.extract_text() or "").split()) for p in PdfReader(str(path)).pages]


def _n_images(path) -> int:
    return sum(len(p.images) for p in PdfReader(str(path)).pages)


def test_tma_report_has_score_case_fields_sha_image_and_is_multipage(tmp_path):
    src = tma_slide()
    case = case_from_source(src, case_id="C-2024-017", patient_id="P-0042", specimen="Left breast core biopsy")
    review = ReviewInfo("2+", False, "Dr. Rivera", "2024-05-01T10:12:00", "Heterogeneous; ISH negative.")
    out = write_report(tmp_path / "r.pdf", tma_result(), source=src, case=case, review=review)
    pages = _pages_text(out)
    text = " ".join(pages)
    assert len(pages) >= 2
    for needle in ("HER2 3+", "3-way: High", "HER2 2+", "3-way: Low", "C-2024-017", "P-0042",
                   "Left breast core biopsy", "demo_tma.tiff", "0.5 um/px", SHA, "pss-densenet201", "1.2.0",
                   "Dr. Rivera", "2024-05-01T10:12:00", "Heterogeneous; ISH negative.", "TMA cores (40)"):
        assert needle in text, needle
    for core in ("A1", "C4", "E8"):  # the per-core table holds every core
        assert f" {core} " in text
    assert all(RUO_STATEMENT in p for p in pages)
    assert _n_images(out) >= 1


def test_long_core_table_repeats_its_header_across_pages(tmp_path):
    res = tma_result(rows=12, cols=10, core=30, gap=10)
    out = write_report(tmp_path / "big.pdf", res, source=tma_slide(rows=12, cols=10, core=30, gap=10))
    pages = _pages_text(out)
    assert len(pages) >= 3
    header = "Core Score 3-way P(0) P(1+) P(2+) P(3+) Conf."
    assert sum(header in p for p in pages) >= 3  # the 120-core table spans pages, header on each
    text = " ".join(pages)
    assert all(f" {r}{c} " in text for r in "ABCDEFGHIJKL" for c in range(1, 11))


def test_rules_report_shows_cell_percentages_against_10_percent(tmp_path):
    src = tma_slide(rows=1, cols=1, core=300, gap=40)
    out = write_report(tmp_path / "rules.pdf", rules_result(), source=src)
    text = " ".join(_pages_text(out))
    for needle in ("HER2 2+", "17.3%", "> 10%", "10% (ASCO/CAP)", "5,231 tumour cells", "asco-cap-rules",
                   "intense in only 3.1%", "Not reviewed", "none (no trained weights)",
                   # the cut-offs the cells were classed by
                   "Stain profile lab A, version 2: faint 0.07, moderate 0.2, strong 0.5, complete 0.5"):
        assert needle in text, needle
    assert SHA not in text


def test_hostile_review_text_is_escaped_not_interpreted():
    review = ReviewInfo("0", None, "<b>Eve</b> & co", "", 'Comment with <font size="90">markup</font> & ünïcödé')
    pdf = build_report(rules_result(), review=review, case=CaseInfo(case_id="<&>"))
    assert pdf.startswith(b"%PDF")
    import io

    text = " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "<b>Eve</b> & co" in text and '<font size="90">markup</font>' in text and "<&>" in text


def test_review_info_validation(tmp_path):
    assert ReviewInfo("2+", True).score3 == "High"
    with pytest.raises(ValueError, match="not one of"):
        ReviewInfo("4+")
    bad = tmp_path / "review.json"
    bad.write_text('{"score": "2+", "ish_positive": "maybe"}')
    with pytest.raises(ReportInputError, match=str(bad)):
        ReviewInfo.load(bad)


def test_report_command(tmp_path, capsys):
    img = np.full((300, 400, 3), 240, np.uint8)
    img[50:250, 60:340] = (140, 100, 80)
    slide = tmp_path / "case_17.png"
    cv2.imwrite(str(slide), img)
    result = tmp_path / "r.json"
    rules_result().save(result)
    review = tmp_path / "review.json"
    review.write_text(json.dumps({"score": "3+", "reviewer": "Dr. A", "time": "2024-06-01T09:00:00",
                                  "comment": "Strong complete staining."}))
    out = tmp_path / "report.pdf"
    rc = main(["report", str(slide), "--result", str(result), "--review", str(review), "--out", str(out),
               "--case-id", "C-9", "--patient-id", "P-1", "--specimen", "Resection"])
    assert rc == 0, capsys.readouterr().err
    text = " ".join(_pages_text(out))
    for needle in ("C-9", "P-1", "Resection", "case_17.png", "Dr. A", "HER2 3+", "HER2 2+"):
        assert needle in text, needle
    assert _n_images(out) >= 2   # the thumbnail and at least one evidence field (from the heatmap)
    broken = tmp_path / "broken.json"
    broken.write_text('{"score": "5+"}')
    rc = main(["report", str(slide), "--result", str(broken), "--out", str(tmp_path / "x.pdf")])
    err = capsys.readouterr().err
    assert rc != 0 and str(broken) in err and not (tmp_path / "x.pdf").exists()


def test_report_command_scores_first_without_result(tmp_path, capsys):
    pytest.importorskip("her2viewer.scoring.driver")
    from her2viewer.synth.core import generate_core

    core = generate_core("3+", 1, diameter_px=600, mpp=0.5)
    slide = tmp_path / "core.png"
    cv2.imwrite(str(slide), cv2.cvtColor(core.image, cv2.COLOR_RGB2BGR))
    out = tmp_path / "auto.pdf"
    assert main(["report", str(slide), "--out", str(out)]) == 0, capsys.readouterr().err
    text = " ".join(_pages_text(out))
    assert "rules" in text and "Cell percentages" in text


def test_overlays_are_cut_to_the_slide():
    from her2viewer.report.thumbnail import _clamp

    assert _clamp((400, 480, 300, 100), (512, 512)) == (400, 480, 112, 32)
    assert _clamp((600, 0, 10, 10), (512, 512))[2] <= 0


def test_multi_patient_tma_report_has_per_core_patients_and_no_slide_call(tmp_path):
    result = tma_result()
    ids = [c.id for c in result.cores]
    tma_map = tmp_path / "map.csv"
    tma_map.write_text("core_id,patient_id\n" + "".join(f"{c},PAT-{i % 3}\n" for i, c in enumerate(ids)))
    (tmp_path / "r.json").write_text(result.to_json())
    src = tma_slide()
    from her2viewer.slide.writer import write_pyramidal_tiff

    slide = write_pyramidal_tiff(tmp_path / "tma.tif", src.read_region(0, 0, 0, *src.dimensions), mpp=0.5)
    out = tmp_path / "r.pdf"
    assert main(["report", str(slide), "--result", str(tmp_path / "r.json"), "--tma-map", str(tma_map),
                 "--out", str(out)]) == 0
    text = " ".join(_pages_text(out))
    assert "Multi-patient TMA" in text and "3 patients" in text
    assert "HER2 3+" not in text.split("TMA cores")[0]          # no slide-level call above the core table
    head = text.split("TMA cores")[0]
    # nor pooled class probabilities, cell percentages or a slide-level reason mixing the patients
    assert "Class probabilities" not in head and "Cell percentages" not in head and "Why:" not in head
    assert "per core: the Reviewed column" in text                  # the sign-off is per core
    if any(c.score == "2+" for c in result.cores):
        assert "reflex ISH is required" in text                     # 2+ cores: 3-way Low only if ISH negative
    assert f"{ids[0]} PAT-0" in text and f"{ids[1]} PAT-1" in text
    # a TMA map that names no patient column is refused, naming the file
    bad = tmp_path / "bad.csv"
    bad.write_text("core,score\nA1,2+\n")
    assert main(["report", str(slide), "--result", str(tmp_path / "r.json"), "--tma-map", str(bad),
                 "--out", str(out)]) == 2


def test_cli_report_prints_the_reviews_stored_in_the_project(tmp_path):
    from her2viewer.project import ProjectDB
    from her2viewer.slide.writer import write_pyramidal_tiff

    result = tma_result()
    (tmp_path / "r.json").write_text(result.to_json())
    src = tma_slide()
    slide = write_pyramidal_tiff(tmp_path / "tma.tif", src.read_region(0, 0, 0, *src.dimensions), mpp=0.5)
    ids = [c.id for c in result.cores]
    with ProjectDB.open(tmp_path / "proj") as db:
        db.save_review(slide, "0", core_id=ids[0], reviewer="Dr. Okafor")
        db.save_review(slide, "3+", core_id=ids[1], reviewer="Dr. Okafor")
    out = tmp_path / "r.pdf"
    args = ["report", str(slide), "--result", str(tmp_path / "r.json"), "--out", str(out)]
    assert main([*args, "--project", str(tmp_path / "proj")]) == 0
    text = " ".join(_pages_text(out))
    assert "2 of 40 cores reviewed" in text and "Not reviewed" not in text and "Dr. Okafor" in text
    assert "Reviewed" in text.split("TMA cores")[1]
    # a slide-level review saved in the per-user project (a slide opened without one) is found without --project
    with ProjectDB.for_slide(slide) as db:
        db.save_review(slide, "2+", reviewer="Dr. Lind", comment="per-user project")
    assert main(args) == 0
    text = " ".join(_pages_text(out))
    assert "Dr. Lind" in text and "per-user project" in text and "Not reviewed" not in text


def test_report_uses_the_viewers_score_colours():
    from her2viewer.palette import SCORE_COLORS as PALETTE
    from her2viewer.report.charts import SCORE_COLORS

    for score, hexcode in PALETTE.items():
        assert SCORE_COLORS[score].hexval().lower() == "0x" + hexcode[1:].lower()
    assert PALETTE["1+"] == "#e6c200"          # yellow on screen and on paper (was green in the report)


def test_case_fields_criteria_and_sign_off(tmp_path):
    from her2viewer.project import ProjectDB
    from her2viewer.project.report_reviews import save_case_fields
    from her2viewer.slide.writer import write_pyramidal_tiff

    src = tma_slide()
    slide = write_pyramidal_tiff(tmp_path / "s.tif", src.read_region(0, 0, 0, *src.dimensions), mpp=0.5)
    (tmp_path / "r.json").write_text(rules_result().to_json())
    out = tmp_path / "r.pdf"
    args = ["report", str(slide), "--result", str(tmp_path / "r.json"), "--out", str(out),
            "--project", str(tmp_path / "p")]
    assert main([*args, "--clone", "4B5"]) == 0
    text = " ".join(_pages_text(out))
    assert "Antibody clone 4B5" in text and "Criteria ASCO/CAP" in text
    assert "Sign-off" in text and "Not yet reviewed" in text and "Signature" in text
    with ProjectDB.open(tmp_path / "p") as db:
        save_case_fields(db, slide, {"case_id": "S-26-0042", "block": "A3", "bogus": "x"})
        db.save_review(slide, "2+", reviewer="Dr. Mensah")
    assert main(args) == 0
    text = " ".join(_pages_text(out))
    assert "S-26-0042" in text and "Block A3" in text and "bogus" not in text
    assert "Pathologist Dr. Mensah" in text and "Final HER2 score HER2 2+" in text


def test_evidence_fields_are_where_the_cells_are_and_in_the_report(tmp_path):
    from her2viewer.report.evidence import FIELD_UM, choose_fields, render_field
    from her2viewer.scoring.result import CellDetections, Evidence

    src = tma_slide()
    result = rules_result()
    rng = np.random.default_rng(0)
    x = np.r_[rng.uniform(100, 160, 40), rng.uniform(400, 600, 40)]
    y = np.r_[rng.uniform(100, 160, 40), rng.uniform(200, 400, 40)]
    inten = np.r_[np.full(40, 3), np.full(40, 1)]
    result.evidence = Evidence(cells=CellDetections(x, y, inten, np.ones(80, bool), np.ones(80, bool)))
    fields = choose_fields(result, tuple(src.dimensions), 0.5)
    assert 1 <= len(fields) <= 4 and "strong" in fields[0].caption
    bx, by, bw, bh = fields[0].box
    assert bw == pytest.approx(FIELD_UM / 0.5) and bx <= 130 <= bx + bw and by <= 130 <= by + bh
    rgb = render_field(src, fields[0], result, 0.5, size=200)
    assert rgb.shape == (200, 200, 3)
    red = (rgb[..., 0] > 180) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)
    assert red.sum() > 50                                         # the strong cells drawn in red
    with_ev = write_report(tmp_path / "a.pdf", result, source=src)
    assert "Evidence at high magnification" in " ".join(_pages_text(with_ev))
    assert _n_images(with_ev) >= 1 + len(fields)


def test_evidence_fields_in_a_tma_name_their_core_and_patient():
    from her2viewer.report.model import CaseInfo
    from her2viewer.report.pdf import _where

    result = tma_result()
    core = result.cores[3]
    x, y, w, h = core.bbox
    case = CaseInfo(core_patients={core.id: "PAT-7"})
    assert _where(result, (x + 5, y + 5, 20, 20), case) == f" in core {core.id} (patient PAT-7)"
    assert _where(result, (x + 5, y + 5, 20, 20), None) == f" in core {core.id}"
    assert _where(result, (0, 0, 4, 4), case) == ""              # in the gap between cores
