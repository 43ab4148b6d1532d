"""Slide-level aggregators of the patch pipeline (IPD-Breast approach c), fitted on labelled slides or cores:
the patch classifier counts each item's patches per class (`count_matrix`, cached), then a random forest,
SVM and MLP are fitted on the count vectors and saved next to the classifier as
`<stem>.aggregator-<kind>.json`, where the "patch" scorer finds them.

    python -m training.patch_aggregators --model resources/models/patch_default --data DIR [--kinds rf,svm,mlp]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from her2viewer.progress import Task
from her2viewer.scoring.asco import SCORES4

from .items import Item, read_items

log = logging.getLogger(__name__)


def count_matrix(scorer: object, items: Sequence[Item], *, cache_dir: str | Path | None = None,
                 task: Task | None = None) -> np.ndarray:
    """(n items, n patch classes) patch-class fractions of each item's region, from `cache_dir` when there."""
    from her2viewer.scoring.patch.aggregate import count_vector
    from her2viewer.slide import open_slide

    from .data import item_region

    task = task or Task()
    key = hashlib.sha1(json.dumps({"model": scorer.card.sha256, "tiles": scorer.tile_spec.to_dict(),
                                   "items": [it.path for it in items]}).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"patch_counts-{key}.npy" if cache_dir else None
    if path is not None and path.is_file():
        x = np.load(path)
        if x.shape == (len(items), len(scorer.patch_classes)):
            log.info("patch counts of %d items from %s", len(items), path)
            return x
    rows, t0 = [], time.perf_counter()
    for i, it in enumerate(items):
        with open_slide(it.path) as source:
            p, _ = scorer.patch_probabilities(source, item_region(source, it),
                                              task.sub(i / len(items), (i + 1) / len(items)))
        rows.append(count_vector(p, len(scorer.patch_classes)))
    x = np.stack(rows)
    log.info("patch counts of %d items in %.0f s", len(items), time.perf_counter() - t0)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, x)
    return x


def fit_aggregators(model: str | Path, data: str | Path, kinds: Sequence[str] = ("rf", "svm", "mlp"), *,
                    cache_dir: str | Path | None = None, device: str = "cpu") -> list[Path]:
    """Fit and save each kind of count aggregator on the labelled items of `data`; returns the files."""
    from her2viewer.scoring.base import ScoreOptions
    from her2viewer.scoring.patch.aggregate import CountAggregator
    from her2viewer.scoring.patch.scorer import PatchScorer, aggregator_path

    scorer = PatchScorer(ScoreOptions(model_path=str(model), device=device, extra={"patch_aggregator": "vote"}))
    items = read_items(data)
    y = np.asarray([SCORES4.index(it.label) for it in items])
    x = count_matrix(scorer, items, cache_dir=cache_dir)
    out = []
    for kind in kinds:
        agg = CountAggregator(kind, list(SCORES4), scorer.patch_classes).fit(x, y)
        out.append(agg.save(aggregator_path(scorer.model_path, kind)))
        log.info("%s aggregator: training accuracy %.3f on %d items -> %s", kind,
                 float(np.mean(agg.predict(x) == y)), len(items), out[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: --model STEM --data DIR [--kinds rf,svm,mlp] [--cache DIR]."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="patch classifier checkpoint stem")
    p.add_argument("--data", required=True, help="labelled slides or cores (folder with labels.csv)")
    p.add_argument("--kinds", default="rf,svm,mlp")
    p.add_argument("--cache", default="", help="folder to keep the patch counts in")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    for path in fit_aggregators(a.model, a.data, [k for k in a.kinds.split(",") if k], cache_dir=a.cache or None):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
