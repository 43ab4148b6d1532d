"""Checkpoints: `safetensors` weights (PATH.safetensors) plus a JSON model card (PATH.json).

The card says how to rebuild the network (registry name + keyword arguments), its classes, the input spec
(PSS patch counts, patch size, mpp, half downsample, mean/std), where the training data came from, the
metrics, the parent checkpoint, the command that made it, when, and the sha256 of the weights file.
`load_checkpoint` checks the hash, rebuilds the model from the card and compares every tensor name and
shape before loading; anything that does not fit raises `CheckpointError` saying what. Nothing is ever
unpickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes, atomic_write_text
from ..jsonfile import JSONFileError, read_json

log = logging.getLogger(__name__)

WEIGHTS_SUFFIX = ".safetensors"
CARD_SUFFIX = ".json"
CARD_FORMAT = "her2viewer-model-card/1"
#: bundled checkpoints: resources/models/<method>_default.{safetensors,json}
RESOURCES_MODELS = Path(__file__).resolve().parents[2] / "resources" / "models"


class CheckpointError(Exception):
    """A checkpoint cannot be used; the message names the file and what does not match."""


@dataclass
class ModelCard:
    """What a checkpoint is: architecture, classes, input spec, provenance, metrics, weights hash."""

    name: str
    architecture: dict[str, Any]  # {"name": registry name, "kwargs": {...}}
    classes: list[str] = field(default_factory=lambda: ["0", "1+", "2+", "3+"])
    input_spec: dict[str, Any] = field(default_factory=dict)  # PSSSpec fields + "mean" + "std"
    version: str = "1"
    method: str = "pss"
    training_data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    command: str = ""
    created: str = ""
    sha256: str = ""
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The card as a JSON-ready dict (with a format tag)."""
        d = dataclasses.asdict(self)
        d["format"] = CARD_FORMAT
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "model card") -> ModelCard:
        """Build a card from its JSON dict; raises CheckpointError naming `where` when fields are wrong."""
        if not isinstance(d, dict):
            raise CheckpointError(f"{where}: a model card must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [k for k in ("name", "architecture") if k not in d]
        if missing:
            raise CheckpointError(f"{where}: missing field(s) {', '.join(missing)}")
        arch = d["architecture"]
        if not isinstance(arch, dict) or not isinstance(arch.get("name"), str):
            raise CheckpointError(f"{where}: 'architecture' must be an object with a registry 'name'")
        if not isinstance(arch.get("kwargs", {}), dict):
            raise CheckpointError(f"{where}: 'architecture.kwargs' must be an object")
        classes = d.get("classes", ["0", "1+", "2+", "3+"])
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise CheckpointError(f"{where}: 'classes' must be a list of strings")
        from .card_check import CardLimitError, check_card_limits

        try:
            check_card_limits(d)  # before any model is built from these numbers
        except CardLimitError as e:
            raise CheckpointError(f"{where}: {e}") from None
        known = {k: v for k, v in d.items() if k in names}
        unknown = {k: v for k, v in d.items() if k not in names and k != "format"}
        card = cls(**known)
        card.extra = {**card.extra, **unknown}
        return card

    def to_json(self) -> str:
        """The card as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"


def checkpoint_stem(path: str | Path) -> Path:
    """PATH, PATH.safetensors or PATH.json -> PATH (the stem both files share)."""
    p = Path(path)
    if p.suffix in (WEIGHTS_SUFFIX, CARD_SUFFIX):
        return p.with_suffix("")
    return p


def checkpoint_files(path: str | Path) -> tuple[Path, Path]:
    """(weights file, card file) of a checkpoint given as either file or the stem."""
    stem = checkpoint_stem(path)
    return Path(f"{stem}{WEIGHTS_SUFFIX}"), Path(f"{stem}{CARD_SUFFIX}")


def default_model_path(method: str) -> Path:
    """Stem of the bundled default checkpoint for `method` (resources/models/<method>_default)."""
    return RESOURCES_MODELS / f"{method}_default"


def checkpoint_exists(path: str | Path) -> bool:
    """True when both files of the checkpoint are present."""
    w, c = checkpoint_files(path)
    return w.is_file() and c.is_file()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def save_checkpoint(model: Any, card: ModelCard, path: str | Path) -> Path:
    """Write PATH.safetensors and PATH.json atomically (card.sha256 and card.created are filled in);
    returns the stem PATH."""
    from safetensors.torch import save as st_save

    weights_path, card_path = checkpoint_files(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    data = st_save(state, metadata={"format": "pt", "card": card_path.name})
    card.sha256 = sha256_bytes(data)
    if not card.created:
        card.created = datetime.now(UTC).replace(microsecond=0).isoformat()
    atomic_write_bytes(weights_path, data)
    atomic_write_text(card_path, card.to_json())
    log.info("saved checkpoint %s (%d tensors, sha256 %s)", weights_path, len(state), card.sha256[:12])
    return checkpoint_stem(path)


def read_card(path: str | Path) -> ModelCard:
    """Read and check the JSON model card of a checkpoint (either file or the stem)."""
    _, card_path = checkpoint_files(path)
    if not card_path.is_file():
        raise CheckpointError(f"{card_path}: model card not found")

    try:
        d = read_json(card_path, "model card", max_bytes=16 * 2**20, allow_nonfinite=True)
    except JSONFileError as e:
        raise CheckpointError(str(e)) from None
    return ModelCard.from_dict(d, where=str(card_path))


def compare_state(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """Differences between the model's tensors (`expected`) and the file's (`found`): names and shapes."""
    problems: list[str] = []
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing:
        problems.append(f"missing {len(missing)} tensor(s): {', '.join(missing[:8])}"
                        + (" ..." if len(missing) > 8 else ""))
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} tensor(s): {', '.join(unexpected[:8])}"
                        + (" ..." if len(unexpected) > 8 else ""))
    for k in sorted(set(expected) & set(found)):
        if tuple(expected[k].shape) != tuple(found[k].shape):
            problems.append(f"{k}: shape {tuple(found[k].shape)} in the file, {tuple(expected[k].shape)} in the model")
    return problems


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[Any, ModelCard]:
    """Load a checkpoint (either file or the stem) -> (model in eval mode on `device`, card).

    Raises CheckpointError naming the file: missing files, bad JSON, sha256 mismatch, unknown architecture,
    class count that disagrees with the head, missing/unexpected tensors or shape mismatches.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    from .registry import create_model

    weights_path, card_path = checkpoint_files(path)
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: checkpoint weights not found")
    card = read_card(path)
    try:
        data = weights_path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{weights_path}: cannot read: {e}") from e
    digest = sha256_bytes(data)
    if not card.sha256:
        raise CheckpointError(f"{card_path}: the model card has no sha256 of the weights")
    if digest != card.sha256:
        raise CheckpointError(f"{weights_path}: sha256 {digest[:12]}... does not match the card's "
                              f"{card.sha256[:12]}... (the weights were changed or belong to another card)")
    try:
        state = st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{weights_path}: not a valid safetensors file ({e})") from e
    arch = card.architecture
    kwargs = dict(arch.get("kwargs", {}))
    n_classes = kwargs.get("num_classes", len(card.classes))
    if n_classes != len(card.classes):
        raise CheckpointError(f"{card_path}: {len(card.classes)} classes {card.classes} but the architecture "
                              f"has num_classes={n_classes}")
    kwargs["num_classes"] = len(card.classes)
    try:
        model = create_model(arch["name"], **kwargs)
    except KeyError as e:
        raise CheckpointError(f"{card_path}: unknown architecture {arch['name']!r} ({e})") from e
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{card_path}: cannot build {arch['name']!r} with {kwargs}: {e}") from e
    problems = compare_state(model.state_dict(), state)
    if problems:
        raise CheckpointError(f"{weights_path} does not match the architecture in {card_path.name}: "
                              + "; ".join(problems))
    model.load_state_dict(state, strict=True)
    model.eval()
    model.to(device)
    return model, card
