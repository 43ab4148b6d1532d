"""Malformed result JSON (nested types, non-finite numbers, deep nesting) is refused with a message naming
the file and the field, never a traceback, in `ScoreResult.load` and in `report --result`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from her2viewer.cli import main
from her2viewer.scoring.result import ContractError, ScoreResult
from tests.fuzz.corpus import result_cases
from tests.report._results import rules_result, tma_result


def _good() -> dict:
    d = tma_result(2, 2).to_dict()
    d["review"] = None
    return d


@pytest.mark.parametrize("name", sorted(result_cases(_good())))
def test_malformed_result_is_refused_or_accepted_cleanly(tmp_path: Path, name: str) -> None:
    case = result_cases(_good())[name]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(case))
    try:
        ScoreResult.load(path)
    except ContractError as e:
        assert str(path) in str(e)


@pytest.mark.parametrize("name", ["bbox-strings", "bbox-nan", "cores-object", "probabilities-list", "qc-list",
                                  "heatmap-shape", "confidence-string", "deep", "top-list", "elapsed-list"])
def test_known_bad_results_are_refused(tmp_path: Path, name: str) -> None:
    case = result_cases(_good())[name]
    if name == "heatmap-shape":
        case = _good()
        case["evidence"] = {"heatmaps": [{"name": "h", "shape": [3, 3], "values": [1.0, 2.0],
                                          "l0_origin": [0, 0], "l0_cell_size": 10}]}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(case))
    with pytest.raises(ContractError) as err:
        ScoreResult.load(path)
    assert str(path) in str(err.value)


def test_good_results_still_load(tmp_path: Path) -> None:
    for r in (rules_result(), tma_result()):
        p = tmp_path / "r.json"
        r.save(p)
        assert ScoreResult.load(p).score == r.score


def test_report_command_on_malformed_results(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import cv2

    slide = tmp_path / "s.png"
    cv2.imwrite(str(slide), np.full((100, 100, 3), 200, np.uint8))
    for name, case in result_cases(rules_result().to_dict()).items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(case))
        rc = main(["report", str(slide), "--result", str(path), "--out", str(tmp_path / f"{name}.pdf")])
        err = capsys.readouterr().err
        assert rc in (0, 2), (name, err)
        if rc:
            assert str(path) in err, (name, err)
