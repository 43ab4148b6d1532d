"""How far synthetic HER2 IHC is from real: per-image statistics side by side, and one overall distance.

    .venv/bin/python benchmarks/realism.py [--real ../shared/data/real_dev] [--n 24] [--seed 940000]
                                           [--diameter 1500] [--crops 8] [--styles synth-1.1,synth-2]

Every image is brought to 0.5 um/px first (real images: their file's pixel size, else the input checks'
estimate; synthetic cores are made at 0.5 um/px). Printed per set (median and interquartile range over
images): haematoxylin and DAB optical density over tissue (Ruifrok vectors; 50th / 90th percentile),
cytoplasmic DAB (DAB OD 25th percentile over tissue away from nuclei), nucleus area (um^2: the darker of
Otsu and the 85th percentile of the haematoxylin, opened, components of 8-300 um^2), background tint (mean RGB of glass), sharpness (variance of the
Laplacian over tissue), and the Frechet distance between ImageNet MobileNetV2 features of 224 px tissue
crops of real and of each synthetic style (on the first 32 principal components of all crops together, as
200-odd crops cannot fill a 1280-dim covariance). Real and synthetic crops are also compared with themselves
(split in halves) for scale. The styles are `her2viewer.synth.style`'s (synth-2 is meant to halve the
distance of synth-1.1).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REAL_DEV = ROOT.parent / "shared" / "data" / "real_dev"
TARGET_MPP = 0.5
CROP = 224
PCA_DIMS = 32


def load_at_target(path: Path) -> np.ndarray:
    """The whole image as RGB at TARGET_MPP (file pixel size, else the estimate)."""
    from her2viewer.qc.pixel_size import resolve_pixel_size
    from her2viewer.slide import open_slide

    with open_slide(path) as source:
        ps = resolve_pixel_size(source, None)
        w, h = (int(v) for v in source.dimensions)
        rgb = source.read_region(0, 0, 0, w, h)[..., :3]
    f = float(ps.mpp) / TARGET_MPP
    if abs(f - 1.0) > 0.02:
        rgb = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))),
                         interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    return np.ascontiguousarray(rgb)


def image_stats(rgb: np.ndarray) -> dict[str, float]:
    """Stain, nucleus, background and sharpness statistics of one image at TARGET_MPP."""
    from skimage.filters import threshold_otsu

    from her2viewer.stain import deconvolve
    from her2viewer.tissue.mask import otsu_threshold, tissueness

    t = tissueness(rgb)
    tissue = t > max(25.0, otsu_threshold(t[t > 5]) if (t > 5).sum() > 100 else 25.0)
    glass = t < 15
    conc = deconvolve(rgb)
    h, dab = conc[..., 0], conc[..., 1]
    out: dict[str, float] = {"tissue_fraction": float(tissue.mean())}
    if tissue.sum() < 500:
        return out
    out.update(h_od_p50=float(np.percentile(h[tissue], 50)), h_od_p90=float(np.percentile(h[tissue], 90)),
               dab_od_p50=float(np.percentile(dab[tissue], 50)), dab_od_p90=float(np.percentile(dab[tissue], 90)))
    hv = h[tissue]
    # the darker of Otsu and the 85th percentile: pale real haematoxylin otherwise merges whole fields
    thr = max(float(threshold_otsu(hv)) if hv.size > 100 else 0.0, float(np.percentile(hv, 85)))
    nuclei = cv2.morphologyEx(((h > thr) & tissue).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(nuclei, connectivity=8)
    nuclei = nuclei.astype(bool)
    px_um2 = TARGET_MPP ** 2
    areas = stats[1:, cv2.CC_STAT_AREA] * px_um2
    areas = areas[(areas >= 8) & (areas <= 300)]
    if areas.size:
        out["nucleus_area_um2"] = float(np.median(areas))
    away = tissue & ~cv2.dilate(nuclei.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if away.sum() > 100:
        out["cytoplasm_dab_p25"] = float(np.percentile(dab[away], 25))
    if glass.sum() > 500:
        for i, c in enumerate("rgb"):
            out[f"glass_{c}"] = float(rgb[..., i][glass].mean())
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    out["sharpness"] = float(cv2.Laplacian(gray, cv2.CV_32F)[tissue].var())
    return out


def tissue_crops(rgb: np.ndarray, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Up to n CROP x CROP crops that are mostly tissue."""
    from her2viewer.tissue.mask import tissueness

    h, w = rgb.shape[:2]
    if h < CROP or w < CROP:
        pad = np.full((max(h, CROP), max(w, CROP), 3), 240, np.uint8)
        pad[:h, :w] = rgb
        rgb, h, w = pad, pad.shape[0], pad.shape[1]
    tissue = tissueness(rgb) > 25
    out: list[np.ndarray] = []
    for _ in range(n * 20):
        y, x = int(rng.integers(0, h - CROP + 1)), int(rng.integers(0, w - CROP + 1))
        if tissue[y:y + CROP, x:x + CROP].mean() >= 0.5:
            out.append(rgb[y:y + CROP, x:x + CROP].copy())
            if len(out) == n:
                break
    return out


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between two Gaussian fits (rows are samples)."""
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def describe(rows: list[dict[str, float]], key: str) -> str:
    """'median [q25-q75]' of one statistic over images (or 'n/a')."""
    v = np.array([r[key] for r in rows if key in r])
    if v.size == 0:
        return "n/a"
    q25, q50, q75 = np.percentile(v, [25, 50, 75])
    return f"{q50:8.3f} [{q25:.3f}-{q75:.3f}]"


def main(argv: list[str] | None = None) -> int:
    """Measure both sets and print the comparison."""
    from her2viewer.features.extractor import get_extractor
    from her2viewer.synth.dataset import write_dataset
    from training.items import read_items

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(REAL_DEV))
    ap.add_argument("--n", type=int, default=24, help="synthetic cores")
    ap.add_argument("--seed", type=int, default=940000)
    ap.add_argument("--diameter", type=int, default=1500)
    ap.add_argument("--crops", type=int, default=8, help="feature crops per image")
    ap.add_argument("--styles", default="synth-1.1,synth-2", help="synthetic styles to compare, comma-separated")
    args = ap.parse_args(argv)
    styles = [s for s in args.styles.split(",") if s]
    real_dir = Path(args.real)
    if not (real_dir / "labels.csv").is_file():
        print(f"{real_dir}: no labels.csv (the real images are in ../shared/data/real_dev)", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    ext = get_extractor()
    sets: dict[str, tuple[list[dict[str, float]], np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folders = [("real", real_dir)]
        for style in styles:
            write_dataset(Path(tmp) / style, n_cores=args.n, seed=args.seed, diameter_px=args.diameter, style=style)
            folders.append((style, Path(tmp) / style))
        for name, folder in folders:
            rows, feats = [], []
            for it in read_items(folder):
                rgb = load_at_target(Path(it.path))
                rows.append(image_stats(rgb))
                crops = tissue_crops(rgb, args.crops, rng)
                if crops:
                    feats.append(ext(np.stack(crops)))
            sets[name] = (rows, np.concatenate(feats))
    keys = ["tissue_fraction", "h_od_p50", "h_od_p90", "dab_od_p50", "dab_od_p90", "cytoplasm_dab_p25",
            "nucleus_area_um2", "glass_r", "glass_g", "glass_b", "sharpness"]
    print(f"{len(sets['real'][0])} real images ({real_dir}), {args.n} synthetic cores per style (seed {args.seed}, "
          f"{args.diameter} px); all at {TARGET_MPP} um/px; median [IQR] over images")
    print(f"{'statistic':20s} " + " ".join(f"{name:>26s}" for name in sets))
    for k in keys:
        print(f"{k:20s} " + " ".join(f"{describe(rows, k):>26s}" for rows, _ in sets.values()))
    allf = np.concatenate([f for _, f in sets.values()])
    mean = allf.mean(0)
    _, _, vt = np.linalg.svd(allf - mean, full_matrices=False)
    proj = vt[:PCA_DIMS].T
    pc = {name: (f - mean) @ proj for name, (_, f) in sets.items()}
    half = lambda x: (x[::2], x[1::2])  # noqa: E731
    print(f"\nFrechet distance of ImageNet MobileNetV2 features ({CROP} px crops, first {PCA_DIMS} principal "
          "components of all crops):")
    print(f"  real vs real (halves, {len(pc['real'])} crops) {frechet(*half(pc['real'])):10.2f}")
    to_real = {style: frechet(pc["real"], pc[style]) for style in styles}
    for style in styles:
        print(f"  real vs {style:12s} ({len(pc[style])} crops) {to_real[style]:10.2f}   "
              f"{style} vs itself (halves) {frechet(*half(pc[style])):8.2f}")
    if len(styles) >= 2:
        print(f"  {styles[1]} / {styles[0]} distance ratio: {to_real[styles[1]] / to_real[styles[0]]:.2f} (goal <= 0.50)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
