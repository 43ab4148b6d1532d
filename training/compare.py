"""All scoring methods in one patient-wise cross-validation, reported in the IPD-Breast paper's form.

Every method is scored on the same stratified, patient-wise folds of one labelled set. Methods that learn
from the data (the MIL aggregators, the low-resolution ConvNeXt, the patch pipeline's count aggregators)
are trained afresh in every fold on that fold's training patients only (split again 80/20 by patient for
model selection) and predict the held-out patients once. Methods with a fixed model (PSS: the checkpoint
given, trained on other data; rules: no training; the patch classifier of the patch pipeline) predict every
item once and are evaluated on the same folds. Per fold: accuracy, macro F1 and one-vs-rest macro AUC for
4-way (0/1+/2+/3+), 3-way (0/Low/High) and binary (HER2 0 vs >= 1+) of each method's own call (PSS: the
KCS / max rule; rules: the ASCO/CAP table; the others: the top probability), the fixed-model methods scoring
each image as the product does, input checks first (an image they find not assessable has no call: wrong);
the table gives mean +/- sd over folds. Its ECE is that of the called images' confidence over all folds at
once, beside the ECE a perfectly calibrated method would show with the same confidences at this n. A 3-way
method (the low-resolution model) has no 4-way row.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from her2viewer.jsonfile import read_json
from her2viewer.progress import Task
from her2viewer.scoring.asco import SCORES3, SCORES4

from .cv import holdout_split, patient_folds
from .items import Item, map_labels
from .metrics import class_metrics, probs_to_3way, to_3way_indices

log = logging.getLogger(__name__)

MIL_METHODS = ("mil_abmil", "mil_clam_sb", "mil_clam_mb", "mil_dtfd")
PATCH_METHODS = ("patch_vote", "patch_rf", "patch_svm", "patch_mlp")
ALL_METHODS = ("pss", "rules", *MIL_METHODS, "lowres", *PATCH_METHODS)
TASKS = ("4way", "3way", "binary")


@dataclass
class CompareConfig:
    """What `compare` runs and with which settings."""

    data: str
    methods: tuple[str, ...] = ALL_METHODS
    folds: int = 10
    seed: int = 0
    pss_model: str = ""            # default: the bundled PSS model
    patch_model: str = ""          # default: the bundled patch classifier
    features: dict[str, Any] = field(default_factory=dict)  # MIL feature settings (training.mil)
    feature_cache: str = ""        # default: the user feature cache
    mil_epochs: int = 25
    lowres_epochs: int = 20
    lowres_size: int = 224
    lowres_model: str = "lowres_mobilenetv2"  # as the bundled default (a ConvNeXt from scratch is at chance)
    lowres_init: str = "imagenet"  # random | imagenet (only backbones with local ImageNet weights)
    lowres_lr: float = 3e-4
    device: str = "cpu"
    n_samples: int = 20
    top_k: int = 5
    predictions_dir: str = ""      # keep each method's out-of-fold predictions here; a re-run reuses them


@dataclass
class MethodPredictions:
    """Out-of-fold predictions of one method: class probabilities per item (4 or 3 columns) and, where the
    method decides otherwise than by the top probability (PSS's KCS / max rule, the rules' ASCO/CAP table),
    its own call per item (index into `classes`; -1: no call, counted wrong)."""

    method: str
    classes: tuple[str, ...]
    probs: np.ndarray
    seconds: float = 0.0
    note: str = ""
    calls: np.ndarray | None = None

    def pred_index(self) -> np.ndarray:
        """Predicted class index per item (into `classes`): the method's own call, else the top probability."""
        return np.asarray(self.calls, int) if self.calls is not None else np.argmax(self.probs, axis=1)


# ---- metrics ------------------------------------------------------------------------------------------

