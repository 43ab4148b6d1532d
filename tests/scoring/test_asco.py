"""The ASCO/CAP 2018/2023 decision table at and around every threshold, sub-classes and the 3-way map."""

from __future__ import annotations

import numpy as np
import pytest

from her2viewer.scoring.asco import (
    SCORES3,
    SCORES4,
    AscoThresholds,
    CellPercentages,
    asco_cap_from_cells,
    asco_cap_score,
    cell_percentages,
    to_3way,
)


def pcts(cs: float = 0.0, cm: float = 0.0, cf: float = 0.0, is_: float = 0.0, im: float = 0.0,
         if_: float = 0.0, n: int = 1000) -> CellPercentages:
    return CellPercentages(n, cs, cm, cf, is_, im, if_)


@pytest.mark.parametrize("value, expected", [(10.0, "2+"), (10.01, "3+"), (9.99, "2+"), (50.0, "3+")])
def test_complete_strong_threshold(value: float, expected: str) -> None:
    # <= 10% complete intense staining is the heterogeneous unusual pattern (2+), > 10% is 3+.
    assert asco_cap_score(pcts(cs=value)).score == expected


@pytest.mark.parametrize("value, expected", [(10.0, "1+"), (10.01, "2+"), (9.0, "1+"), (80.0, "2+")])
def test_complete_moderate_threshold(value: float, expected: str) -> None:
    # 5% faint incomplete cells are added so that "any staining" is > 10% on both sides of the cut.
    d = asco_cap_score(pcts(cm=value, if_=5.0))
    assert d.score == expected


def test_complete_moderate_at_exactly_ten_alone_is_zero_ultralow() -> None:
    d = asco_cap_score(pcts(cm=10.0))
    assert (d.score, d.subclass) == ("0", "ultralow")


def test_strong_plus_moderate_complete_counts_for_2plus() -> None:
    # 6% strong + 5% moderate complete = 11% complete >= weak-moderate -> 2+ (strong alone not > 10%).
    assert asco_cap_score(pcts(cs=6.0, cm=5.0)).score == "2+"
    assert asco_cap_score(pcts(cs=5.0, cm=5.0)).score == "2+"  # 5% strong: heterogeneous pattern
    assert asco_cap_score(pcts(cs=0.5, cm=9.5, if_=1.0)).score == "1+"  # 0.5% strong < 1% floor


@pytest.mark.parametrize("value, expected", [(10.0, "1+"), (10.01, "2+"), (40.0, "2+")])
def test_incomplete_strong_unusual_pattern(value: float, expected: str) -> None:
    # Intense but incomplete (basolateral) staining in > 10% is equivocal; exactly 10% is not > 10%, and with
    # 1% faint cells more the staining (11%) makes it 1+.
    assert asco_cap_score(pcts(is_=value, if_=1.0)).score == expected


def test_heterogeneous_strong_min_floor() -> None:
    t = AscoThresholds()
    assert asco_cap_score(pcts(cs=t.min_unusual_pct)).score == "2+"
    assert asco_cap_score(pcts(cs=t.min_unusual_pct - 0.01)).score == "0"
    assert asco_cap_score(pcts(cs=0.99, if_=20.0)).score == "1+"


@pytest.mark.parametrize("value, expected", [(10.0, ("0", "ultralow")), (10.01, ("1+", None)),
                                             (0.01, ("0", "ultralow")), (0.0, ("0", "null"))])
def test_faint_threshold_and_subclasses(value: float, expected: tuple[str, str | None]) -> None:
    d = asco_cap_score(pcts(if_=value))
    assert (d.score, d.subclass) == expected


def test_any_staining_sums_patterns_for_1plus() -> None:
    # 4% faint complete + 4% faint incomplete + 2.5% moderate incomplete = 10.5% > 10% -> 1+.
    assert asco_cap_score(pcts(cf=4.0, if_=4.0, im=2.5)).score == "1+"
    assert asco_cap_score(pcts(cf=4.0, if_=4.0, im=2.0)).score == "0"


def test_no_cells_is_null_zero() -> None:
    d = asco_cap_score(CellPercentages(0, 0, 0, 0, 0, 0, 0))
    assert (d.score, d.subclass) == ("0", "null")
    assert "No tumour cells" in d.reason


def test_custom_thresholds() -> None:
    t = AscoThresholds(positive_pct=30.0)
    assert asco_cap_score(pcts(cs=20.0), t).score == "2+"
    assert asco_cap_score(pcts(cs=30.5), t).score == "3+"


def test_reasons_are_sentences_with_numbers() -> None:
    for p, score in [(pcts(cs=40.0), "3+"), (pcts(cm=40.0), "2+"), (pcts(if_=40.0), "1+"),
                     (pcts(if_=4.0), "0")]:
        d = asco_cap_score(p)
        assert d.score == score
        assert d.reason.endswith(".") and "%" in d.reason


def test_cell_percentages_counts_each_pattern() -> None:
    inten = np.array([3, 3, 2, 1, 3, 2, 1, 0, 0, 0])
    comp = np.array([1, 0, 1, 1, 1, 0, 0, 0, 1, 0], bool)
    p = cell_percentages(inten, comp)
    assert p.n == 10
    assert (p.complete_strong, p.incomplete_strong) == (20.0, 10.0)
    assert (p.complete_moderate, p.incomplete_moderate) == (10.0, 10.0)
    assert (p.complete_faint, p.incomplete_faint) == (10.0, 10.0)
    assert p.any_staining == pytest.approx(70.0)
    assert p.none == pytest.approx(30.0)
    d = p.as_dict()
    assert d["n"] == 10 and d["pct_none"] == pytest.approx(30.0)


def test_cell_percentages_empty() -> None:
    p = cell_percentages(np.zeros(0, int), np.zeros(0, bool))
    assert p.n == 0 and p.none == 0.0 and p.any_staining == 0.0


def test_from_cells_exact_ten_percent_boundary() -> None:
    # 100 cells: 10 complete strong is exactly 10% (2+, heterogeneous); 11 is 3+.
    for k, score in [(10, "2+"), (11, "3+")]:
        inten = np.zeros(100, int)
        inten[:k] = 3
        comp = inten > 0
        d, p = asco_cap_from_cells(inten, comp)
        assert d.score == score and p.complete_strong == pytest.approx(k)


@pytest.mark.parametrize("s4, ish, s3", [("0", None, "0"), ("0", True, "0"), ("1+", None, "Low"),
                                         ("1+", True, "Low"), ("2+", None, "Low"), ("2+", False, "Low"),
                                         ("2+", True, "High"), ("3+", None, "High"), ("3+", False, "High")])
def test_to_3way(s4: str, ish: bool | None, s3: str) -> None:
    assert to_3way(s4, ish) == s3
    assert s3 in SCORES3


def test_to_3way_rejects_unknown() -> None:
    with pytest.raises(ValueError):
        to_3way("4+")
    assert SCORES4 == ("0", "1+", "2+", "3+")
