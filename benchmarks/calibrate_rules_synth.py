"""Calibrate the rules scorer's membrane thresholds on synthetic cores with per-cell ground truth.

Usage: .venv/bin/python benchmarks/calibrate_rules_synth.py [--n 60] [--seed 910000] [--diameter 1500]
       [--rules '{...}'] [--save FEATURES.npz] [--load FEATURES.npz]
The truth is each generated cell's OBSERVABLE staining (`CellTruth.intensity` / `.complete`: what its whole
border visibly shows, shared membranes included; synth >= 1.1), not the cell's own drawn arc.
For each calibration core (labels cycling 0, 1+, 2+, 3+; seeds SEED..SEED+n-1, never the evaluation seeds
900000+ of eval_rules_synth.py) the detected cells are matched to the generator's tumour cells by nearest
centre; then each OD threshold (faint / moderate / strong) is the 1-D optimum minimising the per-cell
balanced misclassification at its class boundary (adjacent classes), and the completeness cut-off likewise among stained cells. Prints
detection recall / precision, the per-cell confusion with the current and with the chosen thresholds, and
the chosen thresholds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from scipy.spatial import cKDTree

from her2viewer.progress import Task
from her2viewer.scoring.asco import SCORES4
from her2viewer.scoring.rules.decision import intensity_class, is_complete
from her2viewer.scoring.rules.params import MembraneThresholds, RulesParams
from her2viewer.scoring.rules.tiles import analyse_region
from her2viewer.slide.array_source import ArraySlide
from her2viewer.slide.region import Region

PATTERN_NAMES = ["none", "faint inc", "faint comp", "w-m inc", "w-m comp", "strong inc", "strong comp"]


def pattern(intensity: np.ndarray, complete: np.ndarray) -> np.ndarray:
    """Per-cell pattern index 0..6: none, then (intensity, incomplete / complete) pairs."""
    inten = np.asarray(intensity, int)
    return np.where(inten == 0, 0, 2 * inten - 1 + np.asarray(complete, int))


def measure(n: int, seed: int, diameter: int, params: RulesParams) -> dict[str, np.ndarray]:
    """Matched per-cell measurements and truth over n synthetic cores, plus detection counts."""
    from her2viewer.synth.core import generate_core

    out: dict[str, list] = {k: [] for k in ("od", "comp", "t_int", "t_comp", "t_od", "core")}
    n_truth = n_found = n_tumour_det = n_tumour_matched = 0
    found_by_class = np.zeros(4)
    truth_by_class = np.zeros(4)
    for i in range(n):
        core = generate_core(SCORES4[i % 4], seed + i, diameter_px=diameter)
        h, w = core.image.shape[:2]
        rc = analyse_region(ArraySlide(core.image, mpp=0.5), Region((0, 0, w, h)), params, Task())
        tum = rc.cells.tumour
        t = core.cells
        tree = cKDTree(np.c_[t.x, t.y])
        radius = 0.3 * float(np.median(t.radius)) * 2  # about a nucleus radius
        dist, idx = tree.query(np.c_[rc.l0_x[tum], rc.l0_y[tum]], distance_upper_bound=radius)
        ok = np.isfinite(dist)
        # one detection per truth cell: keep the nearest
        order = np.argsort(dist[ok])
        det = np.flatnonzero(ok)[order]
        _, first = np.unique(idx[det], return_index=True)
        det = det[first]
        ti = idx[det]
        n_truth += len(t)
        n_tumour_det += int(tum.sum())
        n_tumour_matched += len(det)
        n_found += len(det)
        truth_by_class += np.bincount(t.intensity, minlength=4)
        found_by_class += np.bincount(t.intensity[ti], minlength=4)
        out["od"].append(rc.cells.membrane_od[tum][det])
        out["comp"].append(rc.cells.completeness[tum][det])
        out["t_int"].append(t.intensity[ti])
        out["t_comp"].append(t.complete[ti])
        out["t_od"].append(t.dab_od[ti])  # observable truth: intensity / complete / dab_od, not drawn_*
        out["core"].append(np.full(len(det), i))
        print(f"core {i} ({core.label}): {len(t)} truth, {int(tum.sum())} tumour detections, "
              f"{len(det)} matched", flush=True)
    res = {k: np.concatenate(v) for k, v in out.items()}
    res["recall"] = np.array(n_found / max(1, n_truth))
    res["precision"] = np.array(n_tumour_matched / max(1, n_tumour_det))
    res["recall_by_class"] = found_by_class / np.maximum(truth_by_class, 1)
    return res


def best_cut(values: np.ndarray, positive: np.ndarray, tolerance: float = 0.005) -> tuple[float, float]:
    """Threshold minimising the balanced error (false negative rate + false positive rate) / 2.

    Balanced, not raw counts: unstained cells outnumber each stained class several times over, and a raw
    count would sacrifice a whole minority class (which decides the score at 10%) to a few majority cells.
    Where the error is flat (within `tolerance` of the minimum over a contiguous range of cuts) the middle of
    that range is taken, not its edge: the cut keeps the widest margin to both classes, which is what carries
    over to stains and scanners the synthetic cells do not reproduce exactly.
    """
    order = np.argsort(values)
    v, pos = values[order], positive[order].astype(int)
    n_pos, n_neg = max(1, int(pos.sum())), max(1, int(len(v) - pos.sum()))
    fn = np.cumsum(pos)  # positives at or below v[j] (cut just above v[j])
    fp = (len(v) - np.arange(1, len(v) + 1)) - (pos.sum() - fn)
    err = (fn / n_pos + fp / n_neg) / 2
    j = int(np.argmin(err))
    ok = err <= err[j] + tolerance
    lo = j
    while lo > 0 and ok[lo - 1]:
        lo -= 1
    hi = j
    while hi < len(v) - 1 and ok[hi + 1]:
        hi += 1
    cut_lo = (v[lo] + v[min(lo + 1, len(v) - 1)]) / 2
    cut_hi = (v[hi] + v[min(hi + 1, len(v) - 1)]) / 2
    cut = (cut_lo + cut_hi) / 2
    mid = int(np.clip(np.searchsorted(v, cut) - 1, 0, len(v) - 1))
    return float(cut), float(err[mid])


def calibrate(f: dict[str, np.ndarray]) -> MembraneThresholds:
    """Per-boundary optimal OD cut-offs and completeness cut-off from matched cells."""
    od, t_int = f["od"], f["t_int"]
    cuts = []
    for k in (1, 2, 3):
        sel = (t_int == k - 1) | (t_int == k)
        cut, err = best_cut(od[sel], t_int[sel] == k)
        print(f"boundary {k - 1}|{k}: cut {cut:.3f} OD, balanced error {err:.1%}")
        cuts.append(cut)
    stained = t_int > 0
    complete, err = best_cut(f["comp"][stained], f["t_comp"][stained])
    print(f"completeness cut {complete:.3f}, balanced error {err:.1%}")
    faint, moderate, strong = cuts
    return MembraneThresholds(round(faint, 3), round(moderate, 3), round(strong, 3), round(min(complete, 1.0), 3))


def confusion(f: dict[str, np.ndarray], t: MembraneThresholds) -> np.ndarray:
    """Per-cell 7 x 7 confusion of staining patterns (rows truth, columns measured)."""
    inten = intensity_class(f["od"], t)
    pred = pattern(inten, is_complete(f["comp"], inten, t))
    truth = pattern(f["t_int"], f["t_comp"])
    return np.bincount(truth * 7 + pred, minlength=49).reshape(7, 7)


def report(f: dict[str, np.ndarray], t: MembraneThresholds, title: str) -> None:
    """Print a per-cell confusion and its accuracy."""
    c = confusion(f, t)
    inten_acc = np.mean(intensity_class(f["od"], t) == f["t_int"])
    print(f"\n{title}: {t}\nper-cell pattern accuracy {np.trace(c) / c.sum():.1%}, intensity accuracy "
          f"{inten_acc:.1%} (rows truth, columns measured: {', '.join(PATTERN_NAMES)})")
    print(c)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=910000)
    ap.add_argument("--diameter", type=int, default=1500)
    ap.add_argument("--rules", default="{}", help="JSON overrides for the rules scorer")
    ap.add_argument("--save", default="", help="write the matched per-cell features to this .npz")
    ap.add_argument("--load", default="", help="calibrate from features saved by --save (no scoring)")
    a = ap.parse_args(argv)
    if a.seed + a.n > 900000 and a.seed < 900000 + 10000:
        print("calibration seeds must not overlap the evaluation seeds 900000..909999", file=sys.stderr)
        return 2
    params = RulesParams.from_extra({"workers": 1, **json.loads(a.rules)})
    t0 = time.perf_counter()
    f = dict(np.load(a.load)) if a.load else measure(a.n, a.seed, a.diameter, params)
    if a.save:
        np.savez(a.save, **f)
    print(f"\n{a.n} cores (seeds {a.seed}..{a.seed + a.n - 1}) in {time.perf_counter() - t0:.0f} s; "
          f"{len(f['od'])} matched tumour cells")
    print(f"detection: recall {float(f['recall']):.1%} of truth tumour cells, precision {float(f['precision']):.1%} "
          f"of tumour detections; recall by truth intensity 0..3: "
          f"{', '.join(f'{r:.1%}' for r in f['recall_by_class'])}")
    for k in range(4):
        sel = f["t_int"] == k
        if sel.any():
            q = np.percentile(f["od"][sel], [5, 25, 50, 75, 95])
            print(f"truth intensity {k}: measured OD p5/25/50/75/95 {np.round(q, 3).tolist()}")
    report(f, params.membrane, "current thresholds")
    chosen = calibrate(f)
    report(f, chosen, "calibrated thresholds")
    print(f"\nchosen: faint={chosen.faint} moderate={chosen.moderate} strong={chosen.strong} "
          f"complete={chosen.complete}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
