"""A whole training run from a `TrainConfig`: data, splits (held-out test, validation or k-fold CV), model
(ImageNet / random init or a parent checkpoint), `loop.fit`, N/k evaluation and the checkpoint with its
full model card (data summary, seeds, counts, metrics, command, config, time, hardware, parent).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from her2viewer.models.checkpoint import (
    ModelCard,
    checkpoint_files,
    checkpoint_stem,
    load_checkpoint,
    read_card,
    save_checkpoint,
)
from her2viewer.progress import Task

from .augment import Augment
from .config import TrainConfig
from .cv import holdout_split, patient_folds
from .data import LowResDataset, PatchDataset, PSSDataset
from .evaluate import evaluate_items
from .items import DatasetError, Item, class_names, label_indices, map_labels, read_items
from .loop import FitResult, fit, freeze_backbone, resolve_device, seed_everything
from .metrics import summarize_folds
from .summary import SYNTHETIC_NOTICE, RunReport, describe_data, hardware, split_validation

log = logging.getLogger(__name__)


# ---- spec adapters (her2viewer.scoring.pss.sampler.PSSSpec) -------------------------------------------

def make_spec(overrides: dict[str, Any], base: dict[str, Any] | None = None) -> Any:
    """A PSSSpec from a card's input spec (base) with config overrides; mean/std keys ignored."""
    from her2viewer.scoring.pss.sampler import PSSSpec

    values = {k: v for k, v in {**(base or {}), **overrides}.items() if k not in ("mean", "std")}
    return PSSSpec.from_dict(values) if hasattr(PSSSpec, "from_dict") else PSSSpec(**values)


def spec_dict(spec: Any) -> dict[str, Any]:
    """The spec's fields as a JSON dict."""
    if hasattr(spec, "to_dict"):
        return dict(spec.to_dict())
    import dataclasses
    return dataclasses.asdict(spec)


def spec_patches(spec: Any) -> int:
    """Total patch count of a spec (channels / 3)."""
    for name in ("n_patches", "total_patches"):
        v = getattr(spec, name, None)
        if v is not None:
            return int(v() if callable(v) else v)
    raise AttributeError("PSSSpec has no n_patches")


# ---- model and datasets --------------------------------------------------------------------------------

def build_model(cfg: TrainConfig, n_classes: int, n_patches: int) -> tuple[nn.Module, ModelCard | None, str]:
    """(model, parent card or None, parent stem) from --finetune or a fresh registry model."""
    from her2viewer.models.registry import create_model

    if cfg.finetune:
        model, parent = load_checkpoint(cfg.finetune)
        if len(parent.classes) != n_classes:
            raise ValueError(f"the parent checkpoint {cfg.finetune} has {len(parent.classes)} classes, the data "
                             f"{n_classes}")
        return model, parent, str(cfg.finetune)
    model = create_model(cfg.model, n_patches=n_patches, num_classes=n_classes,
                         pretrained=cfg.init == "imagenet")
    zero_head(model)
    return model, None, ""


def zero_head(model: nn.Module) -> bool:
    """Zero the classifier of a fresh model so it starts at uniform probabilities (loss ln C).

    timm's default head init gives logits of several units on ImageNet features, i.e. confident random
    predictions and a large, slowly falling loss at the start.
    """
    net = getattr(model, "net", model)
    head = net.get_classifier() if hasattr(net, "get_classifier") else None
    if not isinstance(head, nn.Linear):
        return False
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    return True


def make_dataset(cfg: TrainConfig, items: Sequence[Item], labels: Sequence[int], spec: Any, *,
                 train: bool) -> Any:
    """The training (augmented, samples_per_item draws) or validation dataset of cfg.dataset."""
    kw = {"seed": cfg.seed if train else cfg.seed + 7919,
          "augment": Augment.from_dict(cfg.augment) if train else Augment.off(),
          "samples_per_item": cfg.samples_per_item if train else 1, "stain": stain_of(cfg)}
    if cfg.dataset == "pss":
        return PSSDataset(items, labels, spec, **kw)
    if cfg.dataset == "lowres":
        return LowResDataset(items, labels, size=cfg.lowres_size, **kw)
    return PatchDataset(items, labels, size=cfg.lowres_size, **kw)


