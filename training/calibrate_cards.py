"""Temperature-scale the bundled networks on labelled real images, measured by cross-validation.

    .venv/bin/python -m training.calibrate_cards --data ../shared/data/real_dev [--folds 5] [--write]

Each bundled model (PSS, the four MIL aggregators, the low-resolution classifier) scores every assessable
image of DIR/labels.csv once with no temperature. A temperature T is then fitted by negative log-likelihood
on all images but one fold and applied to that fold (Guo et al. 2017); the printed table gives, per model,
the accuracy, the expected calibration error (ECE, 10 bins) of the confidence the viewer shows (the
probability of the call) before and after, and the NLL. For PSS the card's T divides every sample's logits,
so the fit replays the KCS / max rule on the tempered sample probabilities (the selection and the call can
move). `--write` stores T fitted on all images in each card's `extra.calibration`, with the figures, the
data, its licence and this command; the weights are untouched. The patch method's slide aggregators (random
forest, SVM, MLP) make their own probabilities from the patch counts, which are as over-confident on real IHC;
`patch_rf`, `patch_svm`, `patch_mlp` classify every image's patches once, temper each aggregator's probabilities
the same way, and `--write` stores T in the aggregator file's `calibration` (outside its digest).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from her2viewer.models.calibration import MAX_T, MIN_T, apply_temperature
from her2viewer.scoring.asco import SCORES4, to_3way
from training.calibration import ece, nll

#: bundled stem -> (method, scorer extra options)
MODELS = {
    "pss": ("pss", {}),
    "lowres": ("lowres", {}),
    "mil_dtfd": ("mil", {"aggregator": "dtfd"}),
    "mil_abmil": ("mil", {"aggregator": "abmil"}),
    "mil_clam_sb": ("mil", {"aggregator": "clam_sb"}),
    "mil_clam_mb": ("mil", {"aggregator": "clam_mb"}),
}
#: patch aggregators calibrated like the networks: stem -> aggregator kind of the bundled patch classifier
PATCH_AGGREGATORS = {"patch_rf": "rf", "patch_svm": "svm", "patch_mlp": "mlp"}
T_GRID = np.geomspace(MIN_T, MAX_T, 121)
COMMAND = "python -m training.calibrate_cards --data ../shared/data/real_dev --folds 5 --write"


@dataclass
class Scored:
    """One model's untempered outputs on the labelled images it could assess."""

    files: list[str]
    classes: tuple[str, ...]
    labels: np.ndarray                    # class index per image
    probs: np.ndarray                     # (n, C) slide probabilities at T = 1
    samples: list[np.ndarray] | None      # PSS: (N, C) sample probabilities per image
    top_k: int = 5


def calls_at(s: Scored, t: float) -> tuple[np.ndarray, np.ndarray]:
    """(call index, probabilities) of every image at temperature `t` (PSS: the KCS rule replayed)."""
    from her2viewer.scoring.pss.protocol import kcs_decision

    if s.samples is None:
        p = apply_temperature(s.probs, t)
        return p.argmax(1), p
    calls, probs = [], []
    for sp in s.samples:
        d = kcs_decision(apply_temperature(sp, t), s.top_k, s.classes)
        calls.append(s.classes.index(d.score))
        probs.append(d.probabilities)
    return np.array(calls), np.array(probs)


def nll_at(s: Scored, t: float) -> float:
    """Mean negative log-likelihood of the labels at temperature `t`."""
    return nll(calls_at(s, t)[1], s.labels)


def _subset(s: Scored, idx: np.ndarray) -> Scored:
    return Scored([s.files[i] for i in idx], s.classes, s.labels[idx], s.probs[idx],
                  None if s.samples is None else [s.samples[i] for i in idx], s.top_k)


def fit_t(s: Scored, idx: np.ndarray) -> float:
    """The grid temperature with the lowest NLL on images `idx` (ties: the one nearest 1)."""
    sub = _subset(s, idx)
    return min((round(nll_at(sub, float(t)), 9), abs(np.log(t)), float(t)) for t in T_GRID)[2]


