"""Training attention-MIL aggregators (IPD-Breast approach a) on cached tile features.

Each labelled item (a core image, or a TMA core of a slide) becomes one bag: its tissue tiles at the
configured magnification through the configured backbone (`her2viewer.features`), cached on disk so a
second run, another aggregator or a cross-validation fold costs no backbone pass. The aggregator is trained
one bag per step with its paper's objective (`her2viewer.models.mil.train.mil_train_step`), the epoch of
lowest validation loss is kept, and the checkpoint's card holds the feature spec the scorer rebuilds.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from her2viewer.features import FeatureCache, TileSpec, extract_bag, get_extractor
from her2viewer.features.extractor import DEFAULT_BACKBONE, DEFAULT_WEIGHTS, FeatureExtractor
from her2viewer.models.mil import MIL_MODELS
from her2viewer.models.mil.train import mil_train_step, predict_bags
from her2viewer.models.registry import create_model
from her2viewer.progress import Task
from her2viewer.slide import open_slide

from .data import item_region
from .items import Item

log = logging.getLogger(__name__)

#: defaults of the `features` table of a MIL training config
DEFAULT_FEATURES: dict[str, Any] = {"backbone": DEFAULT_BACKBONE, "weights": DEFAULT_WEIGHTS,
                                    "tile_px": 256, "mpp": 0.5, "min_tissue": 0.5, "max_tiles": 0}


@dataclass
class FeatureSet:
    """Bags of tile features for a list of items, with the extractor and tile spec that made them."""

    bags: list[np.ndarray]
    extractor: FeatureExtractor
    tiles: TileSpec
    weights: str
    seconds: float = 0.0
    n_tiles: int = 0
    cached: int = 0

    def input_spec(self) -> dict[str, Any]:
        """The model card input_spec of an aggregator trained on these features."""
        from her2viewer.scoring.mil.scorer import mil_input_spec

        return mil_input_spec(self.extractor.identity(), self.tiles, self.weights)


def feature_settings(features: dict[str, Any] | None) -> tuple[str, str, TileSpec]:
    """(backbone, weights, TileSpec) from a config's `features` table over the defaults."""
    f = {**DEFAULT_FEATURES, **(features or {})}
    unknown = sorted(set(f) - set(DEFAULT_FEATURES))
    if unknown:
        raise ValueError(f"unknown feature setting(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_FEATURES)}")
    tiles = TileSpec(int(f["tile_px"]), float(f["mpp"]), float(f["min_tissue"]), int(f["max_tiles"]))
    return str(f["backbone"]), str(f["weights"]), tiles


def item_features(items: Sequence[Item], features: dict[str, Any] | None = None, *, cache_dir: str | Path | None,
                  device: str = "cpu", task: Task | None = None) -> FeatureSet:
    """One bag of tile features per item (the item's core, or its whole tissue), through the feature cache."""
    task = task or Task()
    backbone, weights, tiles = feature_settings(features)
    extractor = get_extractor(backbone, weights, device)
    cache = FeatureCache(cache_dir) if cache_dir is not None else None
    bags, t0, calls0, cached = [], time.perf_counter(), extractor.calls, 0
    for i, it in enumerate(items):
        sub = task.sub(i / len(items), (i + 1) / len(items))
        before = extractor.calls
        with open_slide(it.path) as source:
            bag = extract_bag(source, item_region(source, it), extractor, tiles, cache=cache, task=sub)
        cached += extractor.calls == before
        bags.append(bag.features)
    fs = FeatureSet(bags, extractor, tiles, weights, time.perf_counter() - t0, sum(len(b) for b in bags), cached)
    log.info("features of %d items (%d tiles, %d from the cache, %d backbone batches) in %.1f s", len(items),
             fs.n_tiles, cached, extractor.calls - calls0, fs.seconds)
    return fs


@dataclass
class MILFit:
    """What one aggregator fit gave: the model (best epoch), the per-epoch history and timings."""

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def _mean_loss(model: nn.Module, bags: Sequence[torch.Tensor], labels: Sequence[int]) -> float:
    model.eval()
    ce = nn.CrossEntropyLoss()
    with torch.inference_mode():
        losses = [float(ce(model(b)[0].float()[None], torch.tensor([int(y)]))) for b, y in zip(bags, labels,
                                                                                                strict=True)]
    return float(np.mean(losses)) if losses else float("nan")