def stain_of(cfg: TrainConfig) -> Any:
    """The StainReference the run normalises its images to (cfg.stain_reference), or None."""
    from her2viewer.models.stain_normalisation import SPEC_KEY, reference_of

    return reference_of({SPEC_KEY: cfg.stain_reference}, "training config") if cfg.stain_reference else None


#: how many training items a stain reference is fitted on (at most)
REFERENCE_ITEMS = 24


def fit_items_reference(items: Sequence[Item], seed: int = 0, max_items: int = REFERENCE_ITEMS) -> Any:
    """The StainReference of up to `max_items` items (picked at random with `seed`): what a model trained on them
    saw."""
    from her2viewer.models.stain_normalisation import fit_reference
    from her2viewer.qc.stain_type import tissue_sample
    from her2viewer.slide import open_slide

    pick = np.random.default_rng(seed).permutation(len(items))[:max_items]
    samples = []
    for i in sorted(pick):
        with open_slide(items[i].path) as source:
            samples.append(tissue_sample(source))
    return fit_reference(samples)


def resolve_stain_reference(cfg: TrainConfig, items: Sequence[Item], parent: ModelCard | None) -> TrainConfig:
    """cfg with its stain reference filled in: the parent card's when it declares one, else (with
    stain_normalisation on) one fitted on the training items, else none."""
    from her2viewer.models.stain_normalisation import SPEC_KEY

    if parent is not None and parent.input_spec.get(SPEC_KEY):
        return dataclasses.replace(cfg, stain_reference=dict(parent.input_spec[SPEC_KEY]))
    if not cfg.stain_normalisation:
        return dataclasses.replace(cfg, stain_reference={})
    ref = fit_items_reference(items, cfg.seed)
    log.info("stain reference fitted on the training items: %s", ref.to_dict())
    return dataclasses.replace(cfg, stain_reference=ref.to_dict())


def _card(cfg: TrainConfig, model: nn.Module, classes: Sequence[str], spec: Any, *, command: str,
          data: dict[str, Any], parent: ModelCard | None, parent_path: str, name: str) -> ModelCard:
    arch_name = parent.architecture["name"] if parent else cfg.model
    kwargs = model.config() if hasattr(model, "config") else {}
    input_spec: dict[str, Any] = spec_dict(spec) if cfg.dataset == "pss" else {"size": cfg.lowres_size}
    if cfg.dataset == "patch":  # the tile geometry the scorer must cut: the patch set's patch_spec.json
        input_spec = {**patch_geometry(cfg, parent), **input_spec}
    input_spec["mean"], input_spec["std"] = list(getattr(model, "mean", ())), list(getattr(model, "std", ()))
    if cfg.stain_reference:
        from her2viewer.models.stain_normalisation import SPEC_KEY
        input_spec[SPEC_KEY] = dict(cfg.stain_reference)
    card = ModelCard(name=name, architecture={"name": arch_name, "kwargs": kwargs}, classes=list(classes),
                     input_spec=input_spec, method="pss" if cfg.dataset == "pss" else cfg.dataset,
                     training_data=data, command=command,
                     parent=(f"{parent.name} sha256:{parent.sha256}" if parent else None))
    card.extra = {"config": cfg.to_dict(), "hardware": hardware(), "seed": cfg.seed,
                  "init": "finetune" if parent else cfg.init}
    if parent:
        card.extra["parent_checkpoint"] = {"name": parent.name, "sha256": parent.sha256, "path": parent_path}
    return card


def patch_geometry(cfg: TrainConfig, parent: ModelCard | None = None) -> dict[str, Any]:
    """tile_px / mpp / min_tissue of the patch set (its patch_spec.json, else the parent card's); the
    validation set must match."""
    from .synth_patches import PATCH_SPEC_KEYS, read_patch_spec

    geo = read_patch_spec(cfg.data) or {k: parent.input_spec[k] for k in PATCH_SPEC_KEYS
                                        if parent and k in parent.input_spec}
    if cfg.val_data and (val := read_patch_spec(cfg.val_data)) and geo and val != geo:
        raise DatasetError(f"{cfg.val_data}: patches of {val}, but the training patches are {geo}")
    if not geo:
        log.warning("%s has no patch_spec.json: the card gets no tile_px / mpp / min_tissue and the patch "
                    "scorer will assume its defaults", cfg.data)
    return geo