def cross_validate(s: Scored, folds: int = 5, seed: int = 0) -> dict[str, float]:
    """Accuracy, ECE and NLL before and after temperature scaling, each fold's T fitted on the others."""
    n = len(s.labels)
    order = np.random.default_rng(seed).permutation(n)
    calls0, p0 = calls_at(s, 1.0)
    calls1, p1 = calls0.copy(), p0.copy()
    temps = []
    for part in np.array_split(order, max(2, min(folds, n))):
        rest = np.setdiff1d(order, part)
        t = fit_t(s, rest)
        temps.append(t)
        c, p = calls_at(_subset(s, part), t)
        calls1[part], p1[part] = c, p
    return {"n": n, "accuracy_before": float(np.mean(calls0 == s.labels)),
            "accuracy_after_cv": float(np.mean(calls1 == s.labels)),
            "ece_before": ece(p0, s.labels, calls=calls0), "ece_after_cv": ece(p1, s.labels, calls=calls1),
            "nll_before": nll(p0, s.labels), "nll_after_cv": nll(p1, s.labels), "fold_temperatures": [round(t, 3) for t in temps],
            "temperature_all": fit_t(s, np.arange(n))}


def score_model(stem: str, items: list[tuple[Path, str]], log: Callable[[str], None] = print) -> Scored:
    """Score the labelled images with a bundled model at T = 1 (a copy of its card without calibration)."""
    from her2viewer.models.checkpoint import default_model_path, read_card
    from her2viewer.scoring.base import ScoreOptions
    from her2viewer.scoring.driver import score_slide
    from her2viewer.slide import open_slide

    method, extra = MODELS[stem]
    src = default_model_path(stem)
    card = read_card(src)
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / src.name
        shutil.copy(src.with_suffix(".safetensors"), dst.with_suffix(".safetensors"))
        data = json.loads(src.with_suffix(".json").read_text())
        data.get("extra", {}).pop("calibration", None)
        dst.with_suffix(".json").write_text(json.dumps(data))
        opts = ScoreOptions(model_path=str(dst), extra=dict(extra))
        three = tuple(card.classes) != SCORES4
        classes = tuple(card.classes)
        files, labels, probs, samples = [], [], [], []
        for path, label in items:
            with open_slide(path) as source:
                r = score_slide(source, method, opts)
            if not r.assessable:
                log(f"  {stem}: {path.name} not assessable, left out")
                continue
            files.append(path.name)
            labels.append(classes.index(to_3way(label) if three else label))
            probs.append([float(r.probabilities.get(c, 0.0)) for c in classes])
            if method == "pss":
                samples.append(np.array([[s.probabilities.get(c, 0.0) for c in classes] for s in r.samples]))
    return Scored(files, classes, np.array(labels), np.array(probs), samples if method == "pss" else None,
                  top_k=int(opts.top_k))


def patch_counts(items: list[tuple[Path, str]], log: Callable[[str], None] = print
                 ) -> tuple[list[str], list[str], np.ndarray]:
    """(files, labels, patch-count vectors) of the assessable images under the bundled patch classifier."""
    from her2viewer.scoring.base import ScoreOptions
    from her2viewer.scoring.driver import score_slide
    from her2viewer.slide import open_slide

    files, labels, counts = [], [], []
    for path, label in items:
        with open_slide(path) as source:
            r = score_slide(source, "patch", ScoreOptions(extra={"patch_aggregator": "vote"}))
        if not r.assessable:
            log(f"  patch: {path.name} not assessable, left out")
            continue
        files.append(path.name)
        labels.append(label)
        counts.append(list(r.params["patch_fractions"].values()))
    return files, labels, np.array(counts)


def score_aggregator(stem: str, counted: tuple[list[str], list[str], np.ndarray]) -> Scored:
    """A bundled patch aggregator's untempered probabilities on the counted images."""
    from her2viewer.models.checkpoint import default_model_path
    from her2viewer.scoring.patch.aggregate import CountAggregator
    from her2viewer.scoring.patch.scorer import aggregator_path

    files, labels, counts = counted
    agg = CountAggregator.load(aggregator_path(default_model_path("patch"), PATCH_AGGREGATORS[stem]))
    classes = tuple(agg.slide_classes)
    return Scored(list(files), classes, np.array([classes.index(y) for y in labels]), agg.predict_proba(counts), None)


