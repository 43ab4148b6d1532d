"""A pathologist's review of a suggested HER2 score, and the audit trail entries that record its changes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..report.model import ReviewInfo
from ..scoring.asco import SCORES4, to_3way

IshResult = Literal["positive", "negative", "not done"]
ISH_RESULTS: tuple[str, ...] = ("positive", "negative", "not done")

# The fields of a review that an audit entry records (old and new values).
AUDITED_FIELDS: tuple[str, ...] = ("score", "score3", "ish", "comment", "reviewer", "time", "suggested_score",
                                   "suggested_method", "model_name", "model_sha256")


def normalise_ish(ish: str | bool | None) -> IshResult:
    """An ISH result from True / False / None or its name ("positive", "negative", "not done")."""
    if ish is None:
        return "not done"
    if isinstance(ish, bool):
        return "positive" if ish else "negative"
    text = str(ish).strip().lower().replace("_", " ")
    if text in ("", "none", "not done", "notdone", "n/a"):
        return "not done"
    if text in ("positive", "pos", "amplified"):
        return "positive"
    if text in ("negative", "neg", "not amplified"):
        return "negative"
    raise ValueError(f"the ISH result {ish!r} is not one of {', '.join(ISH_RESULTS)}")


def ish_positive(ish: str) -> bool | None:
    """True / False for a positive / negative ISH result, None when it was not done."""
    return {"positive": True, "negative": False}.get(ish)


def check_score(score: str) -> str:
    """The 4-way score itself, or ValueError with a sentence when it is not one."""
    if score not in SCORES4:
        raise ValueError(f"the reviewed score {score!r} is not one of {', '.join(SCORES4)}")
    return score


def three_way(score: str, ish: str) -> str:
    """The 3-way call (0 / Low / High) of a 4-way score and an ISH result."""
    return to_3way(check_score(score), ish_positive(ish))


@dataclass(frozen=True)
class Review:
    """The current reviewed score of a slide (core_id None) or of one TMA core."""

    slide_id: str
    slide_path: str
    core_id: str | None
    score: str
    score3: str
    ish: str
    comment: str
    reviewer: str
    time: str  # ISO 8601 with the UTC offset
    suggested_score: str | None = None
    suggested_method: str | None = None
    model_name: str | None = None
    model_sha256: str | None = None
    revision: int = 1  # 1 when created, +1 on each change

    @property
    def ish_positive(self) -> bool | None:
        """The ISH result as True / False / None (not done)."""
        return ish_positive(self.ish)

    @property
    def agrees_with_suggestion(self) -> bool | None:
        """Whether the reviewer kept the suggested 4-way score (None when there was no suggestion)."""
        return None if self.suggested_score is None else self.suggested_score == self.score

    def audited_values(self) -> dict[str, Any]:
        """The values an audit entry records for this review."""
        d = asdict(self)
        return {k: d[k] for k in AUDITED_FIELDS}

    def to_report_info(self) -> ReviewInfo:
        """The review as the PDF report's `ReviewInfo`."""
        return ReviewInfo(score=self.score, ish_positive=self.ish_positive, reviewer=self.reviewer,
                          time=self.time, comment=self.comment)


@dataclass(frozen=True)
class AuditEntry:
    """One append-only record of a review being created, changed or cleared, with old and new values."""

    seq: int
    slide_id: str
    core_id: str | None
    action: str  # "create", "change" or "clear"
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    user: str
    time: str

    def changed_fields(self) -> list[str]:
        """Names of the fields whose value differs between old and new."""
        old, new = self.old or {}, self.new or {}
        return [k for k in AUDITED_FIELDS if old.get(k) != new.get(k)]


def dumps_values(values: dict[str, Any] | None) -> str | None:
    """Audit values as JSON text (None stays None)."""
    return None if values is None else json.dumps(values, sort_keys=True)


def loads_values(text: str | None) -> dict[str, Any] | None:
    """Audit values back from JSON text."""
    return None if text is None else json.loads(text)