def task_metrics(y4: np.ndarray, pred: MethodPredictions, idx: np.ndarray) -> dict[str, dict[str, float | None]]:
    """{task: {accuracy, macro_f1, auc, ece}} of a method's calls on the items `idx` (4-way only for 4-way
    methods); the ECE is that of the probability of each call."""
    y4 = np.asarray(y4)[idx]
    p = pred.probs[idx]
    hat = pred.pred_index()[idx]
    blocks: dict[str, dict] = {}
    if pred.classes == SCORES4:
        blocks["4way"] = class_metrics(y4, hat, 4, p, calls_given=True)
        hat3, p3 = np.asarray(to_3way_indices(hat), int), probs_to_3way(p)
    else:
        hat3, p3 = hat, p
    blocks["3way"] = class_metrics(to_3way_indices(y4), hat3, 3, p3, calls_given=True)
    binary = np.where(hat3 < 0, -1, (hat3 != 0).astype(int))   # HER2 0 vs >= 1+
    blocks["binary"] = class_metrics((y4 != 0).astype(int), binary, 2, np.stack([p[:, 0], 1.0 - p[:, 0]], axis=1),
                                     calls_given=True)
    return {t: {"accuracy": b["accuracy"], "macro_f1": b["macro_f1"], "auc": b.get("auc", {}).get("macro"),
                "ece": b.get("ece")} for t, b in blocks.items()}


def pooled_calibration(y4: np.ndarray, pred: MethodPredictions) -> dict[str, float | int]:
    """Accuracy of a method's own-class calls over all items at once (no call: wrong), the ECE of the
    confidence of those it called, and the ECE a perfectly calibrated method with the same confidences would
    show at this n (per-fold ECE on a few items each is mostly noise)."""
    from her2viewer.models.calibration import binned_gap

    from .calibration import calibrated_eces, share_at_least

    y = np.asarray(y4) if pred.classes == SCORES4 else np.asarray(to_3way_indices(y4))
    hat = pred.pred_index()
    called = np.flatnonzero(hat >= 0)                     # an image without a call shows no confidence
    conf = pred.probs[called, hat[called]]
    measured = binned_gap(conf, (hat == y)[called])
    eces = calibrated_eces(conf)                          # one set of draws for the mean and the share
    return {"n": int(len(y)), "called": int(len(conf)), "accuracy": float(np.mean(hat == y)), "ece": measured,
            "ece_if_calibrated": float(np.mean(eces)), "calibrated_at_least_as_far": share_at_least(eces, measured),
            "mean_confidence": float(conf.mean()) if len(conf) else None}