def write_aggregator_calibration(stem: str, figures: dict[str, float], data: Path, licence: str) -> Path:
    """Store T and the cross-validated figures in a bundled patch aggregator file's `calibration`."""
    from her2viewer.models.checkpoint import default_model_path
    from her2viewer.scoring.patch.aggregate import CountAggregator
    from her2viewer.scoring.patch.scorer import aggregator_path

    path = aggregator_path(default_model_path("patch"), PATCH_AGGREGATORS[stem])
    agg = CountAggregator.load(path)
    agg.calibration = calibration_entry(figures, data, licence)
    return agg.save(path)


def calibration_entry(figures: dict[str, float], data: Path, licence: str) -> dict[str, object]:
    """The `calibration` entry of a card or aggregator: T fitted on all images, the cross-validated figures."""
    return {
        "temperature": round(float(figures["temperature_all"]), 4),
        "fitted_on": f"{figures['n']} labelled real HER2 IHC images of {data.name} (slide-level labels); "
                     f"licence: {licence}",
        "method": "temperature scaling by NLL; figures from cross-validation (T fitted on the other folds)",
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items() if k != "temperature_all"},
        "command": COMMAND,
    }


def write_calibration(stem: str, figures: dict[str, float], data: Path, licence: str) -> Path:
    """Store T (fitted on all images) and the cross-validated figures in a bundled card's extra."""
    from her2viewer.models.checkpoint import default_model_path

    card = default_model_path(stem).with_suffix(".json")
    d = json.loads(card.read_text())
    d.setdefault("extra", {})["calibration"] = calibration_entry(figures, data, licence)
    card.write_text(json.dumps(d, indent=2) + "\n")   # as `ModelCard.to_json` writes it
    return card


def main(argv: list[str] | None = None) -> int:
    """Score, cross-validate, print, and with --write store the temperatures."""
    from her2viewer.scoring.rules.calibrate import read_labels

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with labels.csv (file,label) and the images")
    ap.add_argument("--models", default=",".join([*MODELS, *PATCH_AGGREGATORS]), help="comma-separated bundled stems")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="store the temperatures in the bundled cards")
    ap.add_argument("--licence", default="BCI: non-commercial research and teaching only (Liu et al., CVPR "
                    "Workshops 2022); Warwick HER2 contest tiles")
    args = ap.parse_args(argv)
    data = Path(args.data)
    items = read_labels(data)
    counted = None
    for stem in [m for m in args.models.split(",") if m]:
        if stem not in MODELS and stem not in PATCH_AGGREGATORS:
            print(f"unknown model {stem!r}; one of {', '.join([*MODELS, *PATCH_AGGREGATORS])}", file=sys.stderr)
            return 2
        from her2viewer.models.checkpoint import default_model_path, read_card

        if stem in PATCH_AGGREGATORS:
            counted = counted or patch_counts(items)   # the patches are classified once for all aggregators
            scored, write = score_aggregator(stem, counted), write_aggregator_calibration
        elif "finetune_cv" in read_card(default_model_path(stem)).metrics:
            print(f"{stem:12s} skipped: fine-tuned on labelled real images (training.finetune), so scoring them "
                  "again would be in-sample; its temperature comes from the fine-tune's held-out predictions")
            continue
        else:
            scored, write = score_model(stem, items), write_calibration
        fig = cross_validate(scored, args.folds)
        print(f"{stem:12s} n={fig['n']:2d}  acc {fig['accuracy_before']:.0%} -> {fig['accuracy_after_cv']:.0%}  "
              f"ECE {fig['ece_before']:.3f} -> {fig['ece_after_cv']:.3f}  NLL {fig['nll_before']:.2f} -> "
              f"{fig['nll_after_cv']:.2f}  T(all) {fig['temperature_all']:.2f}  folds {fig['fold_temperatures']}",
              flush=True)
        if args.write:
            print(f"  wrote {write(stem, fig, data, args.licence)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
