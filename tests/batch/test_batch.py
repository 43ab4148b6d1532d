"""`her2viewer batch`: every image scored once into the project, resumable after SIGKILL, a bad file gets an error
row while the rest are scored, TMA maps give per-core patient rows, and Ray runs the same per-image function."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from her2viewer.batch import BatchSettings, cohort_rows, run_batch, write_cohort
from her2viewer.batch.engines import EngineError
from her2viewer.cli import main
from her2viewer.project import DB_NAME, Project
from her2viewer.synth.dataset import write_dataset
from her2viewer.synth.slides import write_tma_slide

REPO = Path(__file__).resolve().parents[2]


def _cores(folder: Path, n: int, seed: int = 5, diameter: int = 500) -> list[Path]:
    write_dataset(folder, n_cores=n, seed=seed, diameter_px=diameter)
    return sorted((folder / "cores").glob("*.png"))


def _tree(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_batch_cli_scores_a_folder_once_with_an_error_row_for_a_bad_file(tmp_path, capsys):
    cores = _cores(tmp_path / "data", 4)
    (tmp_path / "data" / "cores" / "broken.png").write_bytes(cores[0].read_bytes()[:2000])
    before = _tree(tmp_path / "data")
    code = main(["batch", str(tmp_path / "data" / "cores"), "--method", "rules", "--project", str(tmp_path / "p"),
                 "--workers", "2"])
    err = capsys.readouterr().err
    assert code == 1 and "broken.png" in err and "Traceback" not in err
    rows = list(csv.DictReader((tmp_path / "p" / "cohort-rules.csv").open()))
    by_name = {Path(r["slide"]).name: r for r in rows}
    assert set(by_name) == {"broken.png", *(c.name for c in cores)}
    assert "broken.png" in by_name["broken.png"]["error"]
    assert all(by_name[c.name]["score"] in ("0", "1+", "2+", "3+") or by_name[c.name]["qc_status"]
               for c in cores)
    assert json.loads((tmp_path / "p" / "cohort-rules.json").read_text())["rows"][0]["method"] == "rules"
    assert _tree(tmp_path / "data") == before   # nothing written beside the slides
    # again: the cache answers, nothing is scored twice
    assert main(["batch", str(tmp_path / "data" / "cores"), "--method", "rules", "--project", str(tmp_path / "p")]) == 1
    with Project.open(tmp_path / "p") as proj:
        events = proj.db.batch_log()
    scored = [e for e in events if e[3] == "scored"]
    assert len(scored) == 4 and len({e[1] for e in scored}) == 4
    assert sum(e[3] == "cached" for e in events) == 4


@pytest.mark.slow
def test_sigkill_part_way_and_restart_scores_each_core_exactly_once(tmp_path):
    cores = _cores(tmp_path / "data", 100, seed=11, diameter=400)
    cmd = [sys.executable, "-m", "her2viewer", "batch", str(tmp_path / "data" / "cores"), "--method", "rules",
           "--project", str(tmp_path / "p"), "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    db = tmp_path / "p" / DB_NAME
    deadline = time.monotonic() + 240
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.3)
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    done = conn.execute("SELECT COUNT(*) FROM batch_log").fetchone()[0]
            except sqlite3.Error:
                continue
            if done >= 15:
                break
    assert proc.poll() is None, "the batch ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)   # the driver and its workers
    proc.wait()
    assert 15 <= done < 100
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    with Project.open(tmp_path / "p") as proj:
        events = proj.db.batch_log()
        scores = proj.db.scores("rules")
    assert len(scores) == 100 and all(s.error is None and s.cache_key for s in scores)
    per_slide: dict[str, list[str]] = {}
    for _, sid, _, event, _ in events:
        per_slide.setdefault(sid, []).append(event)
    assert len(per_slide) == 100
    assert all(ev.count("scored") <= 1 and ev.count("error") == 0 for ev in per_slide.values())
    assert len(list((tmp_path / "p" / "results").glob("*.json"))) == 100   # one result per core
    assert len(cores) == 100


def test_tma_map_gives_per_core_patient_rows_and_no_slide_call(tmp_path):
    tma = tmp_path / "tma.tiff"
    records = write_tma_slide(tma, seed=3, rows=2, cols=2, diameter_px=500, mpp=0.5, n_missing=0)
    assert records
    tmap = tmp_path / "map.csv"
    tmap.write_text("core_id,patient_id\nA1,P1\nA2,P1\nB1,P2\nB2,P3\n")
    assert main(["batch", str(tma), "--method", "rules", "--project", str(tmp_path / "p"), "--workers", "1",
                 "--tma-map", str(tmap)]) in (0, 1)
    rows = list(csv.DictReader((tmp_path / "p" / "cohort-rules.csv").open()))
    slide_row = next(r for r in rows if not r["core_id"])
    assert "multi-patient TMA" in slide_row["note"] and slide_row["score"] == ""
    core_rows = [r for r in rows if r["core_id"]]
    assert core_rows and all(r["patient_id"] == {"A1": "P1", "A2": "P1", "B1": "P2", "B2": "P3"}.get(r["core_id"], "")
                             for r in core_rows)
    assert any(r["patient_id"] for r in core_rows)


def test_cohort_csv_escapes_formulas(tmp_path):
    stem = write_cohort([{"slide": '=HYPERLINK("http://x")', "note": "-1", "score": "1+"}], tmp_path)[0]
    row = next(csv.DictReader(stem.open(newline="")))
    assert row["slide"] == "'=HYPERLINK(\"http://x\")" and row["note"] == "'-1"
    assert row["score"] == "1+"  # not a formula lead: left as it is


def test_ray_engine_runs_the_same_per_image_function(tmp_path):
    pytest.importorskip("ray")
    cores = _cores(tmp_path / "data", 3, seed=21)
    with Project.create(tmp_path / "p") as proj:
        try:
            summary = run_batch(proj, cores, BatchSettings("rules", engine="ray", workers=2))
        except EngineError as e:
            pytest.skip(f"Ray cannot start here: {e}")
        assert summary.scored == 3 and not summary.errors
        rows = cohort_rows(proj, "rules")
    assert len([r for r in rows if not r["core_id"]]) == 3
