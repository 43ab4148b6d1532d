"""Pyramid Sampling Sets (PSS): the stacked patches one PSS network input is made of.

One PSS = `n_full` random patches at the model's resolution + `n_half` random patches from the image
downsampled by `half_downsample` + (optionally) the whole region resized, each `patch_size` x `patch_size`,
stacked along channels (RGB of patch 0, RGB of patch 1, ...): an array (3*n, P, P) uint8, in the order full
patches, half patches, whole.

Resolution: every patch is taken at `spec.mpp` micrometres per output pixel, whatever the slide's mpp (the
pyramid level is chosen by downsample = spec.mpp / slide mpp, then resized). Slides without an mpp are
assumed to be 0.5 um/px (20x), with a warning.

Geometry: the paper uses 512 px at ~0.5 um/px (`PAPER_SPEC`, also the dataclass defaults). The CPU default
model uses `CPU_SPEC` = 256 px at 1.0 um/px: the same field of view with 4x fewer pixels. A checkpoint's
model card carries its spec (`PSSSpec.from_dict(card.input_spec)`).

Patch centres are drawn uniformly from tissue only (the region's `RegionMask`, or a quick Otsu mask on
optical density computed here when the region has none) and a patch is kept when at least
`min_tissue_fraction` of it lies on tissue (after a few tries the best candidate is taken). The "whole"
patch is the region's bounding box padded to a square with white and resized.

Efficiency: `PSSSampler` reads the region once at the model resolution (plus a margin) into memory and
derives the half-resolution copy from it; every PSS is then cropped from memory. Regions too large for
that (a whole slide's tissue) are read patch by patch with `read_region` instead.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import cv2
import numpy as np

from ...slide.base import SlideSource
from ...slide.read import read_l0_box, source_mpp
from ...slide.region import Region, RegionMask
from ..result import PatchBox

log = logging.getLogger(__name__)

#: above this many pixels at the model resolution a region is read patch by patch
MAX_CANVAS_PIXELS = 64 * 2**20
_MAX_TRIES = 8


@dataclass(frozen=True)
class PSSSpec:
    """Geometry of one PSS; defaults are the paper's (40 + 10 + 1 patches of 512 px at 0.5 um/px)."""

    n_full: int = 40
    n_half: int = 10
    whole: bool = True
    patch_size: int = 512
    mpp: float = 0.5
    half_downsample: float = 2.0
    min_tissue_fraction: float = 0.5

    @property
    def n_patches(self) -> int:
        """Patches per PSS (full + half + whole)."""
        return self.n_full + self.n_half + int(self.whole)

    @property
    def channels(self) -> int:
        """Channels of the stacked array: 3 per patch."""
        return 3 * self.n_patches

    def to_dict(self) -> dict[str, Any]:
        """The spec as a JSON-ready dict (the model card's input_spec adds mean/std)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PSSSpec:
        """Build a spec from a dict such as a model card's input_spec; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


PAPER_SPEC = PSSSpec()
CPU_SPEC = PSSSpec(patch_size=256, mpp=1.0)


def quick_tissue_mask(rgb: np.ndarray, *, max_od_threshold: float = 0.3, min_od_threshold: float = 0.05
                      ) -> np.ndarray:
    """Tissue pixels of a low-resolution RGB image: Otsu on summed optical density, clamped to
    [min_od_threshold, max_od_threshold] so that all-tissue or all-glass images stay sensible."""
    from skimage.filters import threshold_otsu

    od = -np.log((rgb.astype(np.float32) + 1.0) / 256.0).sum(axis=2)
    od = cv2.medianBlur(od.astype(np.float32), 3) if min(od.shape) >= 3 else od
    try:
        t = float(threshold_otsu(od)) if od.size > 1 and np.ptp(od) > 0 else max_od_threshold
    except ValueError:
        t = max_od_threshold
    t = min(max(t, min_od_threshold), max_od_threshold)
    return od > t


