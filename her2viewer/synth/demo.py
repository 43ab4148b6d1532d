"""The demo TMA slide: 3 x 4 grid (one position empty) of synthetic cores with all four scores, fixed seed.

Made on first use in `${XDG_CACHE_HOME:-~/.cache}/her2viewer/demo/` (written to a temporary name, then
renamed, so a half-written slide is never seen), with its labels CSV beside it. The file names carry
GENERATOR_VERSION, so a new generator makes a new demo instead of reusing a stale one.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from ..atomic import atomic_write_text
from ..csvio import csv_text
from ..progress import Task
from . import GENERATOR_VERSION

log = logging.getLogger(__name__)

DEMO_SEED = 20240917
DEMO_DIAMETER_PX = 3000
DEMO_MPP = 0.5
#: labels of the 11 cores, row by row (the empty position is drawn from the seed).
DEMO_LABELS = ["3+", "2+", "1+", "0", "2+", "0", "3+", "1+", "0", "1+", "2+"]


def demo_dir() -> Path:
    """Folder of the demo slide in the user cache."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "her2viewer" / "demo"


def demo_labels_path() -> Path:
    """The demo slide's labels CSV (core_id, label, bbox, stats)."""
    return demo_dir() / f"demo_tma_{GENERATOR_VERSION}.csv"


def demo_slide_path(create: bool = True, task: Task | None = None) -> Path:
    """Path of the demo TMA slide; made deterministically first if missing and `create` is true."""
    path = demo_dir() / f"demo_tma_{GENERATOR_VERSION}.tiff"
    if create and not (path.is_file() and demo_labels_path().is_file()):
        make_demo_slide(path, task=task)
    return path


def make_demo_slide(path: Path, *, diameter_px: int | None = None, task: Task | None = None) -> Path:
    """Write the demo TMA slide to `path` and its labels CSV beside it (atomically)."""
    from .slides import write_tma_slide

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    d = diameter_px or DEMO_DIAMETER_PX
    log.info("making the demo slide %s (one-off, about a minute)", path)
    fd, tmp = tempfile.mkstemp(prefix=".demo_", suffix=".tiff", dir=path.parent)
    os.close(fd)
    try:
        recs = write_tma_slide(tmp, seed=DEMO_SEED, rows=3, cols=4, diameter_px=d, mpp=DEMO_MPP,
                               labels=list(DEMO_LABELS), task=task)
        cols = ["core_id", "row", "col", "label", "x", "y", "bbox", "seed", "subclass", "pct_complete_strong",
                "pct_complete_weak_moderate", "pct_incomplete_strong", "pct_any_staining", "n_tumour_cells",
                "generator_version"]
        rows = ({**r, **r["stats"], "bbox": json.dumps(r["bbox"])} for r in recs)
        atomic_write_text(path.with_suffix(".csv"), csv_text(cols, rows))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
