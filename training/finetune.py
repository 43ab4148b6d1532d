"""Fine-tune a network on a lab's own reviewed cases, measured by cross-validation against the base model.

    python -m training.finetune --request REQUEST.json      (what Tools > Fine-tune Model runs in a child
                                                             process; one JSON event per line on stdout)
    python -m training.finetune --data DIR --method lowres --out OUT [--base CKPT] [--epochs 8] [--seed 0]

The cases are labelled items (a CSV; the viewer writes a project's reviewed cases with
`her2viewer.project.cases`). `plan_cases` there says what they allow: the count per class, the classes with no
case, and the cross-validation (leave-one-patient-out for few patients, else 5-fold), or why nothing can be
trained. `run_finetune` then

1. scores every case with the base model (it was not fitted on them, so no folds are needed),
2. per fold, fine-tunes a copy of the base on the other folds for a fixed number of epochs (no model
   selection on the held-out fold: the held-out loss is only plotted) and scores the held-out cases,
3. fits a temperature on the pooled held-out predictions (the card's calibration, its ECE measured by a
   nested cross-validation: `training.calibrate_cards.cross_validate`),
4. fine-tunes the shipped model on all cases with the same recipe and writes it with its card (parent,
   cases, the cross-validated base / fine-tuned figures) into a staging folder; `her2viewer.models.library`
   installs it under the user's name.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from her2viewer.models.library import cases_file
from her2viewer.progress import Cancelled, Task
from her2viewer.project.cases import CasePlan, plan_cases, write_cases_csv
from her2viewer.scoring.asco import SCORES4

from .items import Item, in_scheme_of, label_indices, read_items

log = logging.getLogger(__name__)

#: method -> training dataset kind (the bundled base is `default_model_path(method)`)
METHODS = {"pss": "pss", "lowres": "lowres"}
#: learning rate per method when a request gives none (on real_dev, 5-fold CV of the bundled bases: PSS 23.1% ->
#: 23.1% at 1e-4 and 34.6% at 3e-4 after 8-10 epochs; the low-res model 42.3% -> 69.2% at 1e-4)
DEFAULT_LR = {"pss": 3e-4, "lowres": 1e-4}
Emit = Callable[[dict[str, Any]], None]


def plan_items(items: Sequence[Item], classes: Sequence[str]) -> CasePlan:
    """`her2viewer.project.cases.plan_cases` for training items (labels already in the classes' scheme)."""
    return plan_cases([it.label for it in items], [it.patient_id for it in items], classes)


@dataclass
class FinetuneRequest:
    """One fine-tuning run: the cases (a CSV of items), the method, base, epochs and where to stage it."""

    items_csv: str
    method: str
    base: str
    name: str
    staging: str
    epochs: int = 8
    lr: float = 0.0              # 0: the method's default (DEFAULT_LR)
    seed: int = 0
    folds: int = 0               # 0: as plan_cases decides
    samples_per_item: int = 3
    eval_n: int = 20
    eval_k: int = 5
    num_workers: int = 2
    licence: str = ""            # the licence of the cases, stated in the card
    command: str = ""            # the command line that made this request (for the card)
    replay: str = ""             # optional CSV / folder of extra training items (e.g. the synthetic set the base
                                 # was trained on) added to every fold's training set, never evaluated

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> FinetuneRequest:
        return cls(**json.loads(text))


def _config(req: FinetuneRequest, dataset: str, base_card: Any, lr: float) -> Any:
    """The fixed recipe: no early stopping, no plateau schedule (the held-out loss must not steer a fold); the
    images are normalised to the base's stain reference when its card declares one."""
    from her2viewer.models.stain_normalisation import SPEC_KEY

    from .config import TrainConfig

    return TrainConfig(data=req.items_csv, dataset=dataset, finetune=req.base, epochs=req.epochs, lr=lr,
                       finetune_lr_factor=1.0, early_stopping=0, plateau_patience=10 ** 6, seed=req.seed,
                       samples_per_item=req.samples_per_item, eval_n=req.eval_n, eval_k=req.eval_k,
                       num_workers=req.num_workers, lowres_size=int(base_card.input_spec.get("size", 224)),
                       augment={"flip": True, "rot90": True, "stain_p": 0.5, "dab_scale": 0.05,
                                "hema_scale": 0.10},
                       stain_reference=dict(base_card.input_spec.get(SPEC_KEY) or {}))


class _Run:
    """State shared by the steps of one run: request, items, classes, spec, recipe and the event sink."""

    def __init__(self, req: FinetuneRequest, emit: Emit) -> None:
        from her2viewer.models.checkpoint import read_card

        from .runner import make_spec

        if req.method not in METHODS:
            raise ValueError(f"cannot fine-tune the {req.method!r} method (use {' or '.join(METHODS)})")
        self.req, self.emit = req, emit
        self.dataset = METHODS[req.method]
        self.base_card = read_card(req.base)
        self.classes = tuple(self.base_card.classes)
        self.items = in_scheme_of(read_items(req.items_csv), self.classes)
        bad = sorted({it.label for it in self.items} - set(self.classes))
        if bad:
            raise ValueError(f"{req.base}: the model's classes {list(self.classes)} do not include {bad}")
        self.labels = np.array(label_indices(self.items, self.classes))
        self.replay = in_scheme_of(read_items(req.replay), self.classes) if req.replay else []
        self.spec = make_spec({}, self.base_card.input_spec) if self.dataset == "pss" else None
        self.lr = req.lr or DEFAULT_LR[req.method]
        self.cfg = _config(req, self.dataset, self.base_card, self.lr)

    def predict(self, model: Any, idx: Sequence[int], task: Task) -> list[Any]:
        """Predictions (training.evaluate.Prediction) of the items `idx`."""
        from .evaluate import evaluate_items
        from .loop import resolve_device
        from .runner import stain_of

        its = [self.items[i] for i in idx]
        ev = evaluate_items(model, its, self.labels[list(idx)].tolist(), dataset=self.dataset, spec=self.spec,
                            n=self.req.eval_n, k=self.req.eval_k, seed=self.req.seed + 1,
                            lowres_size=self.cfg.lowres_size, device=resolve_device("auto"),
                            batch_size=max(self.req.eval_n, 16), num_workers=self.req.num_workers, task=task,
                            ish=[it.ish for it in its], stain=stain_of(self.cfg))
        return ev["predictions"]

    def train(self, tr: Sequence[int], va: Sequence[int], phase: str, task: Task) -> Any:
        """A copy of the base fine-tuned on items `tr` for the fixed epochs; `va` only gives the plotted loss."""
        from her2viewer.models.checkpoint import load_checkpoint

        from .loop import fit, seed_everything
        from .runner import make_dataset

        seed_everything(self.req.seed)
        model, _ = load_checkpoint(self.req.base)
        # the lab's cases are repeated to weigh as much as the replay set in every epoch
        rep = max(1, round(len(self.replay) / max(1, len(tr)))) if self.replay else 1
        tr_items = [self.items[i] for i in tr] * rep + self.replay
        va_items = [self.items[i] for i in va]
        tr_labels = self.labels[list(tr)].tolist() * rep + label_indices(self.replay, self.classes)
        train_ds = make_dataset(self.cfg, tr_items, tr_labels, self.spec, train=True)
        val_ds = make_dataset(self.cfg, va_items, self.labels[list(va)].tolist(), self.spec, train=False)
        for ds in (train_ds, val_ds):
            if hasattr(ds, "preload"):
                ds.preload(self.req.num_workers)

        def on_epoch(row: dict[str, Any]) -> None:
            self.emit({"event": "epoch", "phase": phase, **row})

        fit(model, train_ds, val_ds, self.cfg, n_classes=len(self.classes), task=task, on_epoch=on_epoch)
        return model


def _figures(classes: Sequence[str], labels: np.ndarray, calls: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """Accuracy, within-one (4-way), confusion matrix, mean confidence and ECE of a set of calls."""
    from sklearn.metrics import confusion_matrix

    from .calibration import ece

    conf = probs[np.arange(len(calls)), calls]
    out = {"n": int(len(labels)), "accuracy": float(np.mean(calls == labels)),
           "confusion": confusion_matrix(labels, calls, labels=list(range(len(classes)))).tolist(),
           "mean_confidence": float(conf.mean()) if len(conf) else 0.0,
           "ece": ece(probs, labels, calls=calls)}
    if tuple(classes) == tuple(SCORES4):
        out["within_one"] = float(np.mean(np.abs(calls - labels) <= 1))
    return out


def _scored(run: _Run, preds: Sequence[Any]) -> Any:
    """The predictions as calibrate_cards' `Scored` (PSS keeps the sample probabilities for the KCS replay)."""
    from .calibrate_cards import Scored

    samples = [np.asarray(p.sample_probs) for p in preds] if run.dataset == "pss" else None
    probs = np.array([p.probs for p in preds]) if samples is not None else \
        np.array([p.sample_probs[0] for p in preds])
    return Scored([p.path for p in preds], run.classes, np.array([p.label for p in preds]), probs, samples,
                  run.req.eval_k)


def run_finetune(req: FinetuneRequest, emit: Emit, task: Task | None = None) -> dict[str, Any]:
    """Cross-validate base vs fine-tuned on the cases, then fine-tune on all and stage the checkpoint."""
    from her2viewer.models.calibration import temperature_of
    from her2viewer.models.checkpoint import save_checkpoint

    from .calibrate_cards import calls_at, cross_validate, fit_t
    from .cv import patient_folds
    from .summary import describe_data, hardware

    task = task or Task()
    t0 = time.perf_counter()
    run = _Run(req, emit)
    plan = plan_items(run.items, run.classes)
    if req.folds >= 2 and plan.ok:
        plan.folds, plan.scheme = req.folds, f"{req.folds}-fold patient-wise cross-validation"
    emit({"event": "plan", "summary": plan.summary(), "ok": plan.ok, "counts": plan.counts,
          "folds": plan.folds, "scheme": plan.scheme})
    if not plan.ok:
        raise ValueError(plan.problem)
    n = len(run.items)
    folds = patient_folds(run.labels.tolist(), [it.patient_id for it in run.items], plan.folds, req.seed)
    # progress: base 8%, folds 72%, final model 20%
    emit({"event": "phase", "phase": "base", "message": f"scoring {n} cases with the base model"})
    from her2viewer.models.checkpoint import load_checkpoint

    base_model, _ = load_checkpoint(req.base)
    base_preds = run.predict(base_model, range(n), task.sub(0.0, 0.08))
    base_t = temperature_of(run.base_card, str(req.base))
    base_s = _scored(run, base_preds)
    base_calls, base_probs = calls_at(base_s, base_t)
    base = _figures(run.classes, base_s.labels, base_calls, base_probs)
    base["temperature"] = base_t
    emit({"event": "base", **base})

    held: list[Any] = [None] * n
    span = 0.72 / len(folds)
    for f, (tr, va) in enumerate(folds):
        sub = task.sub(0.08 + f * span, 0.08 + (f + 1) * span)
        phase = f"fold {f + 1}/{len(folds)}"
        emit({"event": "phase", "phase": phase, "message": f"{phase}: fine-tuning on {len(tr)} cases"})
        model = run.train(tr, va, phase, sub.sub(0.0, 0.85))
        for i, p in zip(va, run.predict(model, va, sub.sub(0.85, 1.0)), strict=True):
            held[int(i)] = p
    cv_s = _scored(run, held)
    raw = _figures(run.classes, cv_s.labels, *calls_at(cv_s, 1.0))
    calib = cross_validate(cv_s, folds=min(5, n), seed=req.seed) if n >= 4 else None
    temp = calib["temperature_all"] if calib else fit_t(cv_s, np.arange(n))   # plan_cases: n >= 2
    t_calls, t_probs = calls_at(cv_s, temp)
    # the fine-tuned figures are those of the model as its card ships it, at its temperature (as the base
    # model's are at its card's): for PSS the temperature divides every sample's logits before the KCS rule,
    # so it can move the calls as well as the confidence
    tuned = _figures(run.classes, cv_s.labels, t_calls, t_probs)
    tuned.update({"temperature": temp, "ece_calibrated": tuned["ece"],
                  "ece_calibrated_cv": calib["ece_after_cv"] if calib else None,
                  "uncalibrated": {k: raw[k] for k in ("accuracy", "mean_confidence", "ece")}})
    emit({"event": "finetuned", **tuned})
    # each case's held-out probabilities and call at the card's temperature: what `compare` reports for this
    # model on these cases, instead of scoring them again with the model that was fitted on them (PSS: also
    # every sample's uncalibrated probabilities, so that another calibration can be fitted on them later)
    held_out = {"files": [Path(f).name for f in cv_s.files], "labels": [run.classes[i] for i in cv_s.labels],
                "classes": list(run.classes), "probs": np.round(t_probs, 5).tolist(),
                "calls": [run.classes[i] for i in t_calls], "temperature": round(float(temp), 4)}
    if cv_s.samples is not None:
        held_out["sample_probs"] = [np.round(sp, 5).tolist() for sp in cv_s.samples]

    emit({"event": "phase", "phase": "final", "message": f"fine-tuning the model to keep on all {n} cases"})
    final = run.train(range(n), range(n), "final", task.sub(0.80, 1.0))
    card = _final_card(run, final, plan, base, tuned, calib, temp, describe_data(req.items_csv, run.items,
                                                                                  run.classes), hardware())
    card.metrics["finetune_cv"]["held_out"] = held_out
    if run.replay:
        card.training_data["replay"] = describe_data(req.replay, run.replay, run.classes)
    card.extra["training_time_s"] = round(time.perf_counter() - t0, 1)
    stem = Path(req.staging) / req.name
    stem.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(final, card, stem)
    shutil.copyfile(req.items_csv, cases_file(stem))     # the cases it was trained on travel with it
    task.report(1.0, "done")
    out = {"event": "done", "checkpoint": str(stem), "plan": plan.summary(), "scheme": plan.scheme,
           "classes": list(run.classes), "base": base, "finetuned": tuned,
           "seconds": round(time.perf_counter() - t0, 1)}
    emit(out)
    return out


def _final_card(run: _Run, model: Any, plan: CasePlan, base: dict[str, Any], tuned: dict[str, Any],
                calib: dict[str, Any] | None, temp: float, data: dict[str, Any], hw: dict[str, Any]) -> Any:
    """The fine-tuned model's card: its parent, the cases, the recipe and the cross-validated figures."""
    req, parent = run.req, run.base_card
    card = copy.deepcopy(parent)
    card.name = req.name
    card.parent = f"{parent.name} sha256:{parent.sha256}"
    card.training_data = {"train": {**data, "cases_file": cases_file(Path(req.name)).name,
                                    **({"licence": req.licence} if req.licence else {})}}
    synthetic = "synthetic" in (parent.description or "").lower()
    card.description = (f"Fine-tuned from {parent.name}"
                        + (" (trained on synthetic data only)" if synthetic else "")
                        + f" on {len(run.items)} labelled real cases"
                        + (" with the synthetic replay set" if run.replay else "")
                        + f" ({plan.scheme}: accuracy {base['accuracy']:.0%} with the base model, "
                        f"{tuned['accuracy']:.0%} fine-tuned). Research use only; not a medical device.")
    card.command = req.command or f"python -m training.finetune --request REQUEST.json  # {json.dumps(asdict(req))}"
    card.metrics = {"finetune_cv": {"scheme": plan.scheme, "folds": plan.folds, "counts": plan.counts,
                                    "base": base, "finetuned": tuned}}
    card.architecture["kwargs"] = model.config() if hasattr(model, "config") else card.architecture["kwargs"]
    card.extra = {"config": asdict(req), "hardware": hw, "seed": req.seed, "init": "finetune", "epochs": req.epochs, "lr": run.lr,
                  "parent_checkpoint": {"name": parent.name, "sha256": parent.sha256, "path": str(req.base)},
                  "calibration": {"temperature": round(float(temp), 4),
                                  "fitted_on": f"held-out predictions of {plan.scheme} on {len(run.items)} cases",
                                  "ece_before": round(float(tuned["uncalibrated"]["ece"]), 4),
                                  "ece_after": round(float(tuned["ece_calibrated"]), 4),
                                  **({"ece_after_cv": round(float(calib["ece_after_cv"]), 4)} if calib else {})}}
    return card


def _request_from_flags(args: argparse.Namespace) -> FinetuneRequest:
    """A request from --data / --method / --base / --out (a folder's labels.csv is written as a cases CSV)."""
    from her2viewer.models.checkpoint import checkpoint_stem, default_model_path

    out = checkpoint_stem(args.out)
    data = Path(args.data)
    if data.is_dir():   # resolve a folder's labels.csv to absolute paths beside the output
        cases = [replace(it, path=str(Path(it.path).resolve())) for it in read_items(data)]
        data = write_cases_csv(cases, out.with_name(f"{out.name}.input.csv"))
    base = args.base or str(default_model_path(args.method))
    return FinetuneRequest(items_csv=str(data), method=args.method, base=str(base), name=out.name,
                           staging=str(out.parent), epochs=args.epochs, lr=args.lr, seed=args.seed,
                           replay=args.replay, licence=args.licence,
                           command="python -m training.finetune " + " ".join(shlex.quote(a) for a in args.argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one request; print JSON events, one per line (progress, epochs, results, or an error)."""
    from her2viewer.models.checkpoint import CheckpointError

    from .cv import SplitError
    from .items import DatasetError
    from .state import StateError

    ap = argparse.ArgumentParser(prog="python -m training.finetune", description=__doc__.split("\n\n")[0])
    ap.add_argument("--request", help="JSON file of a FinetuneRequest (what the viewer's dialog writes)")
    ap.add_argument("--data", help="or: the cases, a folder with labels.csv or a CSV (path,label[,patient_id])")
    ap.add_argument("--method", choices=sorted(METHODS), default="pss")
    ap.add_argument("--base", help="checkpoint to start from (default: the bundled one of --method)")
    ap.add_argument("--out", help="checkpoint to write (PATH.safetensors, PATH.json, PATH.cases.csv)")
    ap.add_argument("--epochs", type=int, default=FinetuneRequest.epochs)
    ap.add_argument("--lr", type=float, default=0.0, help="learning rate (default: the method's, DEFAULT_LR)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--licence", default="", help="the licence of the cases' images, stated in the card")
    ap.add_argument("--replay", default="", help="extra training items added to every fold (never evaluated), "
                    "e.g. the synthetic set the base was trained on, so it keeps what it knew")
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if not args.request and not (args.data and args.out):
        ap.error("give --request, or --data and --out")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    import cv2

    # OpenCV's thread pool does not survive fork: a DataLoader worker forked after the parent used it hangs
    # in `cv2.setNumThreads` (training.data._worker_init); with one thread there is no pool to inherit
    cv2.setNumThreads(1)

    def emit(event: dict[str, Any]) -> None:
        print(json.dumps(event, default=float), flush=True)

    last = [0.0]

    def progress(f: float, message: str) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or f >= 1.0:
            last[0] = now
            emit({"event": "progress", "fraction": round(f, 4), "message": message,
                  "eta_s": task.eta_s(f)})

    task = Task(progress)
    try:
        req = FinetuneRequest.from_json(Path(args.request).read_text(encoding="utf-8")) if args.request else \
            _request_from_flags(args)
        run_finetune(req, emit, task)
    except Cancelled:
        emit({"event": "error", "message": "cancelled"})
        return 1
    except (OSError, ValueError, TypeError, KeyError, CheckpointError, DatasetError, SplitError,
            StateError) as e:
        emit({"event": "error", "message": str(e)})
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
