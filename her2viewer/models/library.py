"""The user's own models: fine-tuned checkpoints kept in one folder (the per-user data folder's `models`),
listed for the Scoring panel, installed from a staging folder under a name, and removed. The bundled models
under resources/models are never written or removed here."""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write_text
from .checkpoint import CheckpointError, ModelCard, checkpoint_files, read_card

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class UserModel:
    """A checkpoint of the user's models folder and its card."""

    stem: Path
    card: ModelCard

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def method(self) -> str:
        return self.card.method

    def label(self) -> str:
        """What a model list shows: name, method and the cross-validated accuracy when the card has it."""
        cv = self.card.metrics.get("finetune_cv", {}) if isinstance(self.card.metrics, dict) else {}
        acc = cv.get("finetuned", {}).get("accuracy") if isinstance(cv, dict) else None
        return f"{self.name} ({self.method}" + (f", CV accuracy {acc:.0%})" if isinstance(acc, float) else ")")


def cases_file(stem: str | Path) -> Path:
    """The CSV of the cases a fine-tuned model was trained on, kept beside its checkpoint."""
    return Path(f"{stem}.cases.csv")


def safe_name(name: str) -> str:
    """A file-name-safe model name ('' when nothing usable is left)."""
    return _UNSAFE.sub("_", name.strip()).strip("._")[:80]


def user_models(folder: str | Path, method: str | None = None) -> tuple[list[UserModel], list[str]]:
    """The models in `folder` (of `method` when given), by name; and a sentence per card that cannot be read."""
    models, problems = [], []
    root = Path(folder)
    for card_path in sorted(root.glob("*.json")) if root.is_dir() else []:
        weights, _ = checkpoint_files(card_path)
        if not weights.is_file():
            continue
        try:
            card = read_card(card_path)
        except CheckpointError as e:
            problems.append(str(e))
            continue
        if method is None or card.method == method:
            models.append(UserModel(weights.with_suffix(""), card))
    return sorted(models, key=lambda m: m.name.lower()), problems


def model_exists(folder: str | Path, name: str) -> bool:
    """Whether `folder` already holds a model of this (safe) name."""
    return any(p.exists() for p in checkpoint_files(Path(folder) / safe_name(name)))


def install_model(staged: str | Path, folder: str | Path, name: str, *, overwrite: bool = False) -> Path:
    """Copy a staged checkpoint into `folder` as `name` (its card renamed); returns the new stem."""
    stem_name = safe_name(name)
    if not stem_name:
        raise CheckpointError(f"{name!r} is not a usable model name (use letters, digits, - or _)")
    card = read_card(staged)
    src_w, _ = checkpoint_files(staged)
    dst = Path(folder) / stem_name
    dst_w, dst_c = checkpoint_files(dst)
    if not overwrite and (dst_w.exists() or dst_c.exists()):
        raise CheckpointError(f"a model named {stem_name} already exists in {folder}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    card.name = stem_name
    tmp = dst_w.with_name(dst_w.name + ".part")
    shutil.copyfile(src_w, tmp)
    tmp.replace(dst_w)
    atomic_write_text(dst_c, card.to_json())
    if cases_file(staged).is_file():
        shutil.copyfile(cases_file(staged), cases_file(dst))
    log.info("installed model %s -> %s", staged, dst)
    return dst


def remove_model(stem: str | Path, folder: str | Path) -> None:
    """Delete a model of the user's folder (CheckpointError for anything outside it, e.g. a bundled model)."""
    w, c = checkpoint_files(stem)
    root = Path(folder).resolve()
    if w.resolve().parent != root:
        raise CheckpointError(f"{stem} is not in the user's models folder {root}; it is not removed")
    for p in (w, c, cases_file(w.with_suffix(""))):
        p.unlink(missing_ok=True)
