"""Compare methods: every method on the same target, one row each with its call, 3-way call, probability,
input checks and time; disagreement marked; the report prints the comparison."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from her2viewer.scoring.result import ModelInfo, ScoreResult
from her2viewer.synth.dataset import write_dataset
from her2viewer.ui.scoring.compare import disagreement


def _r(method, score, score3):
    return ScoreResult("s", method, score, {score or score3: 1.0}, ModelInfo(method, None), score3=score3)


def test_disagreement_names_the_methods():
    assert disagreement([_r("rules", "2+", "Low"), _r("pss", "2+", "Low")]) == ""
    text = disagreement([_r("rules", "1+", "Low"), _r("pss", "3+", "High"), _r("lowres", None, "High")])
    assert "4-way: rules 1+, pss 3+" in text and "3-way: rules Low, pss High, lowres High" in text


@pytest.mark.slow
def test_compare_all_methods_in_the_window_and_in_the_report(qtbot, tmp_path):
    from pypdf import PdfReader

    from her2viewer.ui.main_window import MainWindow

    write_dataset(tmp_path / "d", n_cores=1, seed=8, diameter_px=500)
    core = next((tmp_path / "d" / "cores").glob("*.png"))
    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    win.open_paths([str(core)])
    qtbot.waitUntil(lambda: win.current_tab() is not None, timeout=20_000)
    run = win.scoring.compare_methods(["rules", "lowres"])
    qtbot.waitUntil(lambda: run.done, timeout=300_000)
    assert set(run.results) == {"rules", "lowres"}, run.failed
    table = win.scoring.comparison_dialog.view.table
    assert [table.item(r, 0).text() for r in range(2)] == ["rules", "lowres"]
    assert table.item(1, 1).text() == "\u2014" and table.item(1, 2).text() in ("0", "Low", "High")
    job = win.annotations.export_report(tmp_path / "r.pdf", dialog=False)
    qtbot.waitUntil(lambda: job.finished, timeout=120_000)
    assert job.state == "done", job.message
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(tmp_path / "r.pdf").pages)
    assert "Method comparison" in text and "lowres" in text
    win.close()
