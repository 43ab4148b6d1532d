"""A pathologist-style look at each real_dev image, and every method's accuracy on the images that can carry
their label.

The BCI patches carry the score of the whole slide they were cut from (../shared/data/README.md). Looked at
one by one (contact sheets written by `--sheets`), eight of the 24 show no invasive carcinoma at all: fat,
stroma, skin, a lymphoid infiltrate or a small normal duct. No scorer can find a slide's HER2 score in
such a patch, and the product should say so rather than call it. Two more show tumour whose staining does
not look like its slide's score. The review below is by eye (REVIEW); it is not a second label set.

Prints, for each method of a `her2viewer compare --out OUT` run (its OUT.json): right calls on all
images, on the images that show tumour, and on those whose staining by eye agrees with the label
(a not-assessable call counts wrong, as in compare), with the confusion matrix of the tumour-bearing set.

    .venv/bin/her2viewer compare --data ../shared/data/real_dev --methods pss,rules --folds 5 --out /tmp/cmp
    .venv/bin/python benchmarks/real_dev_review.py /tmp/cmp.json [--sheets DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from her2viewer.scoring.asco import SCORES3, to_3way
from her2viewer.scoring.asco import SCORES4 as SCORES

TO3 = np.array([SCORES3.index(to_3way(s)) for s in SCORES])   # ISH unknown: 2+ is Low

#: file -> (shows invasive tumour, staining by eye agrees with the label: "yes" / "no" / "unsure", what is seen)
REVIEW: dict[str, tuple[bool, str, str]] = {
    "00345_test_0.png": (False, "-", "epidermis over dermis and empty glass; no carcinoma"),
    "00672_test_3+.png": (True, "unsure", "solid tumour, complete membranes mostly of moderate intensity (2+ or 3+)"),
    "00820_test_2+.png": (True, "yes", "tumour glands, weak-moderate staining"),
    "00901_test_1+.png": (True, "yes", "pale tumour sheet, faint incomplete membranes"),
    "CaseNo_22-TissueId_17-Score_3-row_36704-col_149248.png": (True, "yes", "nests, intense complete membranes"),
    "CaseNo_83-TissueId_1-Score_3-row_7552-col_37344.png": (True, "yes", "nests, intense complete membranes"),
    "bci_00000_test_1+.jpg": (True, "yes", "pale tumour, faint membranes"),
    "bci_00001_test_2+.jpg": (True, "yes", "tumour glands, weak-moderate staining"),
    "bci_00002_test_2+.jpg": (True, "yes", "infiltrating tumour, moderate staining"),
    "bci_00003_test_3+.jpg": (False, "-", "fat with one small unstained duct; no carcinoma"),
    "bci_00004_test_0.jpg": (False, "-", "fat and a strip of stroma; no carcinoma"),
    "bci_00005_test_1+.jpg": (False, "-", "fibrous stroma and fat; no carcinoma"),
    "bci_00006_test_3+.jpg": (True, "yes", "nests, intense complete membranes"),
    "bci_00007_test_1+.jpg": (True, "yes", "pale tumour sheet, faint staining"),
    "bci_00008_test_3+.jpg": (False, "-", "stroma beside mucin or glass; no carcinoma"),
    "bci_00009_test_2+.jpg": (False, "-", "fat with a vessel; no carcinoma"),
    "bci_00010_test_1+.jpg": (True, "yes", "tumour nests in fat, weak staining"),
    "bci_00011_test_3+.jpg": (False, "-", "fat and stroma; no carcinoma"),
    "bci_00012_test_1+.jpg": (True, "yes", "pale tumour below stroma and fat"),
    "bci_00013_test_0.jpg": (True, "no", "nests with thin complete brown membranes (looks 1+ to 2+, not 0)"),
    "bci_00014_test_2+.jpg": (True, "yes", "infiltrating cords, moderate staining"),
    "bci_00015_test_1+.jpg": (True, "yes", "tumour nests, faint-weak staining"),
    "bci_00016_test_1+.jpg": (True, "unsure", "cellular tumour with diffuse cytoplasmic brown, grey cast"),
    "bci_00017_test_1+.jpg": (True, "unsure", "cellular tumour with diffuse cytoplasmic brown, grey cast"),
    "bci_00018_test_2+.jpg": (True, "yes", "fat beside a band of infiltrating tumour, moderate staining"),
    "bci_00019_test_2+.jpg": (False, "-", "fat, a lymphoid infiltrate and stroma; no carcinoma"),
}


def subsets(files: list[str]) -> dict[str, np.ndarray]:
    """Boolean masks over `files`: all, shows tumour, and staining agrees with the label by eye."""
    missing = [f for f in files if f not in REVIEW]
    if missing:
        raise SystemExit(f"not reviewed: {', '.join(missing)}")
    tumour = np.array([REVIEW[f][0] for f in files])
    agrees = np.array([REVIEW[f][0] and REVIEW[f][1] == "yes" for f in files])
    return {"all images": np.ones(len(files), bool), "show tumour": tumour, "and agree by eye": agrees}


def confusion(labels: np.ndarray, calls: np.ndarray) -> str:
    """Rows: label 0..3+; columns: call 0..3+, n/a."""
    m = np.zeros((4, 5), int)
    for y, c in zip(labels, calls, strict=True):
        m[y, c if c >= 0 else 4] += 1
    lines = ["    label \\ call   0  1+  2+  3+  n/a"]
    lines += [f"    {SCORES[i]:>11} " + " ".join(f"{v:3d}" for v in row) for i, row in enumerate(m)]
    return "\n".join(lines)


def _rates(calls: np.ndarray, labels: np.ndarray, masks: dict[str, np.ndarray]) -> str:
    """'all images 15/26 (57.7%); ...': right calls per subset."""
    parts = []
    for name, m in masks.items():
        right, n = int((calls[m] == labels[m]).sum()), int(m.sum())
        parts.append(f"{name} {right}/{n} ({100 * right / max(1, n):.1f}%)")
    return "; ".join(parts)


def report(result: dict) -> None:
    """Print each method's right calls per subset, and the confusion on the tumour-bearing images."""
    files = [Path(it["path"]).name for it in result["items"]]
    labels = np.array([SCORES.index(it["label"]) for it in result["items"]])
    masks = subsets(files)
    for method, pred in result["predictions"].items():
        calls = np.asarray(pred["calls"], int)
        if list(pred["classes"]) == list(SCORES3):
            calls3 = calls
        elif list(pred["classes"]) == list(SCORES):
            calls3 = np.where(calls >= 0, TO3[np.clip(calls, 0, 3)], -1)
        else:
            print(f"{method}: classes {pred['classes']}, skipped")
            continue
        print(f"{method}, 3-way (0 / Low / High): " + _rates(calls3, TO3[labels], masks))
        if list(pred["classes"]) != list(SCORES):
            continue
        print(f"{method}, 4-way: " + _rates(calls, labels, masks))
        t = masks["show tumour"]
        print(confusion(labels[t], calls[t]))
        wrong = [f"{f} ({SCORES[y]} -> {SCORES[c] if c >= 0 else 'n/a'})"
                 for f, y, c, k in zip(files, labels, calls, t, strict=True) if k and c != y]
        print("    wrong among the tumour-bearing: " + (", ".join(wrong) or "none"))