class PSSSampler:
    """Draws PSSs from one region of a slide; the region is read once and cropped from memory."""

    def __init__(self, source: SlideSource, region: Region, spec: PSSSpec,
                 max_canvas_pixels: int = MAX_CANVAS_PIXELS) -> None:
        self.source = source
        self.region = region
        self.spec = spec
        self.src_mpp = source_mpp(source)
        P = spec.patch_size
        self.ds_full = spec.mpp / self.src_mpp  # level-0 px per output px at the model resolution
        self.ds_half = self.ds_full * spec.half_downsample
        self.l0_full = P * self.ds_full  # level-0 extent of a full-resolution patch
        self.l0_half = P * self.ds_half
        x, y, w, h = (float(v) for v in region.l0_bbox)
        if w <= 0 or h <= 0:
            raise ValueError(f"empty region {region.l0_bbox}")
        self.bbox = (x, y, w, h)
        margin = self.l0_half / 2.0 if spec.n_half else self.l0_full / 2.0
        self.origin = (x - margin, y - margin)
        cw = int(math.ceil((w + 2 * margin) / self.ds_full))
        ch = int(math.ceil((h + 2 * margin) / self.ds_full))
        self._full: np.ndarray | None = None
        self._half: np.ndarray | None = None
        if cw * ch <= max_canvas_pixels:
            self._full = read_l0_box(source, self.origin[0], self.origin[1], cw * self.ds_full,
                                     ch * self.ds_full, cw, ch)
            if spec.n_half:
                hw = max(1, int(round(cw / spec.half_downsample)))
                hh = max(1, int(round(ch / spec.half_downsample)))
                self._half = cv2.resize(self._full, (hw, hh), interpolation=cv2.INTER_AREA)
        self.mask = region.mask if region.mask is not None else self._own_mask()
        self._points = self._tissue_points()
        self._whole = self._whole_patch() if spec.whole else None

    @property
    def in_memory(self) -> bool:
        """True when the region is held in memory (sampling then never touches `source`)."""
        return self._full is not None

    # -- set-up ---------------------------------------------------------------------------------------
    def _own_mask(self) -> RegionMask:
        """A quick tissue mask of the region at about 8 output px per mask px (<= 512 px a side)."""
        x, y, w, h = self.bbox
        ds = max(self.ds_full * 8.0, max(w, h) / 512.0, 1.0)
        mw, mh = max(1, int(math.ceil(w / ds))), max(1, int(math.ceil(h / ds)))
        if self._full is not None:
            ox = int(round((x - self.origin[0]) / self.ds_full))
            oy = int(round((y - self.origin[1]) / self.ds_full))
            crop = self._full[oy:oy + int(round(h / self.ds_full)), ox:ox + int(round(w / self.ds_full))]
            low = cv2.resize(crop, (mw, mh), interpolation=cv2.INTER_AREA)
        else:
            low = read_l0_box(self.source, x, y, mw * ds, mh * ds, mw, mh)
        mask = quick_tissue_mask(low)
        if not mask.any():
            log.warning("no tissue found in region %s of %s; sampling the whole region", self.region.id,
                        getattr(self.source, "path", "slide"))
            mask = np.ones_like(mask)
        return RegionMask(mask, (x, y), ds)

    def _tissue_points(self) -> np.ndarray:
        """Level-0 corners and size of the tissue mask pixels that lie in the region's bbox: (n, 2)."""
        m = self.mask
        rr, cc = np.nonzero(m.mask)
        ds = m.downsample
        px = m.l0_origin[0] + cc * ds
        py = m.l0_origin[1] + rr * ds
        x, y, w, h = self.bbox
        keep = (px + ds > x) & (px < x + w) & (py + ds > y) & (py < y + h)
        pts = np.stack([px[keep], py[keep]], axis=1)
        if len(pts) == 0:
            log.warning("region %s has no tissue in its mask; sampling the whole bounding box", self.region.id)
            gx, gy = np.meshgrid(np.linspace(x, x + w, 16, endpoint=False), np.linspace(y, y + h, 16, endpoint=False))
            pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
            self._cell = (w / 16, h / 16)
        else:
            self._cell = (ds, ds)
        return pts

    def _whole_patch(self) -> np.ndarray:
        """The region's bbox padded to a white square and resized to patch_size (the bbox is shrunk first,
        so a 60,000 x 16 px region never becomes a 60,000 x 60,000 px square in memory)."""
        P = self.spec.patch_size
        x, y, w, h = self.bbox
        scale = max(w, h) / P  # level-0 px per output px
        bw, bh = max(1, min(P, round(w / scale))), max(1, min(P, round(h / scale)))
        if self._full is not None:
            ox = int(round((x - self.origin[0]) / self.ds_full))
            oy = int(round((y - self.origin[1]) / self.ds_full))
            crop = self._full[oy:oy + max(1, int(round(h / self.ds_full))), ox:ox + max(1, int(round(w / self.ds_full)))]
            interp = cv2.INTER_AREA if crop.shape[1] >= bw else cv2.INTER_LINEAR
            inner = cv2.resize(crop, (bw, bh), interpolation=interp)
        else:
            inner = read_l0_box(self.source, x, y, w, h, bw, bh)
        out = np.full((P, P, 3), 255, np.uint8)
        px, py = (P - bw) // 2, (P - bh) // 2
        out[py:py + bh, px:px + bw] = inner
        return out

    # -- sampling -------------------------------------------------------------------------------------
    def _crop(self, canvas: np.ndarray, ds: float, l0_x: float, l0_y: float, l0_side: float,
              out: int) -> np.ndarray:
        """A square level-0 box cut from a canvas of downsample `ds` (white outside), resized to `out`."""
        cx = int(round((l0_x - self.origin[0]) / ds))
        cy = int(round((l0_y - self.origin[1]) / ds))
        n = max(1, int(round(l0_side / ds)))
        H, W = canvas.shape[:2]
        tile = np.full((n, n, 3), 255, np.uint8)
        x0, y0, x1, y1 = max(cx, 0), max(cy, 0), min(cx + n, W), min(cy + n, H)
        if x1 > x0 and y1 > y0:
            tile[y0 - cy:y1 - cy, x0 - cx:x1 - cx] = canvas[y0:y1, x0:x1]
        if n != out:
            tile = cv2.resize(tile, (out, out), interpolation=cv2.INTER_AREA if n > out else cv2.INTER_LINEAR)
        return tile

    def _centres(self, n: int, l0_extent: float, rng: np.random.Generator) -> np.ndarray:
        """n level-0 patch centres on tissue; each patch has >= min_tissue_fraction tissue when possible."""
        out = np.zeros((n, 2))
        need = np.arange(n)
        best = np.full(n, -1.0)
        for _ in range(_MAX_TRIES):
            idx = rng.integers(0, len(self._points), size=len(need))
            c = self._points[idx] + rng.random((len(need), 2)) * np.asarray(self._cell)
            frac = np.array([self.mask.fraction_in(cx - l0_extent / 2, cy - l0_extent / 2, l0_extent, l0_extent)
                             for cx, cy in c])
            better = frac > best[need]
            out[need[better]] = c[better]
            best[need[better]] = frac[better]
            need = need[best[need] < self.spec.min_tissue_fraction]
            if len(need) == 0:
                break
        return out

    def sample(self, rng: np.random.Generator | int | None = None, sample_index: int = 0
               ) -> tuple[np.ndarray, list[PatchBox]]:
        """One PSS: (3*n_patches, P, P) uint8 and its patch boxes (level-0, score left empty)."""
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        spec, P = self.spec, self.spec.patch_size
        out = np.empty((spec.channels, P, P), np.uint8)
        boxes: list[PatchBox] = []
        slot = 0
        for kind, count, extent, canvas, ds in (("full", spec.n_full, self.l0_full, self._full, self.ds_full),
                                                ("half", spec.n_half, self.l0_half, self._half, self.ds_half)):
            if count == 0:
                continue
            for cx, cy in self._centres(count, extent, rng):
                bx, by = cx - extent / 2.0, cy - extent / 2.0
                if canvas is not None:
                    patch = self._crop(canvas, ds, bx, by, extent, P)
                else:
                    patch = read_l0_box(self.source, bx, by, extent, extent, P, P)
                out[3 * slot:3 * slot + 3] = patch.transpose(2, 0, 1)
                boxes.append(PatchBox((int(round(bx)), int(round(by)), int(round(extent)), int(round(extent))),
                                      sample_index, "", kind))
                slot += 1
        if self._whole is not None:
            out[3 * slot:3 * slot + 3] = self._whole.transpose(2, 0, 1)
            boxes.append(PatchBox(tuple(int(v) for v in self.region.l0_bbox), sample_index, "", "whole"))
        return out, boxes


def sample_pss(source: SlideSource, region: Region, spec: PSSSpec,
               rng: np.random.Generator | int | None = None) -> tuple[np.ndarray, list[PatchBox]]:
    """One PSS from a region: (3*n_patches, P, P) uint8 and the level-0 patch boxes.

    For many PSSs of the same region build a `PSSSampler` once and call `.sample(rng)` repeatedly.
    """
    return PSSSampler(source, region, spec).sample(rng)


def pss_to_tensor(batch: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...], device: Any = "cpu",
                  channels_last: bool = False) -> Any:
    """uint8 PSS array(s) (C, P, P) or (B, C, P, P) -> normalised float32 tensor (B, C, P, P).

    mean/std are per RGB channel (0..1 scale), repeated over the patch groups.
    """
    import torch

    arr = batch[None] if batch.ndim == 3 else batch
    t = torch.from_numpy(np.ascontiguousarray(arr)).to(device)
    groups = t.shape[1] // 3
    m = torch.tensor(mean, dtype=torch.float32, device=t.device).repeat(groups).view(1, -1, 1, 1) * 255.0
    s = torch.tensor(std, dtype=torch.float32, device=t.device).repeat(groups).view(1, -1, 1, 1) * 255.0
    x = (t.float() - m) / s
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x