def summarize(per_fold: Sequence[dict[str, dict[str, float | None]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean and sample sd over folds of each task's metrics (folds where a metric is undefined left out)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for t in TASKS:
        for m in ("auc", "macro_f1", "accuracy", "ece"):
            vals = [f[t][m] for f in per_fold if t in f and f[t].get(m) is not None]
            if vals:
                out.setdefault(t, {})[m] = {"mean": float(np.mean(vals)),
                                            "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                                            "n": len(vals)}
    return out


def format_table(summary: dict[str, dict[str, Any]], seconds: dict[str, float] | None = None) -> str:
    """The comparison as a Markdown table: one row per method, AUC / macro F1 / accuracy (%) per task (mean
    ± sd over folds) and the expected calibration error of the method's own classes (4-way, or 3-way for a
    3-class model) over all called items, beside the ECE a perfectly calibrated method would show at this n."""
    head = ["Method"] + [f"{t} {m}" for t in TASKS for m in ("AUC", "F1", "Acc")] + ["ECE (own classes)",
                                                                                    "ECE if calibrated"]
    if seconds:
        head.append("s/item")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, s in summary.items():
        cells = [method]
        for t in TASKS:
            for m in ("auc", "macro_f1", "accuracy"):
                v = s.get(t, {}).get(m)
                cells.append(f"{100 * v['mean']:.1f} ± {100 * v['sd']:.1f}" if v else "n/a")
        pooled = s.get("pooled")
        own = s.get("4way", {}).get("ece") or s.get("3way", {}).get("ece")
        if pooled:
            cells += [f"{pooled['ece']:.3f}", f"{pooled['ece_if_calibrated']:.3f}"]
        else:   # per-fold figures only
            cells += [f"{own['mean']:.3f}" if own else "n/a", "n/a"]
        if seconds:
            cells.append(f"{seconds.get(method, float('nan')):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---- fixed-model methods (one prediction per item) -----------------------------------------------------

def _product_score(scorer: Any, method: str, options: Any, it: Item, task: Task) -> Any:
    """The item's region scored as the product scores it: the input checks first (an image they find not
    assessable, e.g. with too few tumour cells for the rules, gets no call), then the scorer."""
    from her2viewer.scoring.driver import score_slide
    from her2viewer.slide import open_slide

    from .data import item_region

    with open_slide(it.path) as source:
        return score_slide(source, method, options, scope=item_region(source, it), task=task, scorer=scorer)


def _scorer_probs(method: str, items: Sequence[Item], options: Any, task: Task) -> MethodPredictions:
    """Score every item's region with a registered scorer after the input checks; 4-way probabilities and the
    call from its ScoreResult (none where the checks withheld the score)."""
    from her2viewer.scoring.base import create_scorer

    scorer = create_scorer(method, options)
    probs = np.zeros((len(items), 4))
    calls = np.full(len(items), -1)
    t0 = time.perf_counter()
    for i, it in enumerate(items):
        res = _product_score(scorer, method, options, it, task.sub(i / len(items), (i + 1) / len(items)))
        probs[i] = [(res.probabilities or {}).get(c, 0.0) for c in SCORES4]   # {} when the checks withheld it
        calls[i] = SCORES4.index(res.score) if res.score in SCORES4 else -1
        if probs[i].sum() <= 0:
            probs[i] = 0.25 if calls[i] < 0 else np.eye(4)[calls[i]]
    return MethodPredictions(method, SCORES4, probs, (time.perf_counter() - t0) / max(1, len(items)), calls=calls)


def finetune_note(model: str | None, method: str) -> str:
    """A note when the checkpoint was fine-tuned on labelled real cases: on those cases its figures are
    in-sample, and its card holds the cross-validated ones."""
    from her2viewer.models.checkpoint import default_model_path, read_card

    card = read_card(model or default_model_path(method))
    cv = card.metrics.get("finetune_cv") if isinstance(card.metrics, dict) else None
    if not cv:
        return ""
    train = card.training_data.get("train", {}) if isinstance(card.training_data, dict) else {}
    acc = (cv.get("finetuned") or {}).get("accuracy")
    return (f"{card.name} was fine-tuned on {train.get('n_items', '?')} labelled real cases; where these items are "
            "among them its figures here are in-sample. Its card's cross-validated accuracy: "
            + (f"{acc:.1%}" if isinstance(acc, (int, float)) else "?")
            + (f"; its synthetic-only parent: --pss-model resources/models/{card.parent.split()[0]}"
               if card.parent and method == "pss" else ""))


def _rows_of(held: dict[str, Any], items: Sequence[Item]) -> list[int] | None:
    """Each item's row in a held-out record (its `files` and `labels`), matched by file name and label; None
    when one is missing (the record is not of these items)."""
    where = {(f, y): i for i, (f, y) in enumerate(zip(held["files"], held["labels"], strict=True))}
    rows = [where.get((Path(it.path).name, it.label)) for it in items]
    return None if any(r is None for r in rows) else [int(r) for r in rows if r is not None]


def held_out_predictions(model: str | None, method: str, items: Sequence[Item]) -> MethodPredictions | None:
    """The cross-validated predictions a fine-tuned checkpoint's card holds for exactly these items (same file
    names and labels), or None: scoring them again with the model fitted on them would be in-sample."""
    from her2viewer.models.checkpoint import default_model_path, read_card

    card = read_card(model or default_model_path(method))
    held = (card.metrics.get("finetune_cv") or {}).get("held_out") if isinstance(card.metrics, dict) else None
    if not held or tuple(held.get("classes", ())) != tuple(SCORES4):
        return None
    rows = _rows_of(held, items)
    if rows is None:
        return None
    probs = np.asarray(held["probs"], np.float64)[rows]
    calls = np.array([SCORES4.index(held["calls"][r]) for r in rows]) if "calls" in held else None
    return MethodPredictions(method, SCORES4, probs, 0.0,
                             f"{card.name} was fine-tuned on these cases: its card's held-out predictions of "
                             f"{card.metrics['finetune_cv'].get('scheme', 'cross-validation')} (temperature "
                             f"{held.get('temperature')} fitted on them), not a new scoring"
                             + ("" if calls is not None else "; the card keeps no calls: accuracy by the top "
                                "probability"), calls)


def _with_note(pred: MethodPredictions, note: str) -> MethodPredictions:
    pred.note = "; ".join(filter(None, (pred.note, note)))
    return pred


def profile_held_out(items: Sequence[Item]) -> tuple[list[str | None], list[dict[str, float]], str] | None:
    """(calls, bootstrap probabilities, note) of the shipped stain profile's leave-one-out record when it was
    fitted on exactly these items (same file names and labels), or None: scoring them with cut-offs fitted on
    them would be in-sample."""
    from her2viewer.scoring.rules.calibrate import NOT_ASSESSABLE
    from her2viewer.scoring.rules.profile import default_profile

    prof = default_profile()
    cv = prof.cross_validation if isinstance(prof.cross_validation, dict) else {}
    held = cv.get("held_out")
    if not isinstance(held, dict):
        return None
    rows = _rows_of(held, items)
    if rows is None:
        return None
    calls = [None if held["calls"][r] == NOT_ASSESSABLE else held["calls"][r] for r in rows]
    boots = [dict(held["bootstrap"][r] or {}) for r in rows]
    return calls, boots, (f"the stain profile '{prof.name}' was fitted on these cases: its leave-one-out calls "
                          f"(`calibrate --fit {cv.get('fit', '?')}`), not a new scoring")


def _rules_probs(items: Sequence[Item], task: Task) -> MethodPredictions:
    """The rules scorer's probabilities with a call precision fitted on the other items (leave-one-out), not
    the shipped profile's (fitted on real_dev: in-sample there). On the cases the shipped cut-offs were fitted
    on, its calls are the profile's leave-one-out ones."""
    from her2viewer.scoring.base import ScoreOptions, create_scorer
    from her2viewer.scoring.rules.confidence import leave_one_out_precision

    t0 = time.perf_counter()
    held = profile_held_out(items)
    if held is not None:
        calls, boots, source = held
    else:
        options = ScoreOptions(extra={"rules": {"confidence_matrix": None}})
        scorer = create_scorer("rules", options)
        calls, boots, source = [], [], ""
        for i, it in enumerate(items):
            res = _product_score(scorer, "rules", options, it, task.sub(i / len(items), (i + 1) / len(items)))
            calls.append(res.score)       # None, and no probabilities, when the input checks withheld the score
            boots.append(dict(res.probabilities) if res.probabilities else {res.score: 1.0} if res.score else {})
    probs = np.zeros((len(items), 4))
    for i, p in enumerate(leave_one_out_precision(calls, [it.label for it in items], boots)):
        probs[i] = [(p or {}).get(c, 0.0) for c in SCORES4]
        if probs[i].sum() <= 0:
            probs[i] = 0.25  # no call (no tumour cells): nothing known
    note = ("confidence: call precision fitted on the other items (leave-one-out); an image the input checks find "
            "not assessable (too few tumour cells) has no call, counted wrong")
    return MethodPredictions("rules", SCORES4, probs, (time.perf_counter() - t0) / max(1, len(items)),
                             note="; ".join(filter(None, (source, note))),
                             calls=np.array([SCORES4.index(c) if c in SCORES4 else -1 for c in calls]))


def _per_fold_models(items: Sequence[Item], y4: np.ndarray, folds: list, fit_predict: Callable, n_classes: int,
                     seed: int, task: Task) -> np.ndarray:
    """Out-of-fold probabilities: per fold, an inner 80/20 patient split of the training patients for
    selection, then fit_predict(train_idx, select_idx, test_idx) -> probabilities of test_idx."""
    probs = np.zeros((len(items), n_classes))
    patients = [it.patient_id for it in items]
    for f, (tr, te) in enumerate(folds):
        counts = np.bincount(y4[tr])
        smallest = int(counts[counts > 0].min())
        if smallest >= 2:  # 80/20, or coarser when a class has fewer than 5 training patients
            keep, held = holdout_split(y4[tr], [patients[i] for i in tr], 1.0 / min(5, smallest), seed=seed + f)
        else:
            keep, held = np.arange(len(tr)), np.zeros(0, int)
        probs[te] = fit_predict(tr[keep], tr[held], te, task.sub(f / len(folds), (f + 1) / len(folds)))
    return probs


def _mil_predictions(cfg: CompareConfig, items: Sequence[Item], y4: np.ndarray, folds: list, methods: list[str],
                     task: Task) -> list[MethodPredictions]:
    from her2viewer.models.mil.train import predict_bags

    from .mil import fit_aggregator, item_features

    t0 = time.perf_counter()
    fs = item_features(items, cfg.features, cache_dir=cfg.feature_cache or None, device=cfg.device,
                       task=task.sub(0.0, 0.5))
    feat_s = (time.perf_counter() - t0) / len(items)
    out = []
    for j, m in enumerate(methods):
        agg = m.removeprefix("mil_")

        def fit_predict(tr: np.ndarray, va: np.ndarray, te: np.ndarray, sub: Task, agg: str = agg) -> np.ndarray:
            fit = fit_aggregator(agg, [fs.bags[i] for i in tr], y4[tr], 4, val_bags=[fs.bags[i] for i in va],
                                 val_labels=y4[va], epochs=cfg.mil_epochs, seed=cfg.seed, early_stopping=6,
                                 task=sub)
            return predict_bags(fit.model, [fs.bags[i] for i in te])

        t1 = time.perf_counter()
        sub = task.sub(0.5 + 0.5 * j / len(methods), 0.5 + 0.5 * (j + 1) / len(methods))
        probs = _per_fold_models(items, y4, folds, fit_predict, 4, cfg.seed, sub)
        out.append(MethodPredictions(m, SCORES4, probs, feat_s,
                                     f"features {fs.extractor.backbone} ({fs.weights}), {fs.tiles.tile_px} px at "
                                     f"{fs.tiles.mpp:g} um/px, {fs.n_tiles} tiles; fit {time.perf_counter() - t1:.0f} s"))
    return out


def _lowres_predictions(cfg: CompareConfig, items: Sequence[Item], y4: np.ndarray, folds: list,
                        task: Task) -> MethodPredictions:
    from .lowres import fit_lowres, predict_lowres

    items3 = map_labels(items, "3way")
    y3 = np.asarray([SCORES3.index(it.label) for it in items3])

    def fit_predict(tr: np.ndarray, va: np.ndarray, te: np.ndarray, sub: Task) -> np.ndarray:
        model = fit_lowres([items3[i] for i in tr], y3[tr], [items3[i] for i in va], y3[va],
                           model=cfg.lowres_model, size=cfg.lowres_size, epochs=cfg.lowres_epochs, seed=cfg.seed,
                           device=cfg.device, lr=cfg.lowres_lr, pretrained=cfg.lowres_init == "imagenet", task=sub)
        return predict_lowres(model, [items3[i] for i in te], cfg.lowres_size, cfg.device)

    t0 = time.perf_counter()
    probs = _per_fold_models(items, y4, folds, fit_predict, 3, cfg.seed, task)
    return MethodPredictions("lowres", SCORES3, probs, (time.perf_counter() - t0) / len(items),
                             f"{cfg.lowres_model} {cfg.lowres_init} init, {cfg.lowres_size} px, {cfg.lowres_epochs} epochs max")


def _patch_predictions(cfg: CompareConfig, items: Sequence[Item], y4: np.ndarray, folds: list, methods: list[str],
                       task: Task) -> list[MethodPredictions]:
    from her2viewer.scoring.base import ScoreOptions
    from her2viewer.scoring.patch.aggregate import CountAggregator
    from her2viewer.scoring.patch.scorer import PatchScorer, vote_classes

    from .patch_aggregators import count_matrix

    scorer = PatchScorer(ScoreOptions(model_path=cfg.patch_model or None, device=cfg.device,
                                      extra={"patch_aggregator": "vote"}))
    t0 = time.perf_counter()
    x = count_matrix(scorer, items, cache_dir=cfg.predictions_dir or None, task=task.sub(0.0, 0.9))
    per_item = (time.perf_counter() - t0) / len(items)
    out = []
    for m in methods:
        kind = m.removeprefix("patch_")
        if kind == "vote":
            probs = CountAggregator("vote", vote_classes(scorer.patch_classes), scorer.patch_classes).predict_proba(x)
        else:
            probs = np.zeros((len(items), 4))
            for tr, te in folds:
                agg = CountAggregator(kind, list(SCORES4), scorer.patch_classes).fit(x[tr], y4[tr])
                probs[te] = agg.predict_proba(x[te])
        out.append(MethodPredictions(m, SCORES4, probs, per_item, f"patch classifier {scorer.card.name}"))
    return out


# ---- the run -------------------------------------------------------------------------------------------

def compare(cfg: CompareConfig, items: Sequence[Item], *, task: Task | None = None) -> dict[str, Any]:
    """Run the methods on the same patient-wise folds; {'table', 'summary', 'per_fold', 'folds', ...}."""
    from her2viewer.scoring.base import ScoreOptions

    task = task or Task()
    unknown = sorted(set(cfg.methods) - set(ALL_METHODS))
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(ALL_METHODS)}")
    not_4way = sorted({it.label for it in items} - set(SCORES4))
    if not_4way:
        raise ValueError(f"{cfg.data}: the comparison needs 4-way labels (0, 1+, 2+, 3+), not {', '.join(not_4way)}")
    y4 = np.asarray([SCORES4.index(it.label) for it in items])
    folds = patient_folds(y4, [it.patient_id for it in items], cfg.folds, cfg.seed)
    preds: list[MethodPredictions] = []
    groups: list[tuple[str, Callable[[Task], list[MethodPredictions]]]] = []
    if "pss" in cfg.methods:
        opts = ScoreOptions(n_samples=cfg.n_samples, top_k=cfg.top_k, seed=cfg.seed, device=cfg.device,
                            model_path=cfg.pss_model or None)
        groups.append(("pss", lambda t: [held_out_predictions(cfg.pss_model or None, "pss", items)
                                         or _with_note(_scorer_probs("pss", items, opts, t),
                                                       finetune_note(cfg.pss_model or None, "pss"))]))
    if "rules" in cfg.methods:
        groups.append(("rules", lambda t: [_rules_probs(items, t)]))
    mil = [m for m in cfg.methods if m in MIL_METHODS]
    if mil:
        groups.append(("mil", lambda t: _mil_predictions(cfg, items, y4, folds, mil, t)))
    if "lowres" in cfg.methods:
        groups.append(("lowres", lambda t: [_lowres_predictions(cfg, items, y4, folds, t)]))
    patch = [m for m in cfg.methods if m in PATCH_METHODS]
    if patch:
        groups.append(("patch", lambda t: _patch_predictions(cfg, items, y4, folds, patch, t)))
    for g, (name, run) in enumerate(groups):
        t0 = time.perf_counter()
        wanted = [m for m in cfg.methods if m == name or m.startswith(f"{name}_")]
        saved = [_load_predictions(cfg, items, m) for m in wanted]
        if all(p is not None for p in saved):
            preds.extend(p for p in saved if p is not None)
            log.info("compare: %s predictions reused from %s", name, cfg.predictions_dir)
            continue
        made = run(task.sub(g / len(groups), (g + 1) / len(groups)))
        for p in made:
            _save_predictions(cfg, items, p)
        preds.extend(made)
        log.info("compare: %s done in %.0f s", name, time.perf_counter() - t0)
    per_fold = {p.method: [task_metrics(y4, p, te) for _, te in folds] for p in preds}
    summary: dict[str, dict[str, Any]] = {m: summarize(v) for m, v in per_fold.items()}
    for p in preds:
        summary[p.method]["pooled"] = pooled_calibration(y4, p)
    seconds = {p.method: p.seconds for p in preds}
    # seconds per item are kept in the JSON only: they measure different work per method (fixed-model
    # scoring, feature extraction, or training in every fold), so they are not a speed comparison
    return {"table": format_table(summary), "summary": summary, "per_fold": per_fold,
            "folds": [te.tolist() for _, te in folds], "seconds_per_item": seconds,
            "notes": {p.method: p.note for p in preds if p.note},
            "predictions": {p.method: {"classes": list(p.classes), "probs": np.round(p.probs, 5).tolist(),
                                       "calls": p.pred_index().tolist()} for p in preds},
            "items": [{"path": it.path, "label": it.label, "patient_id": it.patient_id} for it in items],
            "config": dataclasses.asdict(cfg)}


def _settings_of(method: str) -> tuple[str, ...]:
    """The settings a method's predictions depend on (the key of its saved predictions)."""
    folds = ("folds", "seed")
    if method == "pss":
        return ("pss_model", "n_samples", "top_k", "seed")
    if method == "rules":
        return ()
    if method in MIL_METHODS:
        return (*folds, "features", "mil_epochs")
    if method == "lowres":
        return (*folds, "lowres_epochs", "lowres_size", "lowres_model", "lowres_init", "lowres_lr")
    return (*folds, "patch_model")


def _checkpoint_sha(cfg: CompareConfig, method: str) -> str:
    """sha256 of the fixed checkpoint a method uses (the bundled one when none is given), so saved
    predictions of a replaced model are not reused; "" for methods without one."""
    from her2viewer.models.checkpoint import CheckpointError, read_card
    from her2viewer.scoring.mil.common import checkpoint_for

    if method == "pss":
        given, name = cfg.pss_model, "pss"
    elif method in PATCH_METHODS:
        given, name = cfg.patch_model, "patch"
    else:
        return ""
    try:
        return read_card(checkpoint_for(given or None, name, name)).sha256
    except CheckpointError:
        return ""


def _predictions_path(cfg: CompareConfig, items: Sequence[Item], method: str) -> Path | None:
    """Where a method's predictions are kept: named by a hash of the items and every setting."""
    if not cfg.predictions_dir:
        return None
    import hashlib

    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k in _settings_of(method)}
    settings["checkpoint_sha256"] = _checkpoint_sha(cfg, method)
    if method == "rules":
        from her2viewer.scoring.rules.profile import DEFAULT_PROFILE

        settings["confidence"] = "call precision, leave-one-out"  # earlier saved predictions were the bootstrap's
        # the shipped cut-offs (and their leave-one-out record) decide the calls
        settings["stain_profile_sha256"] = (hashlib.sha256(DEFAULT_PROFILE.read_bytes()).hexdigest()
                                            if DEFAULT_PROFILE.is_file() else "")
    if method in ("pss", "rules"):
        settings["calls"] = "the method's own, after the input checks"   # earlier: probabilities only
    key = json.dumps({"method": method, "items": [(it.path, it.label, it.patient_id) for it in items],
                      "settings": settings}, sort_keys=True, default=str)
    return Path(cfg.predictions_dir) / f"{method}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"


def _save_predictions(cfg: CompareConfig, items: Sequence[Item], pred: MethodPredictions) -> None:
    path = _predictions_path(cfg, items, pred.method)
    if path is None:
        return
    from her2viewer.atomic import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"method": pred.method, "classes": list(pred.classes),
                                        "probs": pred.probs.tolist(), "seconds": pred.seconds, "note": pred.note,
                                        "calls": None if pred.calls is None else np.asarray(pred.calls).tolist()}))


