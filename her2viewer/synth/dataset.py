"""Write a synthetic data set: core images with labels.csv, and optionally a TMA slide and a whole slide.

labels.csv has one row per image: `file,label,patient_id,seed,diameter_px,mpp,kind,<stats...>` where
`kind` is "core" (a PNG/JPEG core image) or "wsi" (the whole-slide TIFF); stats are the generator's cell
statistics (`pct_*` from `asco.cell_percentages`, `n_*` counts, `subclass`, `generator_version`).
Cores of one patient share the label and the glass/stain lot, so patient-wise cross-validation is meaningful.
The TMA slide's cores are listed in tma_cores.csv (grid id, label, level-0 centre and bbox, stats).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes, atomic_write_text
from ..csvio import csv_text
from ..progress import Task
from ..scoring.asco import SCORES4
from ..slide.writer import encode_image
from .core import generate_core
from .slides import write_tma_slide, write_wsi
from .style import DEFAULT_STYLE, get_style

log = logging.getLogger(__name__)

BASE_COLUMNS = ["file", "label", "patient_id", "seed", "diameter_px", "mpp", "kind"]


def core_seed(seed: int, index: int) -> int:
    """Seed of core `index` of a data set made with `seed` (stable, independent streams)."""
    return int(np.random.SeedSequence([seed, 1, index]).generate_state(1)[0])


def balanced_labels(n: int, rng: np.random.Generator, per_patient: int) -> list[str]:
    """n labels, as equal per class as possible, constant within each group of `per_patient`."""
    n_pat = -(-n // per_patient)
    pat_labels = [SCORES4[i % 4] for i in range(n_pat)]
    pat_labels = [pat_labels[i] for i in rng.permutation(n_pat)]
    return [pat_labels[i // per_patient] for i in range(n)]


def _csv_text(rows: list[dict], columns: list[str]) -> str:
    return csv_text(columns, ({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows))


def write_dataset(outdir: str | Path, *, n_cores: int, seed: int, tma: bool = False, wsi: bool = False,
                  diameter_px: int | tuple[int, int] = 3000, mpp: float = 0.5, cores_per_patient: int = 2,
                  labels: list[str] | None = None, fmt: str = "png", tma_diameter_px: int = 2500,
                  wsi_label: str | None = None, task: Task | None = None, style: str = DEFAULT_STYLE) -> Path:
    """Write `n_cores` core images (balanced labels unless given), labels.csv, and optional slides; returns labels.csv.

    `diameter_px` may be a (min, max) range to draw each core's diameter from; `style` is the cores' look
    (style.py; the TMA and whole-slide images keep the default look).
    """
    if fmt not in ("png", "jpg"):
        raise ValueError(f"fmt must be 'png' or 'jpg', got {fmt!r}")
    if n_cores < 0:
        raise ValueError("n_cores must be >= 0")
    task = task or Task()
    sty = get_style(style)
    warmth = 0.0 if sty.name == DEFAULT_STYLE else np.asarray(sty.glass_warmth)  # synth-1.1 cores share grey glass
    out = Path(outdir)
    (out / "cores").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    labels = labels or balanced_labels(n_cores, rng, max(1, cores_per_patient))
    if len(labels) != n_cores:
        raise ValueError(f"{n_cores} cores need {n_cores} labels, got {len(labels)}")
    n_steps = n_cores + (4 if tma else 0) + (3 if wsi else 0)
    rows: list[dict] = []
    stat_cols: list[str] = []
    patient_glass: dict[int, np.ndarray] = {}
    for i, label in enumerate(labels):
        task.report(i / max(1, n_steps), f"core {i + 1} of {n_cores}")
        s = core_seed(seed, i)
        pid = i // max(1, cores_per_patient)
        if isinstance(diameter_px, tuple):
            d = int(rng.integers(diameter_px[0], diameter_px[1] + 1))
        else:
            d = int(diameter_px)
        glass = patient_glass.setdefault(pid, rng.uniform(*sty.glass_od) + rng.normal(0, 0.002, 3) + warmth)
        core = generate_core(label, s, diameter_px=d, mpp=mpp, glass_od=glass, style=sty)
        name = f"cores/core_{i:05d}.{fmt}"
        atomic_write_bytes(out / name, encode_image(core.image, fmt, mpp))  # pixel size in the file
        stat_cols = stat_cols or list(core.stats)
        rows.append({"file": name, "label": core.label, "patient_id": f"P{pid:04d}", "seed": s, "diameter_px": d,
                     "mpp": mpp, "kind": "core", **core.stats})
    if tma:
        sub = task.sub(n_cores / n_steps, (n_cores + 4) / n_steps)
        recs = write_tma_slide(out / "tma.tiff", seed=seed, diameter_px=tma_diameter_px, mpp=mpp, task=sub)
        tma_rows = [{"slide": "tma.tiff", "core_id": r["core_id"], "row": r["row"], "col": r["col"],
                     "label": r["label"], "x": r["x"], "y": r["y"], "diameter_px": r["diameter_px"],
                     "bbox_x": r["bbox"][0], "bbox_y": r["bbox"][1], "bbox_w": r["bbox"][2], "bbox_h": r["bbox"][3],
                     "seed": r["seed"], "mpp": mpp, **r["stats"]} for r in recs]
        cols = ["slide", "core_id", "row", "col", "label", "x", "y", "diameter_px", "bbox_x", "bbox_y", "bbox_w",
                "bbox_h", "seed", "mpp", *recs[0]["stats"]]
        atomic_write_text(out / "tma_cores.csv", _csv_text(tma_rows, cols))
    if wsi:
        sub = task.sub((n_steps - 3) / n_steps, 1.0)
        wlabel = wsi_label or str(rng.choice(SCORES4))
        s = int(np.random.SeedSequence([seed, 2]).generate_state(1)[0])
        rec = write_wsi(out / "wsi.tiff", label=wlabel, seed=s, mpp=mpp, task=sub)
        rows.append({"file": "wsi.tiff", "label": wlabel, "patient_id": f"W{seed}", "seed": s,
                     "diameter_px": max(rec["size"]), "mpp": mpp, "kind": "wsi", **rec["stats"]})
        for k in rec["stats"]:
            if k not in stat_cols:
                stat_cols.append(k)
    labels_csv = out / "labels.csv"
    atomic_write_text(labels_csv, _csv_text(rows, BASE_COLUMNS + stat_cols))
    task.report(1.0, "done")
    log.info("wrote %d cores to %s", n_cores, out)
    return labels_csv
