"""The training loop: class-weighted cross entropy, AdamW, reduce-on-plateau on the validation loss, early
stopping, the best model by validation loss, a per-epoch metrics log (CSV + JSON), a resumable training
state after every epoch, progress with ETA, and CUDA with mixed precision when present.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from her2viewer.atomic import atomic_write_text
from her2viewer.progress import Task

from .config import TrainConfig
from .data import make_loader, reseed_loader
from .state import load_state, save_state

log = logging.getLogger(__name__)


def class_weights(labels: Sequence[int], n_classes: int) -> torch.Tensor:
    """Cross-entropy weights inversely proportional to class frequency, normalised to sum to 1.

    w_c = (1 / n_c) / sum_j (1 / n_j) over the classes present; an absent class gets weight 0.
    """
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=n_classes).astype(np.float64)
    inv = np.where(counts > 0, 1.0 / np.maximum(counts, 1.0), 0.0)
    if inv.sum() == 0:
        raise ValueError("no labels to weight")
    return torch.tensor(inv / inv.sum(), dtype=torch.float32)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when present else cpu; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for (--device cuda) but no CUDA device is available")
    return torch.device(name)


def normalize_batch(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(B, 3P, H, W) uint8 -> float, (x/255 - mean) / std with the RGB mean/std repeated per patch."""
    c = x.shape[1]
    m = torch.tensor(list(mean) * (c // 3), dtype=torch.float32, device=x.device).view(1, c, 1, 1)
    s = torch.tensor(list(std) * (c // 3), dtype=torch.float32, device=x.device).view(1, c, 1, 1)
    return (x.float() / 255.0 - m) / s


def model_norm(model: nn.Module) -> tuple[Sequence[float], Sequence[float]]:
    """The model's input mean / std (PSSNet carries them), ImageNet's otherwise."""
    return (getattr(model, "mean", (0.485, 0.456, 0.406)), getattr(model, "std", (0.229, 0.224, 0.225)))


@dataclass
class FitResult:
    """What `fit` did: the best epoch and its validation loss, the per-epoch history, time spent."""

    best_epoch: int = -1
    best_val_loss: float = float("inf")
    epochs_run: int = 0
    stopped_early: bool = False
    train_time_s: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


def _write_log(log_path: Path | None, history: list[dict[str, Any]]) -> None:
    if log_path is None or not history:
        return
    atomic_write_text(log_path.with_name(log_path.name + ".json"), json.dumps(history, indent=1))
    keys = list(history[0])
    lines = [",".join(keys)]
    for row in history:
        lines.append(",".join(str(row.get(k, "")) for k in keys))
    atomic_write_text(log_path.with_name(log_path.name + ".csv"), "\n".join(lines) + "\n")


def run_epoch(model: nn.Module, loader: Any, loss_fn: nn.Module, device: torch.device, *,
              optimizer: torch.optim.Optimizer | None = None, scaler: Any = None,
              task: Task | None = None, desc: str = "") -> dict[str, float]:
    """One pass over `loader` (training when an optimizer is given): mean loss and accuracy."""
    train = optimizer is not None
    model.train(train)
    mean, std = model_norm(model)
    total, n, correct = 0.0, 0, 0
    n_batches = max(1, len(loader))
    use_amp = device.type == "cuda"
    with torch.set_grad_enabled(train):
        for b, (x, y) in enumerate(loader):
            x = normalize_batch(x.to(device, non_blocking=True), mean, std)
            if use_amp:
                x = x.contiguous(memory_format=torch.channels_last)
            y = torch.as_tensor(y, device=device)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                logits = model(x)
                loss = loss_fn(logits.float(), y)
            if train:
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
            total += float(loss.detach()) * len(y)
            n += len(y)
            correct += int((logits.detach().argmax(1) == y).sum())
            if task is not None:
                task.report((b + 1) / n_batches, f"{desc} batch {b + 1}/{n_batches} loss {total / n:.4f}")
    return {"loss": total / max(n, 1), "acc": correct / max(n, 1), "n": n}


def fit(model: nn.Module, train_ds: Any, val_ds: Any, cfg: TrainConfig, *, n_classes: int,
        state_path: str | Path | None = None, log_path: str | Path | None = None,
        on_best: Callable[[nn.Module, int, dict[str, Any]], None] | None = None,
        task: Task | None = None, resume: str | Path | None = None,
        lr: float | None = None, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> FitResult:
    """Train `model` on train_ds, select by validation loss; calls on_best(model, epoch, row) on each new best
    and on_epoch(row) after every epoch (losses, accuracies, learning rate, time).

    Saves a resumable state to `state_path` after every epoch; with `resume`, continues after the saved
    epoch with the saved optimizer, scheduler, history and best loss.
    """
    task = task or Task()
    device = resolve_device(cfg.device)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    weights = class_weights(train_ds.labels, n_classes).to(device)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    val_loss_fn = validation_loss(train_ds.labels, val_ds.labels, n_classes, loss_fn, device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr if lr is not None else cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=cfg.plateau_factor,
                                                           patience=cfg.plateau_patience)
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" else None
    result = FitResult()
    start_epoch, since_best = 0, 0
    if resume:
        meta = load_state(resume, model, optimizer, scheduler)
        extra = meta.get("extra", {})
        start_epoch = int(meta["epoch"]) + 1
        result.history = list(extra.get("history", []))
        result.best_epoch = int(extra.get("best_epoch", -1))
        result.best_val_loss = float(extra.get("best_val_loss", float("inf")))
        since_best = int(extra.get("since_best", 0))
        result.train_time_s = float(extra.get("train_time_s", 0.0))
        log.info("resumed from %s after epoch %d", resume, start_epoch - 1)
    log_file = Path(log_path) if log_path else None
    train_loader = make_loader(train_ds, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers,
                               seed=cfg.seed, persistent=True)
    val_loader = make_loader(val_ds, batch_size=cfg.batch_size, shuffle=False, num_workers=cfg.num_workers,
                             seed=cfg.seed, persistent=True)
    t_start = time.perf_counter() - result.train_time_s
    for epoch in range(start_epoch, cfg.epochs):
        frac0 = (epoch - start_epoch) / max(1, cfg.epochs - start_epoch)
        frac1 = (epoch + 1 - start_epoch) / max(1, cfg.epochs - start_epoch)
        sub = task.sub(frac0, frac1)
        train_ds.set_epoch(epoch)
        reseed_loader(train_loader, cfg.seed, epoch)
        tr = run_epoch(model, train_loader, loss_fn, device, optimizer=optimizer, scaler=scaler,
                       task=sub.sub(0.0, 0.85), desc=f"epoch {epoch + 1}/{cfg.epochs} train")
        val_ds.set_epoch(0)  # the same validation samples every epoch: losses comparable
        va = run_epoch(model, val_loader, val_loss_fn, device, task=sub.sub(0.85, 1.0),
                       desc=f"epoch {epoch + 1}/{cfg.epochs} validate")
        scheduler.step(va["loss"])
        elapsed = time.perf_counter() - t_start
        row = {"epoch": epoch, "train_loss": round(tr["loss"], 6), "train_acc": round(tr["acc"], 4),
               "val_loss": round(va["loss"], 6), "val_acc": round(va["acc"], 4),
               "lr": optimizer.param_groups[0]["lr"], "elapsed_s": round(elapsed, 1)}
        result.history.append(row)
        result.epochs_run = epoch + 1
        if on_epoch is not None:
            on_epoch(row)
        improved = va["loss"] < result.best_val_loss
        if improved:
            result.best_val_loss, result.best_epoch, since_best = va["loss"], epoch, 0
            if on_best is not None:
                on_best(model, epoch, row)
        else:
            since_best += 1
        result.train_time_s = elapsed
        eta = task.eta_s(frac1) if start_epoch == 0 else None
        log.info("epoch %d/%d train loss %.4f acc %.3f | val loss %.4f acc %.3f | lr %.2e%s%s", epoch + 1,
                 cfg.epochs, tr["loss"], tr["acc"], va["loss"], va["acc"], row["lr"],
                 " | best" if improved else "", f" | ETA {eta / 60:.1f} min" if eta is not None else "")
        _write_log(log_file, result.history)
        if state_path:
            save_state(state_path, model, optimizer, scheduler, epoch,
                       {"history": result.history, "best_epoch": result.best_epoch,
                        "best_val_loss": result.best_val_loss, "since_best": since_best,
                        "train_time_s": elapsed, "config": cfg.to_dict()})
        task.report(frac1, f"epoch {epoch + 1}/{cfg.epochs} done, val loss {va['loss']:.4f}")
        epoch_s = elapsed / max(1, epoch + 1)
        if cfg.time_budget_min and elapsed + epoch_s > cfg.time_budget_min * 60.0:
            result.stopped_early = True
            log.info("stopping after epoch %d: the next epoch would pass the %.0f min time budget", epoch + 1,
                     cfg.time_budget_min)
            break
        if cfg.early_stopping and since_best >= cfg.early_stopping:
            result.stopped_early = True
            log.info("early stop: no val-loss improvement for %d epochs", since_best)
            break
    if result.best_epoch < 0 and result.history and on_best is not None:
        # no finite validation loss at all: keep the last epoch rather than no model
        log.warning("no epoch had a finite validation loss; keeping the last epoch's model")
        result.best_epoch = result.epochs_run - 1
        on_best(model, result.best_epoch, result.history[-1])
    return result


def validation_loss(train_labels: Sequence[int], val_labels: Sequence[int], n_classes: int,
                    loss_fn: nn.Module, device: Any) -> nn.Module:
    """The loss to select epochs by: the training one, unless the validation set holds a class the training
    set lacks (its weight 0 makes a batch of only that class 0/0 = NaN); then weights over both sets."""
    train_present = set(np.asarray(train_labels, int).tolist())
    if set(np.asarray(val_labels, int).tolist()) <= train_present:
        return loss_fn
    both = list(np.asarray(train_labels, int)) + list(np.asarray(val_labels, int))
    log.warning("the validation set has a class the training set lacks; its loss weighs every class present")
    return nn.CrossEntropyLoss(weight=class_weights(both, n_classes).to(device))


def freeze_backbone(model: nn.Module) -> int:
    """Freeze every parameter except the classifier head (and the widened first conv); returns # frozen."""
    net = getattr(model, "net", model)
    cfg = getattr(net, "pretrained_cfg", {}) or {}
    keep = (cfg.get("classifier", "classifier"),)
    frozen = 0
    for name, p in net.named_parameters():
        if not name.startswith(keep):
            p.requires_grad_(False)
            frozen += 1
    return frozen

