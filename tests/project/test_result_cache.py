"""Result cache: hits for the same slide version, method, model and parameters; misses otherwise; damaged files
are ignored and replaced."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from her2viewer.project.result_cache import CACHE_DIR, ResultCache, params_for
from her2viewer.scoring.base import ScoreOptions
from her2viewer.scoring.result import CellDetections, Evidence, ModelInfo, PatchBox, SampleRecord, ScoreResult
from her2viewer.slide.region import Region

PARAMS = {"N": 20, "k": 5, "seed": 0, "scope": "auto", "region": None}


def _result(slide: str, score: str = "2+", sha: str | None = "cd" * 32) -> ScoreResult:
    probs = {s: (0.7 if s == score else 0.1) for s in ("0", "1+", "2+", "3+")}
    cells = CellDetections(np.array([1.5, 2.0], np.float32), np.array([3.0, 4.0], np.float32),
                           np.array([2, 3], np.int8), np.array([True, False]))
    ev = Evidence(patch_boxes=[PatchBox((0, 0, 512, 512), 0, score)], cells=cells)
    return ScoreResult(slide, "pss", score, probs, ModelInfo("pss-net", sha), confidence=0.6,
                       samples=[SampleRecord(score, probs, 0.6, True)], evidence=ev, params=dict(PARAMS))


@pytest.fixture
def slide(tmp_path):
    p = tmp_path / "case.svs"
    p.write_bytes(b"pixels v1")
    return p


def test_hit_after_put_and_reload_in_a_new_instance(tmp_path, slide):
    proj = tmp_path / "proj"
    cache = ResultCache(proj)
    assert cache.get(slide, "pss", PARAMS, model_sha256="cd" * 32) is None
    path = cache.put(slide, "pss", PARAMS, _result(str(slide)))
    assert path is not None and path.parent == proj / CACHE_DIR and path.suffix == ".json"
    got = ResultCache(proj).get(slide, "pss", dict(PARAMS), model_sha256="cd" * 32)  # a reopened project
    assert got is not None
    assert got.score == "2+" and got.model.sha256 == "cd" * 32 and got.samples[0].selected
    assert got.evidence.cells is not None and got.evidence.cells.intensity.tolist() == [2, 3]
    assert got.evidence.patch_boxes[0].bbox == (0, 0, 512, 512)
    assert [p.name for p in (proj / CACHE_DIR).iterdir()] == [path.name]  # no temporary files left


@pytest.mark.parametrize("change", [
    {"N": 40}, {"k": 3}, {"seed": 1}, {"scope": "cores"}, {"region": [0, 0, 100, 100]}])
def test_parameter_change_misses(tmp_path, slide, change):
    cache = ResultCache(tmp_path)
    cache.put(slide, "pss", PARAMS, _result(str(slide)))
    assert cache.get(slide, "pss", {**PARAMS, **change}, model_sha256="cd" * 32) is None
    assert cache.get(slide, "pss", PARAMS, model_sha256="cd" * 32) is not None


def test_method_and_model_change_miss(tmp_path, slide):
    cache = ResultCache(tmp_path)
    cache.put(slide, "pss", PARAMS, _result(str(slide)))
    assert cache.get(slide, "rules", PARAMS, model_sha256="cd" * 32) is None
    assert cache.get(slide, "pss", PARAMS, model_sha256="ef" * 32) is None
    assert cache.get(slide, "pss", PARAMS) is None  # unknown model: never a result of some other model


def test_modified_slide_misses_and_stale_entries_are_dropped(tmp_path, slide):
    cache = ResultCache(tmp_path)
    cache.put(slide, "pss", PARAMS, _result(str(slide), "2+"))
    slide.write_bytes(b"pixels v2 with more bytes")
    assert cache.get(slide, "pss", PARAMS, model_sha256="cd" * 32) is None
    assert cache.latest_for(slide) == []
    st = slide.stat()
    os.utime(slide, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # same size, newer time
    cache.put(slide, "pss", PARAMS, _result(str(slide), "3+"))
    os.utime(slide, ns=(st.st_atime_ns, st.st_mtime_ns + 9_000_000_000))
    assert cache.get(slide, "pss", PARAMS, model_sha256="cd" * 32) is None
    cache.put(slide, "pss", PARAMS, _result(str(slide), "1+"))
    assert len(list((tmp_path / CACHE_DIR).glob("*.json"))) == 1  # older versions' entries were pruned
    assert cache.get(slide, "pss", PARAMS, model_sha256="cd" * 32).score == "1+"


def test_latest_for_lists_the_slides_results_newest_first(tmp_path, slide):
    other = tmp_path / "other.svs"
    other.write_bytes(b"other")
    cache = ResultCache(tmp_path)
    cache.put(slide, "rules", PARAMS, _result(str(slide), "1+", sha=None))
    cache.put(slide, "pss", {**PARAMS, "N": 40}, _result(str(slide), "3+"))
    cache.put(other, "pss", PARAMS, _result(str(other), "0"))
    latest = cache.latest_for(slide)
    assert [(c.method, c.result.score) for c in sorted(latest, key=lambda c: c.method)] == [
        ("pss", "3+"), ("rules", "1+")]
    assert latest[0].saved >= latest[1].saved
    pss = next(c for c in latest if c.method == "pss")
    assert pss.params["N"] == 40 and pss.model_sha256 == "cd" * 32
    assert cache.get(slide, "rules", PARAMS) is not None  # no model: keyed by None
    assert [c.result.score for c in cache.latest_for(other)] == ["0"]


def test_corrupt_cache_file_is_ignored_logged_and_replaced(tmp_path, slide, caplog):
    cache = ResultCache(tmp_path)
    path = cache.put(slide, "pss", PARAMS, _result(str(slide)))
    for damage in (b'{"slide": "trunc', b"\x00\xff garbage", b'{"cache": {"format": 1}, "score": "9+"}'):
        path.write_bytes(damage)
        with caplog.at_level(logging.WARNING, logger="her2viewer.project.result_cache"):
            assert cache.get(slide, "pss", PARAMS, model_sha256="cd" * 32) is None
            assert cache.latest_for(slide) == []
        assert str(path) in caplog.text
        caplog.clear()
    assert cache.put(slide, "pss", PARAMS, _result(str(slide), "3+")) == path
    assert cache.get(slide, "pss", PARAMS, model_sha256="cd" * 32).score == "3+"


def test_in_memory_slides_are_not_cached(tmp_path):
    cache = ResultCache(tmp_path)
    assert cache.put("", "pss", PARAMS, _result("")) is None
    assert cache.get(tmp_path / "missing.svs", "pss", PARAMS) is None
    assert cache.latest_for("") == []


def test_params_for_options_and_regions(tmp_path, slide):
    opts = ScoreOptions(n_samples=20, top_k=5, seed=3)
    p_auto = params_for(opts, "rules")
    p_region = params_for(opts, "rules", Region((10, 20, 300, 400), id="roi"))
    assert p_auto["scope"] == "auto" and p_auto["region"] is None and p_auto["seed"] == 3
    assert p_region["scope"] == "region" and p_region["region"]["bbox"] == [10, 20, 300, 400]
    cache = ResultCache(tmp_path)
    cache.put(slide, "rules", p_region, _result(str(slide), sha=None))
    assert cache.get(slide, "rules", params_for(opts, "rules", Region((10, 20, 300, 400), id="roi"))) is not None
    assert cache.get(slide, "rules", params_for(opts, "rules", Region((10, 20, 300, 401), id="roi"))) is None
    assert cache.get(slide, "rules", p_auto) is None


def test_only_pss_runs_are_keyed_by_n_and_k(tmp_path, slide):
    a, b = ScoreOptions(n_samples=20, top_k=5), ScoreOptions(n_samples=40, top_k=8)
    assert params_for(a, method="rules") == params_for(b, method="rules")
    assert params_for(a, method="pss") != params_for(b, method="pss")
    cache = ResultCache(tmp_path)
    cache.put(slide, "rules", params_for(a, method="rules"), _result(str(slide), sha=None))
    # another N or k set for PSS finds the rules result it cannot have changed
    assert cache.get(slide, "rules", params_for(b, method="rules")) is not None
    cache.put(slide, "pss", params_for(a, method="pss"), _result(str(slide), "3+", sha=None))
    assert cache.get(slide, "pss", params_for(b, method="pss")) is None