def ceiling(labels: dict[str, str]) -> dict[str, int]:
    """The most right calls any reader of the image content could make, 4-way and 3-way (ISH unknown): every
    image whose staining agrees with its label by eye, and every unsure one, read the label's way; a mislabelled
    one wrong; and the patches without carcinoma all given the one call that matches most of their labels
    (nothing in such a patch tells one slide's score from another's)."""
    out = {}
    for name, to in (("4-way", lambda s: s), ("3-way", to_3way)):
        readable = sum(REVIEW[f][0] and REVIEW[f][1] in ("yes", "unsure") for f in labels)
        blind = [to(labels[f]) for f in labels if not REVIEW[f][0]]
        out[name] = readable + max((blind.count(c) for c in set(blind)), default=0)
    return out


def reviewed_labels(data: Path) -> dict[str, str]:
    """file -> label of DATA/labels.csv for the reviewed files ({} without the folder)."""
    from her2viewer.scoring.rules.calibrate import read_labels

    if not (data / "labels.csv").is_file():
        return {}
    return {p.name: label for p, label in read_labels(data) if p.name in REVIEW}


def sheets(data: Path, out: Path, per_sheet: int = 6, side: int = 400) -> list[Path]:
    """Contact sheets of every reviewed image with its label and the review's words (for the issue)."""
    from PIL import Image, ImageDraw

    out.mkdir(parents=True, exist_ok=True)
    names = [f for f in REVIEW if (data / f).is_file()]
    paths = []
    for k in range(0, len(names), per_sheet):
        sheet = Image.new("RGB", (3 * side, 2 * (side + 30)), "white")
        draw = ImageDraw.Draw(sheet)
        for i, f in enumerate(names[k:k + per_sheet]):
            x, y = (i % 3) * side, (i // 3) * (side + 30)
            sheet.paste(Image.open(data / f).convert("RGB").resize((side, side)), (x, y + 30))
            tumour, agrees, what = REVIEW[f]
            draw.text((x + 4, y + 2), f[:60], fill=(0, 0, 0))
            draw.text((x + 4, y + 15), what[:64], fill=(0, 0, 0) if tumour else (180, 0, 0))
        path = out / f"real_dev_review_{k // per_sheet + 1}.png"
        sheet.save(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("compare_json", nargs="?", help="OUT.json of `her2viewer compare --out OUT`")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/real_dev"))
    ap.add_argument("--sheets", metavar="DIR", help="also write contact sheets of the reviewed images here")
    args = ap.parse_args(argv)
    shows = sum(v[0] for v in REVIEW.values())
    print(f"review: {len(REVIEW)} images, {shows} show invasive tumour, "
          f"{sum(v[0] and v[1] == 'yes' for v in REVIEW.values())} of them stained as their label by eye")
    labels = reviewed_labels(Path(args.data))
    if len(labels) == len(REVIEW):
        best = ceiling(labels)
        n = len(labels)
        print(f"the most any reader of the image content could get right (unsure images read the label's way, "
              f"one best call for all patches without carcinoma): 4-way {best['4-way']}/{n} "
              f"({100 * best['4-way'] / n:.1f}%), 3-way {best['3-way']}/{n} ({100 * best['3-way'] / n:.1f}%)")
    if args.compare_json:
        report(json.loads(Path(args.compare_json).read_text()))
    if args.sheets:
        for p in sheets(Path(args.data), Path(args.sheets)):
            print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
