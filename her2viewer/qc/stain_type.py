"""Which stain an image shows: HER2 DAB IHC (haematoxylin counterstain + brown DAB), H&E, or unknown.

Tissue pixels are unmixed in optical-density space onto the three reference stains haematoxylin, eosin
and DAB (Ruifrok & Johnston). H&E puts a large share of the stain on eosin (pink cytoplasm and stroma);
DAB IHC puts almost none there, whatever its HER2 score (an IHC 0 is haematoxylin only). The measured
shares on real images (benchmarks/bench_qc.py): eosin <= 0.5% on 26 real HER2 IHC images and
scikit-image's IHC image, 20-45% on real H&E. Before unmixing, the glass is made white (the colour of the
brightest pixels taken off every pixel, its tint capped at MAX_CAST_OD): without it a scan 8% short of green
(pink glass) put 10 of the 26 real IHC images at 3-13% eosin and called them H&E. The slide's own
haematoxylin and DAB vectors are estimated with Macenko's method (`her2viewer.stain.credible_stains`: standard vectors where the estimate is not
credible) and reported with the verdict; `slide_stains` gives them to the viewer's stain views.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..slide.base import SlideSource
from ..stain import StainMatrix, credible_stains, not_stain, rgb_to_od

#: Ruifrok & Johnston OD vectors
HEMATOXYLIN = np.array([0.650, 0.704, 0.286])
EOSIN = np.array([0.072, 0.990, 0.105])
DAB = np.array([0.268, 0.570, 0.776])
TISSUE_OD = 0.25          # summed RGB OD of a pixel that holds stain
#: eosin share of all stain above which an image is H&E (IHC measured <= 0.005, H&E >= 0.2)
HE_EOSIN_SHARE = 0.08
#: eosin share above which an image is not plain DAB IHC (a red chromogen, a counterstain we do not know);
#: pure AEC reads ~15%, Fast Red ~47%; real DAB IHC <= 0.3%, but per-channel noise on brown reaches 3%
UNKNOWN_EOSIN_SHARE = 0.05
MIN_STAINED_PX = 3000
MIN_OD_SPREAD = 0.02      # OD standard deviation under which the image is one colour
#: 99th percentile of a tissue pixel's max - min RGB channel at or under which the image has no colour (a
#: greyscale scan or export); the palest real IHC measured 6-10 at its 90th percentile
GREY_CHROMA = 4
#: share of the brightest pixels whose colour is taken as the glass (the scanner's white)
GLASS_QUANTILE = 0.01
#: the most OD a colour cast may take off one channel beyond the glass's palest channel: a scanner's tint is
#: a few per cent of the light; pale pink stroma filling a field of H&E is not glass and keeps its eosin
MAX_CAST_OD = 0.05


@dataclass(frozen=True)
class StainCheck:
    """The stain verdict with the stain shares it rests on and the slide's stain vectors."""

    stain: str                 # "dab_ihc" | "he" | "unknown"
    shares: dict[str, float]   # haematoxylin / eosin / dab share of the unmixed stain
    stained_px: int
    vectors: StainMatrix | None
    reason: str = ""

    def vectors_dict(self) -> dict[str, list[float]] | None:
        if self.vectors is None:
            return None
        return {"hematoxylin": np.round(self.vectors.vectors[0], 4).tolist(),
                "dab": np.round(self.vectors.vectors[1], 4).tolist()}

    def findings(self) -> list[tuple[str, str]]:
        """(level, message) pairs for the QC report."""
        if self.stain == "dab_ihc":
            return []
        if self.stain == "he":
            return [("not_assessable", f"this looks like H&E, not HER2 DAB IHC ({self.reason}); "
                     "a HER2 score cannot be suggested")]
        return [("not_assessable", f"the stain is not recognised as HER2 DAB IHC ({self.reason})")]


def stain_shares(od: np.ndarray) -> np.ndarray:
    """Haematoxylin, eosin and DAB shares of the summed non-negative unmixed OD of pixels (n, 3)."""
    m = np.stack([v / np.linalg.norm(v) for v in (HEMATOXYLIN, EOSIN, DAB)])
    conc = np.clip(od @ np.linalg.inv(m), 0.0, None).sum(0)
    return conc / max(float(conc.sum()), 1e-9)