def _load_predictions(cfg: CompareConfig, items: Sequence[Item], method: str) -> MethodPredictions | None:
    path = _predictions_path(cfg, items, method)
    if path is None or not path.is_file():
        return None
    try:
        d = read_json(path, "saved predictions", allow_nonfinite=True)
        probs = np.asarray(d["probs"], np.float64)
        if probs.shape[0] != len(items):
            return None
        calls = None if d.get("calls") is None else np.asarray(d["calls"], int)
        if calls is not None and calls.shape != (len(items),):
            return None
        return MethodPredictions(method, tuple(d["classes"]), probs, float(d["seconds"]), d.get("note", ""), calls)
    except (OSError, ValueError, KeyError) as e:
        log.warning("ignoring unreadable saved predictions %s: %s", path, e)
        return None


def write_report(result: dict[str, Any], out: str | Path) -> Path:
    """Write the comparison as OUT.json and the table as OUT.md; returns the JSON path."""
    from her2viewer.atomic import atomic_write_text

    out = Path(out)
    base = out.with_suffix("") if out.suffix in (".json", ".md") else out
    atomic_write_text(base.with_suffix(".json"), json.dumps(result, indent=1))
    atomic_write_text(base.with_suffix(".md"), result["table"] + "\n")
    return base.with_suffix(".json")
