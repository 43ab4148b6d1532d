"""`her2viewer info PATH`: metadata JSON, and a one-line error naming the file for bad input."""

from __future__ import annotations

import json

import pytest

from her2viewer.cli import main


def test_info_prints_metadata(generic_tiff, capsys):
    assert main(["info", str(generic_tiff)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["path"] == str(generic_tiff)
    assert info["dimensions"] == [2001, 1500]
    assert info["level_count"] == 3 and info["levels"][1]["dimensions"] == [1000, 750]
    assert info["levels"][1]["downsample"] == pytest.approx((2001 / 1000 + 1500 / 750) / 2)
    assert info["mpp"] == 0.5 and info["objective_power"] == 20.0
    assert info["associated_images"] == {}
    assert info["properties"]["her2viewer.backend"] == "tifffile"


def test_info_on_real_svs(shared_data, capsys):
    path = shared_data / "wsi" / "CMU-1-Small-Region.svs"
    assert main(["info", str(path), "--indent", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    info = json.loads(out)
    assert info["vendor"] == "aperio" and info["mpp"] == 0.499
    assert info["associated_images"]["label"] == [387, 463]
    assert info["properties"]["openslide.objective-power"] == "20"


def test_info_error_is_one_line(tmp_path, capsys):
    bad = tmp_path / "broken.svs"
    bad.write_bytes(b"\x00" * 10)
    assert main(["info", str(bad)]) != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(bad) in err and err.startswith("her2viewer: error:")