def brightest_od(od: np.ndarray, share: float) -> np.ndarray:
    """Per-channel median OD of the brightest `share` of pixels (n, 3): the colour of the glass."""
    total = od.sum(1)
    k = max(1, int(len(total) * share))
    return np.median(od[np.argpartition(total, k - 1)[:k]], 0)


def glass_od(od: np.ndarray) -> np.ndarray:
    """Per-channel OD to take off every pixel (n, 3) so that the glass reads white: the OD of the brightest
    pixels, its colour part at most MAX_CAST_OD above its palest channel."""
    glass = np.clip(brightest_od(od, GLASS_QUANTILE), 0.0, None)
    return np.minimum(glass, glass.min() + MAX_CAST_OD)


def classify_stain(windows: list[np.ndarray]) -> StainCheck:
    """The stain of RGB tissue windows (see module doc); a scanner's colour cast is taken off first (the
    glass made white), so that a pink or grey tint is not read as eosin."""
    if not windows:
        return StainCheck("unknown", {}, 0, None, "no tissue to look at")
    rgb = np.concatenate([w.reshape(-1, 3) for w in windows])
    rgb = rgb[~not_stain(rgb)]
    if len(rgb) == 0:
        return StainCheck("unknown", {}, 0, None, "the image holds nothing but black or pen ink")
    od_all = rgb_to_od(rgb[:, None, :]).reshape(-1, 3)
    if float(od_all.sum(1).std()) < MIN_OD_SPREAD:
        return StainCheck("unknown", {}, 0, None, "the image is a single colour")
    tissue_rgb = rgb[od_all.sum(1) > TISSUE_OD]
    chroma = tissue_rgb.max(1).astype(np.int16) - tissue_rgb.min(1)
    if chroma.size >= MIN_STAINED_PX and float(np.percentile(chroma, 99)) <= GREY_CHROMA:
        return StainCheck("unknown", {}, int(chroma.size), None,
                          "the image is greyscale: without colour haematoxylin and DAB cannot be told apart")
    od_all = np.clip(od_all - glass_od(od_all), 0.0, None)
    od = od_all[od_all.sum(1) > TISSUE_OD]
    if len(od) < MIN_STAINED_PX:
        return StainCheck("unknown", {}, int(len(od)), None, f"only {len(od)} stained pixels")
    h, e, d = (float(v) for v in stain_shares(od))
    shares = {"hematoxylin": round(h, 4), "eosin": round(e, 4), "dab": round(d, 4)}
    if e >= HE_EOSIN_SHARE:
        return StainCheck("he", shares, int(len(od)), None, f"eosin {100 * e:.0f}% of the stain")
    if e >= UNKNOWN_EOSIN_SHARE:
        return StainCheck("unknown", shares, int(len(od)), None,
                          f"a pink/red stain ({100 * e:.0f}% of the stain) that is neither haematoxylin nor DAB")
    if h + d < 0.5:
        return StainCheck("unknown", shares, int(len(od)), None, "neither haematoxylin nor DAB dominates")
    vectors = credible_stains(rgb[:, None, :])
    return StainCheck("dab_ihc", shares, int(len(od)), vectors, f"DAB {100 * d:.0f}% of the stain")


def tissue_sample(source: SlideSource, max_crops: int = 4, crop: int = 512) -> np.ndarray:
    """Level-0 RGB pixels (N, 1, 3) of a few tissue crops of a slide (the whole of a small image); empty when
    there is no tissue."""
    from .pixel_size import _tissue_crops

    W, H = source.dimensions
    corners = _tissue_crops(source, crop, max_crops)
    if not corners:
        return np.zeros((0, 1, 3), np.uint8)
    rgb = np.concatenate([source.read_region(0, x, y, min(crop, W - x), min(crop, H - y)).reshape(-1, 3)
                          for x, y in corners])
    return rgb[:, None, :]


def slide_stains(source: SlideSource, max_crops: int = 4, crop: int = 512) -> StainMatrix:
    """The slide's haematoxylin / DAB vectors from a few level-0 tissue crops (standard vectors when there
    is no tissue or the estimate is not credible)."""
    rgb = tissue_sample(source, max_crops, crop)
    if not len(rgb):
        return StainMatrix.default()
    return credible_stains(rgb)
