"""Model cards with huge or non-finite constructor arguments are refused before anything is built."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from her2viewer.models.checkpoint import (
    CheckpointError,
    ModelCard,
    default_model_path,
    load_checkpoint,
    read_card,
)
from tests.fuzz.corpus import card_cases


def _good() -> dict:
    return json.loads(Path(f"{default_model_path('mil_abmil')}.json").read_text())


@pytest.mark.parametrize("kwargs", [{"in_dim": 10**9}, {"hidden": 10**7}, {"num_classes": 10**6},
                                    {"dropout": float("inf")}, {"n_patches": 10**8}])
def test_huge_constructor_args_are_refused(kwargs: dict) -> None:
    d = _good()
    d["architecture"]["kwargs"].update(kwargs)
    with pytest.raises(CheckpointError, match=next(iter(kwargs))):
        ModelCard.from_dict(d, where="card.json")


def test_huge_input_spec_is_refused() -> None:
    d = json.loads(Path(f"{default_model_path('pss')}.json").read_text())
    d["input_spec"]["patch_size"] = 10**9
    with pytest.raises(CheckpointError, match="patch_size"):
        ModelCard.from_dict(d)


def test_hostile_checkpoint_fails_fast_naming_the_card(tmp_path: Path) -> None:
    stem = default_model_path("mil_abmil")
    shutil.copy(f"{stem}.safetensors", tmp_path / "m.safetensors")
    d = _good()
    d["architecture"]["kwargs"]["in_dim"] = 10**9
    (tmp_path / "m.json").write_text(json.dumps(d))
    t0 = time.monotonic()
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "m")
    assert time.monotonic() - t0 < 5 and "m.json" in str(err.value)


@pytest.mark.parametrize("name", sorted(card_cases(_good())))
def test_malformed_cards_give_checkpoint_errors(tmp_path: Path, name: str) -> None:
    (tmp_path / "c.json").write_text(json.dumps(card_cases(_good())[name]))
    try:
        read_card(tmp_path / "c")
    except CheckpointError as e:
        assert "c.json" in str(e)


def test_bundled_cards_pass_the_limits() -> None:
    for method in ("pss", "lowres", "patch", "mil_abmil", "mil_clam_sb", "mil_clam_mb", "mil_dtfd"):
        read_card(default_model_path(method))
