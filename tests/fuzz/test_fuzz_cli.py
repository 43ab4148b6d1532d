"""The quick fuzz corpus through the CLI: every case ends within 30 s with exit 0, 2 or 3, no traceback, and
an error on stderr names the file. Inputs are made at test time (synthetic generator + crafted files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cases import Case
from .runner import build_cases, run_case

_ALL: list[Case] = []


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder holding the quick corpus (built once per module)."""
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def quick_cases(corpus_dir: Path) -> dict[str, Case]:
    """The quick cases by name."""
    return {c.name: c for c in build_cases(corpus_dir, slide_variants=0, json_variants=0) if c.quick}


QUICK_NAMES = [
    "info:good-png", "info:good-tif", "info:ifd-loop", "score:ifd-loop", "tissue:ifd-loop", "info:pipe",
    "score:pipe", "tissue:pipe", "info:huge-width", "info:png-bomb", "score:png-bomb", "info:jpeg-bomb",
    "info:trunc-tif", "info:svs-minus-1-byte", "patches:geo-measure-inf", "patches:geo-coords-nan",
    "patches:geo-bowtie", "patches:geo-list-top", "score-annotations:geo-1e999", "report:res-rules-bbox-strings",
    "report:res-rules-bbox-nan", "report:res-rules-cores-object", "report:res-rules-deep",
    "report:res-rules-review-long", "score-model:card-pss-huge-n-patches", "score-model:card-mil_abmil-huge-in-dim",
    "score-profile:profile-nan",
]


@pytest.mark.parametrize("name", QUICK_NAMES)
def test_quick_case(quick_cases: dict[str, Case], name: str) -> None:
    if name not in quick_cases:
        pytest.skip(f"{name} needs ../shared/data")
    out = run_case(quick_cases[name])
    assert out.category in ("ok", "clean error"), (out.category, out.returncode, out.stderr[-2000:])
    if out.returncode == 2:
        lines = [ln for ln in out.stderr.splitlines() if ln.startswith("her2viewer: error")]
        assert len(lines) == 1, out.stderr
