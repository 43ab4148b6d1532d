"""The user's models folder: install a staged checkpoint under a name, list by method, remove; the bundled
models are never touched."""

from __future__ import annotations

import pytest

from her2viewer.models.checkpoint import CheckpointError, checkpoint_files, default_model_path, read_card
from her2viewer.models.library import (
    cases_file,
    install_model,
    model_exists,
    remove_model,
    safe_name,
    user_models,
)


def test_install_list_and_remove(tmp_path):
    import shutil

    folder = tmp_path / "models"
    staged = tmp_path / "staged" / "m"
    staged.parent.mkdir()
    for src, dst in zip(checkpoint_files(default_model_path("lowres")), checkpoint_files(staged), strict=True):
        shutil.copyfile(src, dst)
    cases_file(staged).write_text("path,label\na.png,0\n")
    stem = install_model(staged, folder, "my lab/low res!")
    assert cases_file(stem).read_text() == "path,label\na.png,0\n"
    assert stem.name == "my_lab_low_res" and model_exists(folder, "my lab/low res!")
    assert read_card(stem).name == "my_lab_low_res"
    assert read_card(stem).sha256 == read_card(default_model_path("lowres")).sha256
    with pytest.raises(CheckpointError, match="already exists"):
        install_model(default_model_path("lowres"), folder, "my_lab_low_res")
    (folder / "broken.json").write_text("{not json")
    (folder / "broken.safetensors").write_bytes(b"")
    models, problems = user_models(folder)
    assert [m.name for m in models] == ["my_lab_low_res"] and len(problems) == 1 and "broken" in problems[0]
    assert user_models(folder, "pss")[0] == [] and user_models(folder, "lowres")[0][0].label().startswith(
        "my_lab_low_res (lowres")
    with pytest.raises(CheckpointError, match="not in the user's models folder"):
        remove_model(default_model_path("lowres"), folder)
    assert all(p.exists() for p in checkpoint_files(default_model_path("lowres")))
    remove_model(stem, folder)
    assert not any(p.exists() for p in (*checkpoint_files(stem), cases_file(stem)))
    assert safe_name("../..") == "" and safe_name(" a b ") == "a_b"
    with pytest.raises(CheckpointError, match="not a usable model name"):
        install_model(default_model_path("lowres"), folder, "../")