# ---- the run -------------------------------------------------------------------------------------------

def _fit_and_eval(cfg: TrainConfig, tr_items: list[Item], va_items: list[Item], classes: Sequence[str],
                  spec: Any, out: Path, card: ModelCard, task: Task) -> tuple[FitResult, dict[str, Any]]:
    """Train one model on tr_items (selection on va_items), save the best to `out`, evaluate it with N/k."""
    seed_everything(cfg.seed)
    model, parent, _ = build_model(cfg, len(classes), spec_patches(spec) if cfg.dataset == "pss" else 1)
    lr = cfg.lr * (cfg.finetune_lr_factor if parent else 1.0)
    if cfg.freeze_backbone:
        log.info("froze %d backbone tensors", freeze_backbone(model))
    tr_y, va_y = label_indices(tr_items, classes), label_indices(va_items, classes)
    train_ds = make_dataset(cfg, tr_items, tr_y, spec, train=True)
    val_ds = make_dataset(cfg, va_items, va_y, spec, train=False)
    for ds in (train_ds, val_ds):
        if hasattr(ds, "preload"):
            ds.preload(cfg.num_workers)

    card.architecture["kwargs"] = model.config() if hasattr(model, "config") else {}
    card.input_spec["mean"] = list(getattr(model, "mean", card.input_spec.get("mean", ())))
    card.input_spec["std"] = list(getattr(model, "std", card.input_spec.get("std", ())))

    def on_best(m: nn.Module, epoch: int, row: dict[str, Any]) -> None:
        card.metrics = {"best_epoch": epoch, "val_loss": row["val_loss"], "val_acc_single_sample": row["val_acc"]}
        save_checkpoint(m, card, out)

    t0 = time.perf_counter()
    res = fit(model, train_ds, val_ds, cfg, n_classes=len(classes), state_path=f"{out}.state",
              log_path=f"{out}.metrics", on_best=on_best, task=task.sub(0.0, 0.9),
              resume=cfg.resume or None, lr=lr)
    best, _ = load_checkpoint(out)
    device = resolve_device(cfg.device)
    res.train_time_s = time.perf_counter() - t0 if not cfg.resume else res.train_time_s
    if not cfg.nk_on_val:
        return res, {"note": "N/k evaluation on the validation set was switched off (nk_on_val = false)"}
    ev = evaluate_items(best, va_items, va_y, dataset=cfg.dataset, spec=spec, n=cfg.eval_n, k=cfg.eval_k,
                        seed=cfg.seed + 1, lowres_size=cfg.lowres_size, device=device,
                        batch_size=max(cfg.batch_size, 16), num_workers=cfg.num_workers,
                        task=task.sub(0.9, 1.0), ish=[it.ish for it in va_items], stain=stain_of(cfg))
    return res, ev["metrics"]


def _cross_validate(cfg: TrainConfig, items: list[Item], classes: Sequence[str], spec: Any, out: Path,
                    card_args: dict[str, Any], task: Task) -> tuple[list[FitResult], nn.Module, ModelCard, dict]:
    """Patient-wise k-fold cross-validation; the fold with the lowest validation loss becomes `out`."""
    folds = patient_folds(label_indices(items, classes), [it.patient_id for it in items], cfg.folds, cfg.seed)
    fits: list[FitResult] = []
    per_fold, stems = [], []
    for i, (tr, va) in enumerate(folds):
        stem = out.with_name(f"{out.name}.fold{i + 1}")
        card = _card(cfg, nn.Identity(), classes, spec, name=f"{out.name}.fold{i + 1}", **card_args)
        res, m = _fit_and_eval(cfg, [items[j] for j in tr], [items[j] for j in va], classes, spec, stem,
                               card, task.sub(i / len(folds), (i + 1) / len(folds)))
        fits.append(res)
        per_fold.append(m)
        stems.append(stem)
        log.info("fold %d/%d: accuracy %.3f", i + 1, len(folds), m["accuracy"])
    best_i = int(np.argmin([f.best_val_loss for f in fits]))
    for src, dst in zip(checkpoint_files(stems[best_i]), checkpoint_files(out), strict=True):
        shutil.copyfile(src, dst)
    model, card = load_checkpoint(out)
    metrics = {"cv": {"folds": cfg.folds, "per_fold": per_fold, "summary": summarize_folds(per_fold),
                      "chosen_fold": best_i + 1}}
    return fits, model, card, metrics


