"""Long text in a review, a result or the case fields is cut and wrapped: the report is always a valid PDF."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
from pypdf import PdfReader

from her2viewer.cli import main
from her2viewer.report.model import CaseInfo, ReviewInfo
from her2viewer.report.pdf import build_report

from ._results import rules_result, tma_result

WORDS = "The membrane staining is complete and intense in most tumour cells of the invasive front. "


def _text(pdf: bytes) -> str:
    return " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf)).pages)


def test_a_4000_character_review_comment_gives_a_valid_pdf() -> None:
    comment = (WORDS * 50)[:4000]
    pdf = build_report(rules_result(), review=ReviewInfo("3+", None, "Dr. A", "", comment))
    assert pdf.startswith(b"%PDF") and "Reviewer comment" in _text(pdf)


def test_unbroken_long_text_everywhere_is_cut() -> None:
    blob = "x" * 20_000
    result = dataclasses.replace(tma_result(2, 2), explanation=blob, params={"note": blob})
    result.cores[0].id = blob
    case = CaseInfo(case_id=blob, patient_id=blob, specimen=blob, slide_name=blob, scanner=blob,
                    extra={blob: blob})
    pdf = build_report(result, review=ReviewInfo("2+", None, blob, blob, blob), case=case)
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 1


def test_report_command_with_long_comment(tmp_path, capsys) -> None:
    import cv2

    slide = tmp_path / "s.png"
    cv2.imwrite(str(slide), np.full((200, 300, 3), 200, np.uint8))
    result = tmp_path / "r.json"
    rules_result().save(result)
    review = tmp_path / "review.json"
    review.write_text(json.dumps({"score": "2+", "comment": (WORDS * 60)[:4000], "reviewer": "R" * 3000}))
    out = tmp_path / "r.pdf"
    assert main(["report", str(slide), "--result", str(result), "--review", str(review), "--out", str(out)]) == 0, \
        capsys.readouterr().err
    assert out.read_bytes().startswith(b"%PDF")
