"""`her2viewer score`: the JSON contract on stdout, the human summary, pools, and one-line errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from her2viewer.cli import main
from her2viewer.scoring.pss.testing import TEST_MODEL_NAME, make_test_checkpoint
from her2viewer.scoring.result import ScoreResult, validate_contract


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    img = np.full((500, 500, 3), 240, np.uint8)
    cv2.circle(img, (250, 250), 180, (150, 120, 100), -1)  # DAB-brown: passes the stain check
    img = np.clip(img.astype(int) + rng.integers(-30, 30, img.shape) * (img < 200), 0, 255).astype(np.uint8)
    cv2.imwrite(str(d / "core.png"), img)
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"this is not a png" * 10)
    return d, make_test_checkpoint(d / "tiny")


def _score(args, capsys):
    rc = main(["score", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_json_on_stdout_meets_the_contract(files, capsys):
    d, ckpt = files
    rc, out, _ = _score([str(d / "core.png"), "--method", "pss", "--model", str(ckpt), "-N", "4", "-k", "2",
                         "--seed", "3", "--device", "cpu", "--json", "-"], capsys)
    assert rc == 0
    doc = json.loads(out)
    validate_contract(doc)
    assert doc["method"] == "pss" and doc["model"]["name"] == TEST_MODEL_NAME
    assert len(doc["samples"]) == 4 and sum(s["selected"] for s in doc["samples"]) == 2
    assert doc["params"]["N"] == 4 and doc["params"]["k"] == 2 and doc["params"]["seed"] == 3
    assert doc["slide"].endswith("core.png") and doc["elapsed_s"] > 0


def test_json_file_summary_and_pool(files, capsys, tmp_path):
    d, ckpt = files
    out_json, pool = tmp_path / "r.json", tmp_path / "pool.json"
    rc, out, _ = _score([str(d / "core.png"), "--method", "pss", "--model", str(ckpt.with_suffix(".json")),
                         "-N", "3", "-k", "1", "--json", str(out_json), "--pool", "5", "--pool-out", str(pool),
                         "--label", "2+"], capsys)
    assert rc == 0 and out == ""
    res = ScoreResult.load(out_json)
    doc = json.loads(pool.read_text())
    assert len(doc["cores"]) == 1 and doc["cores"][0]["label"] == "2+"
    rows = np.array(doc["cores"][0]["probabilities"])
    assert rows.shape == (5, 4)
    first3 = np.array([[s.probabilities[c] for c in ("0", "1+", "2+", "3+")] for s in res.samples])
    np.testing.assert_allclose(rows[:3], first3, atol=1e-5)  # the pool extends the scored samples
    rc, out, _ = _score([str(d / "core.png"), "--method", "pss", "--model", str(ckpt), "-N", "2", "-k", "1"], capsys)
    assert rc == 0 and "HER2" in out and TEST_MODEL_NAME in out and len(out.splitlines()) <= 6


@pytest.mark.parametrize("name", ["missing.png", "corrupt.png"])
def test_unreadable_input_is_one_line_naming_the_file(files, capsys, name):
    d, ckpt = files
    rc, out, err = _score([str(d / name), "--method", "pss", "--model", str(ckpt), "--json", "-"], capsys)
    assert rc != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and name in lines[0]


def test_bad_checkpoints_are_one_line_errors(files, capsys, tmp_path):
    d, ckpt = files
    rc, _, err = _score([str(d / "core.png"), "--method", "pss", "--model", str(tmp_path / "nope")], capsys)
    assert rc != 0 and len(err.strip().splitlines()) == 1 and "nope.safetensors" in err
    bad = make_test_checkpoint(tmp_path / "bad")
    card = json.loads(bad.with_suffix(".json").read_text())
    card["architecture"]["kwargs"]["n_patches"] = 9
    bad.with_suffix(".json").write_text(json.dumps(card))
    rc, _, err = _score([str(d / "core.png"), "--method", "pss", "--model", str(bad)], capsys)
    assert rc != 0 and len(err.strip().splitlines()) == 1 and "bad.safetensors" in err and "shape" in err


def test_missing_bundled_model_names_the_file(files, capsys, monkeypatch, tmp_path):
    import her2viewer.scoring.pss.scorer as scorer_mod

    d, _ = files
    monkeypatch.setattr(scorer_mod, "default_model_path", lambda method: tmp_path / "pss_default")
    rc, _, err = _score([str(d / "core.png"), "--method", "pss"], capsys)
    assert rc != 0 and "pss_default.safetensors" in err and "--model" in err


def test_bad_options(files, capsys):
    d, ckpt = files
    assert _score([str(d / "core.png"), "--method", "nosuch"], capsys)[0] != 0
    assert _score([str(d / "core.png"), "--method", "pss", "--model", str(ckpt), "-N", "0"], capsys)[0] != 0
    rc, _, err = _score([str(d / "core.png"), "--method", "pss", "--model", str(ckpt), "--scope", "1,2"], capsys)
    assert rc != 0 and "--scope" in err
