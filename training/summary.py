"""What every training run records and shares (the patch and the MIL runs alike): the synthetic-data notice,
the `RunReport`, the data summary per split, the hardware, and the validation split."""

from __future__ import annotations

import csv
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from her2viewer.models.checkpoint import ModelCard

from .config import TrainConfig
from .cv import holdout_split
from .items import Item, class_counts, label_indices, map_labels, read_items
from .loop import FitResult

SYNTHETIC_NOTICE = ("Trained on synthetic data only (her2viewer.synth); it must be fine-tuned and validated on "
                    "real labelled cases before any use. Research use only; not a medical device.")


@dataclass
class RunReport:
    """What `train` produced: the checkpoint stem, its card, fit results per fold, evaluation metrics."""

    checkpoint: Path
    card: ModelCard
    fits: list[FitResult] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


def _ranges(values: Sequence[int]) -> str:
    v = sorted(set(values))
    if not v:
        return ""
    parts, start, prev = [], v[0], v[0]
    for x in v[1:] + [None]:
        if x is not None and x == prev + 1:
            prev = x
            continue
        parts.append(f"{start}-{prev}" if prev != start else f"{start}")
        if x is not None:
            start = prev = x
    return ",".join(parts)


def describe_data(source: str, items: Sequence[Item], classes: Sequence[str]) -> dict[str, Any]:
    """Counts per class and patient; seeds and generator version when the CSV has those columns."""
    d: dict[str, Any] = {"source": str(source), "n_items": len(items),
                         "n_patients": len({it.patient_id for it in items}),
                         "counts": class_counts(items, classes)}
    paths = {str(Path(it.path).resolve()) for it in items}
    csv_path = Path(source) / "labels.csv" if Path(source).is_dir() else Path(source)
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        base = csv_path.parent
        rows = [r for r in rows if str((base / (r.get("file") or r.get("path") or "")).resolve()) in paths]
        seeds = [int(r["seed"]) for r in rows if (r.get("seed") or "").lstrip("-").isdigit()]
        if seeds:
            d["seeds"] = _ranges(seeds)
        versions = sorted({r["generator_version"] for r in rows if r.get("generator_version")})
        if versions:
            d["generator_version"] = ",".join(versions)
        diam = sorted({r["diameter_px"] for r in rows if r.get("diameter_px")})
        if diam:
            d["diameter_px"] = ",".join(diam)
    except (OSError, ValueError, KeyError):
        pass
    return d


def hardware() -> dict[str, Any]:
    """Where the run happened."""
    hw = {"platform": platform.platform(), "cpu": platform.processor() or platform.machine(),
          "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    if torch.cuda.is_available():
        hw["cuda"] = torch.cuda.get_device_name(0)
    return hw


def split_validation(cfg: TrainConfig, items: Sequence[Item], classes: Sequence[str]
                     ) -> tuple[list[Item], list[Item], dict[str, Any]]:
    """(training items, validation items, their data summaries): cfg.val_data when given, else a patient-wise
    stratified split of `items` (cfg.val_fraction, default 0.2)."""
    if cfg.val_data:
        val_items = map_labels(read_items(cfg.val_data), cfg.label_map)
        return list(items), val_items, {"train": describe_data(cfg.data, items, classes),
                                        "val": describe_data(cfg.val_data, val_items, classes)}
    keep, held = holdout_split(label_indices(items, classes), [it.patient_id for it in items],
                               cfg.val_fraction or 0.2, seed=cfg.seed + 1)
    train_items, val_items = [items[i] for i in keep], [items[i] for i in held]
    return train_items, val_items, {"train": describe_data(cfg.data, train_items, classes),
                                    "val": describe_data(cfg.data, val_items, classes)}
