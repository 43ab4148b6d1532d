"""Write a class-balanced synthetic training / validation / test set with `her2viewer.synth`.

`python -m training.synth_data OUT --seeds 1000-1239 [--diameter 1800,2400,3000] [--workers 2]` writes one
PNG core per seed (label = the seed's turn in 0, 1+, 2+, 3+, so classes are balanced; the diameter cycles
through the list by seed) and OUT/labels.csv with
file,label,patient_id,seed,diameter_px,generator_version and the generator's percentages. Each core is its
own patient. Existing PNGs of the same style are kept, so an interrupted run continues. `--style synth-2`
(her2viewer.synth.style) writes the look measured against real IHC; those PNGs state their pixel size (0.5
um/px, so the style's apparent zoom is seen as drawn), synth-1.1 PNGs do not (readers estimate it, as when the
bundled models were trained).
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2

from her2viewer.atomic import atomic_write_bytes, atomic_write_text
from her2viewer.csvio import csv_text
from her2viewer.scoring.asco import SCORES4
from her2viewer.slide.writer import encode_image
from her2viewer.synth.style import DEFAULT_STYLE, STYLES, get_style

from .opencv_fork import opencv_single_threaded

log = logging.getLogger(__name__)
STAT_KEYS = ("pct_complete_strong", "pct_complete_weak_moderate", "pct_complete_faint", "pct_incomplete_strong",
             "pct_incomplete_weak_moderate", "pct_incomplete_faint", "subclass", "n_tumour_cells")


def parse_seeds(text: str) -> list[int]:
    """'1000-1239' or '1,2,5-7' -> list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        a, _, b = part.strip().partition("-")
        seeds.extend(range(int(a), int(b) + 1) if b else [int(a)])
    return seeds


def label_for_seed(seed: int) -> str:
    """The class a seed generates: balanced round robin over 0, 1+, 2+, 3+."""
    return SCORES4[seed % 4]


def _one(args: tuple[str, int, int, str]) -> dict:
    out, seed, diameter, style = args
    from her2viewer.synth.core import generate_core
    name = f"core_{seed:07d}.png"
    label = label_for_seed(seed)
    path = Path(out) / name
    meta_path = path.with_suffix(".csv")
    if path.is_file() and meta_path.is_file():
        with open(meta_path, newline="") as fh:
            row = next(csv.DictReader(fh))
        if row.get("generator_version") == style:
            return row
    core = generate_core(label, seed, diameter_px=diameter, style=style)
    if style == DEFAULT_STYLE:  # as the bundled models were trained: no pixel size in the file (readers estimate it)
        cv2.imwrite(str(path), cv2.cvtColor(core.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    else:  # synth-2's apparent zoom is meant to be seen at the nominal 0.5 um/px: the file states it
        atomic_write_bytes(path, encode_image(core.image, "png", 0.5))
    row = {"file": name, "label": core.label, "patient_id": f"synth-{seed}", "seed": seed,
           "diameter_px": diameter, "generator_version": core.stats.get("generator_version", "")}
    row.update({k: core.stats.get(k, "") for k in STAT_KEYS})
    atomic_write_text(meta_path, csv_text(list(row), [row]))
    return row


def write_balanced_set(out: str | Path, seeds: list[int], diameters: tuple[int, ...] = (3000,),
                       workers: int = 1, style: str = DEFAULT_STYLE) -> Path:
    """Generate the cores for `seeds` in `style` into `out` and write out/labels.csv; returns its path."""
    get_style(style)  # an unknown style fails here, not in a worker
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(str(out), s, diameters[s % len(diameters)], style) for s in seeds]
    if workers > 1:
        with opencv_single_threaded(), ProcessPoolExecutor(workers) as ex:
            rows = list(ex.map(_one, jobs))
    else:
        rows = [_one(j) for j in jobs]
    labels = out / "labels.csv"
    atomic_write_text(labels, csv_text(list(rows[0]), rows))
    return labels


def main(argv: list[str] | None = None) -> int:
    """Command line: OUT --seeds A-B [--diameter D] [--workers W] [--style synth-1.1|synth-2]."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--seeds", required=True)
    p.add_argument("--diameter", default="3000", help="core diameter(s) in px, comma-separated")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--style", default=DEFAULT_STYLE, choices=sorted(STYLES),
                   help="the generator's look (her2viewer.synth.style); labels follow the same rule in every style")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    path = write_balanced_set(a.out, parse_seeds(a.seeds), tuple(int(d) for d in a.diameter.split(",")), a.workers,
                              a.style)
    log.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
