"""Error messages name the file: a full disk, a list where an object belongs, Ignore covering everything."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import cv2
import pytest

from her2viewer import atomic
from her2viewer.cli import main
from her2viewer.scoring.patch.aggregate import AggregatorError, CountAggregator
from tests.fuzz.corpus import core_image


@pytest.fixture
def core_png(tmp_path: Path) -> Path:
    path = tmp_path / "core.png"
    cv2.imwrite(str(path), cv2.cvtColor(core_image(3, 500), cv2.COLOR_RGB2BGR))
    return path


def test_no_space_left_names_the_output_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError) as err:
        atomic.atomic_write_text(tmp_path / "out.json", "{}")
    assert "out.json" in str(err.value) and "No space left" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_score_json_on_a_full_disk(core_png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    out = tmp_path / "result.json"
    rc = main(["score", str(core_png), "--method", "rules", "--mpp", "0.5", "--json", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and str(out) in err and "No space left" in err and "Traceback" not in err


def test_list_where_an_object_belongs_names_file_and_field(tmp_path: Path) -> None:
    d = CountAggregator("vote", ["0", "1+"], ["0", "1+"]).to_dict()
    d["params"] = ["ab", "cd"]
    path = tmp_path / "x.aggregator.json"
    path.write_text(json.dumps(d))
    with pytest.raises(AggregatorError) as err:
        CountAggregator.load(path)
    assert str(path) in str(err.value) and "params" in str(err.value)
    assert "dictionary update sequence" not in str(err.value)


def test_ignore_covering_everything_names_slide_and_annotations(core_png: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    ann = tmp_path / "ignore.geojson"
    ring = [[-10, -10], [900, -10], [900, 900], [-10, 900], [-10, -10]]
    ann.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
         "properties": {"classification": {"name": "Ignore"}}}]}))
    rc = main(["score", str(core_png), "--method", "rules", "--mpp", "0.5", "--annotations", str(ann),
               "--json", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "nothing is left to score" in err and str(core_png) in err and str(ann) in err