def _test_metrics(cfg: TrainConfig, model: nn.Module, test_items: list[Item], classes: Sequence[str], spec: Any,
                  task: Task) -> dict[str, Any]:
    """N/k evaluation of the trained model on the held-out and / or separate test items."""
    try:
        test_y = label_indices(test_items, classes)
    except ValueError as exc:
        raise DatasetError(f"{cfg.test_data}: a test label is not one of the classes {list(classes)}") from exc
    ev = evaluate_items(model, test_items, test_y, dataset=cfg.dataset, spec=spec, n=cfg.eval_n,
                        k=cfg.eval_k, seed=cfg.seed + 2, lowres_size=cfg.lowres_size,
                        device=resolve_device(cfg.device), batch_size=max(cfg.batch_size, 16),
                        num_workers=cfg.num_workers, task=task, ish=[it.ish for it in test_items],
                        stain=stain_of(cfg))
    return ev["metrics"]


def train(cfg: TrainConfig, *, command: str = "", task: Task | None = None) -> RunReport:
    """Run the configured training; writes cfg.out (+ .state, .log) and returns the report."""
    task = task or Task()
    if cfg.max_threads:
        torch.set_num_threads(cfg.max_threads)
    if cfg.dataset == "mil":
        from .mil import train_mil
        return train_mil(cfg, command=command, task=task)
    seed_everything(cfg.seed)
    out = checkpoint_stem(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    items = map_labels(read_items(cfg.data), cfg.label_map)
    test_items: list[Item] = []  # a separate test set is read after training (it may still be written)
    classes = class_names(items)
    if cfg.test_fraction > 0:
        keep, held = holdout_split(label_indices(items, classes), [it.patient_id for it in items],
                                   cfg.test_fraction, seed=cfg.seed)
        test_items = test_items + [items[i] for i in held]
        items = [items[i] for i in keep]
    parent_card = read_card(cfg.finetune) if cfg.finetune else None
    cfg = resolve_stain_reference(cfg, items, parent_card)
    spec = make_spec(cfg.spec, parent_card.input_spec if parent_card else None) if cfg.dataset == "pss" else None
    data: dict[str, Any] = {"train": describe_data(cfg.data, items, classes)}
    name = out.name
    t0 = time.perf_counter()
    fits: list[FitResult] = []
    card_args = {"command": command, "data": data, "parent": parent_card, "parent_path": cfg.finetune}
    if cfg.folds >= 2:
        fits, model, card, metrics = _cross_validate(cfg, items, classes, spec, out, card_args, task)
    else:
        items, val_items, split_data = split_validation(cfg, items, classes)
        data.update(split_data)
        card = _card(cfg, nn.Identity(), classes, spec, name=name, **card_args)
        res, m = _fit_and_eval(cfg, items, val_items, classes, spec, out, card,
                               task.sub(0.0, 0.85 if test_items or cfg.test_data else 1.0))
        fits.append(res)
        model, card = load_checkpoint(out)
        metrics = {"validation": m}
    if cfg.test_data:
        test_items = test_items + map_labels(read_items(cfg.test_data), cfg.label_map)
    if test_items:
        metrics["test"] = _test_metrics(cfg, model, test_items, classes, spec, task.sub(0.85, 1.0))
        data["test"] = describe_data(cfg.test_data or cfg.data, test_items, classes)
    card.metrics = {**card.metrics, **metrics}
    card.training_data = data
    if any("generator_version" in d for d in data.values() if isinstance(d, dict)):
        card.description = SYNTHETIC_NOTICE
    card.extra["training_time_s"] = round(time.perf_counter() - t0, 1)
    card.extra["epochs_run"] = [f.epochs_run for f in fits]
    card.extra["best_epoch"] = [f.best_epoch for f in fits]
    card.created = ""
    save_checkpoint(model, card, out)
    return RunReport(out, card, fits, metrics)