def fit_aggregator(aggregator: str, bags: Sequence[np.ndarray], labels: Sequence[int], n_classes: int, *,
                   val_bags: Sequence[np.ndarray] = (), val_labels: Sequence[int] = (), epochs: int = 40,
                   lr: float = 2e-4, weight_decay: float = 1e-4, seed: int = 0, model_kwargs: dict | None = None,
                   early_stopping: int = 10, task: Task | None = None) -> MILFit:
    """Train one aggregator; keeps the epoch of lowest validation loss (the last epoch without validation)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one bag per step: tiny matrices run several times faster on one thread
    try:
        return _fit_aggregator(aggregator, bags, labels, n_classes, val_bags, val_labels, epochs, lr, weight_decay,
                               seed, model_kwargs, early_stopping, task or Task())
    finally:
        torch.set_num_threads(threads)


def _fit_aggregator(aggregator: str, bags: Sequence[np.ndarray], labels: Sequence[int], n_classes: int,
                    val_bags: Sequence[np.ndarray], val_labels: Sequence[int], epochs: int, lr: float,
                    weight_decay: float, seed: int, model_kwargs: dict | None, early_stopping: int,
                    task: Task) -> MILFit:
    if aggregator not in MIL_MODELS:
        raise ValueError(f"unknown MIL aggregator {aggregator!r}; use one of {', '.join(MIL_MODELS)}")
    torch.manual_seed(seed)
    gen = np.random.default_rng(seed)
    dim = int(bags[0].shape[1])
    kwargs = {"dropout": 0.25, **(model_kwargs or {})}
    if aggregator.startswith("clam"):
        # k_sample adapted to small bags: at most a quarter of the median bag
        kwargs.setdefault("k_sample", int(max(1, min(8, np.median([len(b) for b in bags]) // 4))))
    model = create_model(MIL_MODELS[aggregator], in_dim=dim, num_classes=n_classes, **kwargs)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    tr = [torch.as_tensor(b, dtype=torch.float32) for b in bags]
    va = [torch.as_tensor(b, dtype=torch.float32) for b in val_bags]
    best, best_loss, best_epoch, since, history = None, float("inf"), 0, 0, []
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        losses = [mil_train_step(model, tr[i], int(labels[i]), [opt]) for i in gen.permutation(len(tr))]
        sched.step()
        row = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        if va:
            row["val_loss"] = _mean_loss(model, va, val_labels)
            if row["val_loss"] < best_loss - 1e-4:
                best, best_loss, best_epoch, since = copy.deepcopy(model.state_dict()), row["val_loss"], epoch, 0
            else:
                since += 1
        history.append(row)
        task.report(epoch / epochs, f"{aggregator} epoch {epoch}/{epochs}: loss {row['train_loss']:.3f}"
                    + (f", val {row['val_loss']:.3f}" if va else ""))
        if va and early_stopping and since >= early_stopping:
            break
    if best is not None:
        model.load_state_dict(best)
    else:
        best_epoch = len(history)
    model.eval()
    fit = MILFit(model, history, best_epoch, time.perf_counter() - t0)
    log.info("%s: %d bags, %d epochs (best %d) in %.1f s", aggregator, len(tr), len(history), best_epoch, fit.seconds)
    return fit


def train_mil(cfg: Any, *, command: str = "", task: Task | None = None) -> Any:
    """`her2viewer train` with dataset = "mil": features (cached), one aggregator fit with validation-loss
    selection, evaluation on the validation and test sets, and the checkpoint with its model card."""
    from her2viewer.models.checkpoint import ModelCard, checkpoint_stem, save_checkpoint

    from .items import class_names, label_indices, map_labels, read_items
    from .metrics import classification_metrics
    from .summary import SYNTHETIC_NOTICE, RunReport, describe_data, hardware, split_validation

    task = task or Task()
    aggregator = cfg.model.removeprefix("mil_")
    if aggregator not in MIL_MODELS:
        raise ValueError(f"model {cfg.model!r} is not a MIL aggregator; use one of {', '.join(MIL_MODELS.values())}")
    from .config import ConfigError

    if getattr(cfg, "folds", 0) and cfg.folds >= 2:   # said, not silently ignored
        raise ConfigError(f"--folds is not supported for MIL training yet; cross-validate with `her2viewer compare "
                         f"--data {cfg.data} --methods {cfg.model} --folds {cfg.folds}`")
    if getattr(cfg, "finetune", None):
        raise ConfigError("--finetune is not supported for MIL: the aggregator is trained from scratch on the tile "
                         "features (the feature extractor stays as it is)")
    out = checkpoint_stem(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    items = map_labels(read_items(cfg.data), cfg.label_map)
    classes = class_names(items)
    items, val_items, data = split_validation(cfg, items, classes)
    test_items = map_labels(read_items(cfg.test_data), cfg.label_map) if cfg.test_data else []
    everything = items + val_items + test_items
    t0 = time.perf_counter()
    fs = item_features(everything, cfg.features, cache_dir=cfg.feature_cache or None, device=cfg.device
                       if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"),
                       task=task.sub(0.0, 0.6))
    n_tr, n_va = len(items), len(val_items)
    tr_b, va_b, te_b = fs.bags[:n_tr], fs.bags[n_tr:n_tr + n_va], fs.bags[n_tr + n_va:]
    y_tr, y_va = label_indices(items, classes), label_indices(val_items, classes)
    fit = fit_aggregator(aggregator, tr_b, y_tr, len(classes), val_bags=va_b, val_labels=y_va, epochs=cfg.epochs,
                         lr=cfg.lr, weight_decay=cfg.weight_decay, seed=cfg.seed, model_kwargs=cfg.model_kwargs,
                         early_stopping=cfg.early_stopping, task=task.sub(0.6, 0.95))

    def evaluate(bags: list[np.ndarray], y: list[int], its: list[Item]) -> dict[str, Any]:
        p = predict_bags(fit.model, bags)
        return classification_metrics(y, p.argmax(1).tolist(), p, ish=[it.ish for it in its])

    metrics: dict[str, Any] = {"best_epoch": fit.best_epoch, "validation": evaluate(va_b, y_va, val_items)}
    if test_items:
        metrics["test"] = evaluate(te_b, label_indices(test_items, classes), test_items)
        data["test"] = describe_data(cfg.test_data, test_items, classes)
    card = ModelCard(name=out.name, architecture={"name": MIL_MODELS[aggregator], "kwargs": fit.model.config()},
                     classes=list(classes), input_spec=fs.input_spec(), method="mil", training_data=data,
                     command=command, metrics=metrics)
    if any("generator_version" in d for d in data.values()):
        card.description = SYNTHETIC_NOTICE
    card.extra = {"config": cfg.to_dict(), "hardware": hardware(), "seed": cfg.seed, "history": fit.history,
                  "feature_seconds": round(fs.seconds, 1), "n_tiles": fs.n_tiles,
                  "training_time_s": round(time.perf_counter() - t0, 1)}
    save_checkpoint(fit.model, card, out)
    task.report(1.0, f"saved {out}")
    return RunReport(out, card, [], metrics)


def evaluate_mil(model: nn.Module, card: Any, items: Sequence[Item], labels: Sequence[int], *,
                 cache_dir: str | Path | None = None, device: str = "cpu") -> dict[str, Any]:
    """Metrics and per-item predictions of a MIL checkpoint on labelled items (features as its card says)."""
    from .evaluate import Prediction
    from .metrics import classification_metrics

    tiles = dict(card.input_spec.get("tiles", {}))
    ext = dict(card.input_spec.get("extractor", {}))
    features = {"backbone": ext.get("backbone", DEFAULT_BACKBONE), "weights": ext.get("weights", DEFAULT_WEIGHTS),
                **{k: tiles[k] for k in ("tile_px", "mpp", "min_tissue", "max_tiles") if k in tiles}}
    fs = item_features(items, features, cache_dir=cache_dir, device=device)
    probs = predict_bags(model, fs.bags)
    preds = [Prediction(it.path, int(y), int(p.argmax()), [float(v) for v in p], [[round(float(v), 5) for v in p]],
                        [True]) for it, y, p in zip(items, labels, probs, strict=True)]
    metrics = classification_metrics(list(labels), [p.pred for p in preds], probs, ish=[it.ish for it in items])
    metrics["protocol"] = {"single": True, "n_tiles": fs.n_tiles}
    return {"metrics": metrics, "predictions": preds}
