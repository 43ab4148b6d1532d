"""Input checks on real and synthetic IHC: pixel-size estimation, stain type, focus, and QC time.

Prints:
1. synthetic cores rendered at 0.25 / 0.35 / 0.5 / 0.7 / 1.0 um/px: the estimate and whether it is within
   +-20% of the truth;
2. every real_dev image as it is (estimate, stain, shares) and resampled by 0.5x / 0.71x / 1.41x / 2x:
   whether the estimate follows the factor within +-20% (the truth of the originals is not known);
3. the stain verdict of the H&E files in ../shared/data/wsi and scikit-image's IHC image;
4. seconds the input checks add per 5,000 x 5,000 px synthetic core (median of runs; pixel size estimate,
   tissue, stain and focus).

    .venv/bin/python benchmarks/bench_qc.py [--shared ../shared] [--json OUT] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from her2viewer.qc import run_qc  # noqa: E402
from her2viewer.qc.pixel_size import USUAL_MPP, estimate_mpp  # noqa: E402
from her2viewer.qc.stain_type import classify_stain  # noqa: E402
from her2viewer.slide import open_slide  # noqa: E402
from her2viewer.slide.array_source import ArraySlide  # noqa: E402

SYN_MPPS = (0.25, 0.35, 0.5, 0.7, 1.0)
FACTORS = (0.5, 0.71, 1.41, 2.0)
TOL = 0.20


def resample(rgb: np.ndarray, f: float) -> np.ndarray:
    return cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)


def synthetic(seeds: range, core_um: float) -> list[dict]:
    from her2viewer.synth.core import generate_core

    rows = []
    labels = ("0", "1+", "2+", "3+")
    for mpp in SYN_MPPS:
        for seed in seeds:
            core = generate_core(labels[seed % 4], seed=seed, diameter_px=int(core_um / mpp), mpp=mpp)
            est = estimate_mpp(ArraySlide(core.image, name=f"syn{seed}"))
            got = est.mpp if est else None
            ok = got is not None and abs(got / mpp - 1) <= TOL
            rows.append({"mpp": mpp, "seed": seed, "label": labels[seed % 4], "estimate": got, "ok": ok})
            print(f"  synthetic {mpp:.2f} um/px seed {seed}: estimate "
                  f"{'-' if got is None else f'{got:.3f}'}  {'ok' if ok else 'OFF'}", flush=True)
    return rows


def real(folder: Path) -> list[dict]:
    rows = []
    with open(folder / "labels.csv", newline="") as fh:
        items = list(csv.DictReader(fh))
    for it in items:
        rgb = cv2.cvtColor(cv2.imread(str(folder / it["file"])), cv2.COLOR_BGR2RGB)
        base = estimate_mpp(ArraySlide(rgb, name=it["file"]))
        sc = classify_stain([rgb])
        row = {"file": it["file"], "label": it["label"], "estimate": base.mpp if base else None,
               "uncertainty": base.rel_uncertainty if base else None, "stain": sc.stain, "shares": sc.shares,
               "follow": {}}
        for f in FACTORS:
            e = estimate_mpp(ArraySlide(resample(rgb, f), name=f"{it['file']}@{f}"))
            # resampled by f, the pixel size is base / f
            ratio = None if (e is None or base is None) else (e.mpp * f) / base.mpp
            row["follow"][str(f)] = {"estimate": e.mpp if e else None, "ratio": ratio,
                                     "ok": ratio is not None and abs(ratio - 1) <= TOL}
        rows.append(row)
        fol = "  ".join(f"{f}x:" + ("-" if v["ratio"] is None else f"{v['ratio']:.2f}")
                        for f, v in row["follow"].items())
        print(f"  {it['file'][:34]:34s} {it['label']:3s} estimate "
              f"{'-' if base is None else f'{base.mpp:.3f} +-{100 * base.rel_uncertainty:.0f}%'}  "
              f"stain {sc.stain} (eosin {sc.shares.get('eosin', 0):.3f})  follow {fol}", flush=True)
    return rows


def stains(shared: Path) -> list[dict]:
    import skimage.data

    rows = []
    for p in sorted((shared / "data" / "wsi").glob("*")):
        if p.suffix.lower() not in (".svs", ".tif", ".tiff"):
            continue
        with open_slide(p) as s:
            sc = classify_stain([s.thumbnail(1024)])
        rows.append({"file": p.name, "stain": sc.stain, "shares": sc.shares, "reason": sc.reason})
    sc = classify_stain([skimage.data.immunohistochemistry()])
    rows.append({"file": "skimage.data.immunohistochemistry()", "stain": sc.stain, "shares": sc.shares,
                 "reason": sc.reason})
    for r in rows:
        print(f"  {r['file']:40s} {r['stain']:8s} {r['shares']}  {r['reason']}")
    return rows


def qc_time(runs: int) -> dict:
    from her2viewer.synth.core import generate_core
    from her2viewer.tissue.regions import regions_for

    core = generate_core("2+", seed=7, diameter_px=5000, mpp=0.5)
    times = []
    for i in range(runs):
        src = ArraySlide(core.image, name=f"core{i}")  # no mpp: the estimate runs too
        t0 = time.perf_counter()
        from her2viewer.qc import resolve_pixel_size

        ps = resolve_pixel_size(src)
        t1 = time.perf_counter()
        _, regions = regions_for(src, "slide")
        t2 = time.perf_counter()
        run_qc(src, regions, pixel_size=ps)
        t3 = time.perf_counter()
        times.append((t1 - t0, t2 - t1, t3 - t2))
    est = statistics.median(t[0] for t in times)
    tissue = statistics.median(t[1] for t in times)
    checks = statistics.median(t[2] for t in times)
    print(f"  5000 x 5000 core, median of {runs}: pixel-size estimate {est:.2f} s, stain + focus checks "
          f"{checks:.2f} s; QC adds {est + checks:.2f} s (the tissue mask, {tissue:.2f} s, was there before)")
    return {"estimate_s": est, "checks_s": checks, "qc_added_s": est + checks, "tissue_s": tissue}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--quick", action="store_true", help="fewer synthetic seeds")
    args = ap.parse_args()
    shared = Path(args.shared)
    out: dict = {}
    print("1. synthetic cores (estimate within +-20% of the rendered pixel size)")
    out["synthetic"] = synthetic(range(2) if args.quick else range(4), core_um=700.0)
    n_ok = sum(r["ok"] for r in out["synthetic"])
    print(f"   -> {n_ok}/{len(out['synthetic'])} within +-20%")
    if (shared / "data" / "real_dev").is_dir():
        print("2. real_dev images: estimate as they are; resampled, the estimate must follow the factor (+-20%)")
        out["real"] = real(shared / "data" / "real_dev")
        fol = [v["ok"] for r in out["real"] for v in r["follow"].values()]
        usual = [v["ok"] for r in out["real"] if r["estimate"] and USUAL_MPP[0] <= r["estimate"] <= USUAL_MPP[1]
                 for v in r["follow"].values()]
        n_usual = sum(1 for r in out["real"] if r["estimate"] and USUAL_MPP[0] <= r["estimate"] <= USUAL_MPP[1])
        declined = sum(r["estimate"] is None for r in out["real"])
        print(f"   -> follows the factor on {sum(fol)}/{len(fol)} resampled images; on {sum(usual)}/{len(usual)} "
              f"of the {n_usual} images whose estimate is in the usual {USUAL_MPP[0]}-{USUAL_MPP[1]} um/px "
              f"(the others get a doubled uncertainty and a message); {declined} declined (too few nuclei); "
              f"stain dab_ihc on {sum(r['stain'] == 'dab_ihc' for r in out['real'])}/{len(out['real'])}")
        print("3. stain of other real images")
        out["stains"] = stains(shared)
    else:
        print(f"({shared}/data/real_dev not found: real images skipped)")
    print("4. time")
    out["time"] = qc_time(3)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
