"""Stain normalisation at inference, for a model whose card declares it (`input_spec["stain_normalisation"]`).

Labs differ most in the haematoxylin counterstain (hue and strength); the DAB optical density is what a HER2
score is read from, so it must not be rescaled per image (that would turn a faint 1+ into a 3+). The method
"hema-percentile" therefore

1. measures the image's (or slide's) stain vectors (`her2viewer.stain.credible_stains`: Macenko's
   haematoxylin where credible, Ruifrok's DAB) and the 99th percentile of its haematoxylin OD over stained
   pixels, once per slide from a few tissue crops (`her2viewer.qc.stain_type.tissue_sample`);
2. unmixes every pixel with the slide's vectors, scales its haematoxylin OD to the reference's 99th
   percentile, keeps its DAB OD as measured, drops the residual channel (glass tint, noise), and
   recomposes the pixel with the reference's vectors on white glass.

The reference (vectors and haematoxylin strength) is measured on the images a model was trained on
(`fit_reference`) and stored in its card; training applies the same transform to its inputs, so the model
sees the same colours in training and at inference. `normalised_source(source, input_spec)` wraps a slide so
that every pixel a scorer reads is normalised; a card without the key leaves the slide as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..qc.stain_type import tissue_sample
from ..slide.base import SlideSource
from ..stain import StainMatrix, compose, credible_stains, deconvolve, rgb_to_od
from .checkpoint import CheckpointError

METHOD = "hema-percentile"
#: input_spec key of a model card that asks for normalisation
SPEC_KEY = "stain_normalisation"
#: summed RGB OD above which a pixel counts as stained when measuring the haematoxylin strength
STAINED_OD = 0.15
#: the haematoxylin scale factor is kept within these bounds (a nearly unstained sample says little)
MIN_SCALE, MAX_SCALE = 0.5, 2.5


@dataclass(frozen=True)
class StainReference:
    """What a model was trained to see: haematoxylin and DAB OD vectors and the haematoxylin strength (99th
    percentile of its OD over stained pixels)."""

    hema: tuple[float, float, float]
    dab: tuple[float, float, float]
    hema_p99: float
    method: str = METHOD

    @property
    def stains(self) -> StainMatrix:
        """The reference vectors as a stain matrix."""
        return StainMatrix.from_vectors(np.array(self.hema), np.array(self.dab))

    def to_dict(self) -> dict[str, Any]:
        """The card's JSON form."""
        return {"method": self.method, "hema": [round(v, 4) for v in self.hema],
                "dab": [round(v, 4) for v in self.dab], "hema_p99": round(float(self.hema_p99), 4)}

    @classmethod
    def from_dict(cls, d: Any, where: str = "model card") -> StainReference:
        """Read the card's JSON form; ValueError naming `where` and the problem when it is malformed."""
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: {SPEC_KEY} must be an object, not {type(d).__name__}")
        method = d.get("method", METHOD)
        if method != METHOD:
            raise ValueError(f"{where}: unknown stain normalisation method {method!r} (this version has {METHOD!r})")
        try:
            hema = tuple(float(v) for v in d["hema"])
            dab = tuple(float(v) for v in d["dab"])
            p99 = float(d["hema_p99"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{where}: {SPEC_KEY} needs hema and dab (3 numbers each) and hema_p99 ({e})") from e
        if len(hema) != 3 or len(dab) != 3 or min(hema + dab) < 0 or not (np.linalg.norm(hema) > 0
                                                                          and np.linalg.norm(dab) > 0):
            raise ValueError(f"{where}: {SPEC_KEY} vectors must be 3 non-negative numbers, not all zero")
        if not 0.0 < p99 < 5.0:
            raise ValueError(f"{where}: {SPEC_KEY} hema_p99 must be an optical density in (0, 5), not {p99}")
        return cls(hema, dab, p99)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ImageStain:
    """An image's own stain vectors and haematoxylin strength."""

    stains: StainMatrix
    hema_p99: float


def measure_stain(rgb: np.ndarray) -> ImageStain:
    """Stain vectors and the 99th percentile of haematoxylin OD over the stained pixels of an RGB sample."""
    if not rgb.size:
        return ImageStain(StainMatrix.default(), 0.0)
    stains = credible_stains(rgb)
    stained = rgb_to_od(rgb).sum(-1) > STAINED_OD
    if np.count_nonzero(stained) < 100:
        return ImageStain(stains, 0.0)
    hema = deconvolve(rgb, stains)[..., 0][stained]
    return ImageStain(stains, float(np.percentile(hema, 99)))


def fit_reference(samples: Iterable[np.ndarray]) -> StainReference:
    """The reference of a set of training images (RGB samples): their mean haematoxylin vector, the standard DAB
    vector and their median haematoxylin strength."""
    measured = [m for m in (measure_stain(s) for s in samples) if m.hema_p99 > 0]
    if not measured:
        raise ValueError("no stained pixels in the samples: cannot fit a stain reference")
    hema = np.mean([m.stains.vectors[0] for m in measured], axis=0)
    hema /= np.linalg.norm(hema)
    dab = StainMatrix.default().vectors[1]
    return StainReference(tuple(float(v) for v in hema), tuple(float(v) for v in dab),  # type: ignore[arg-type]
                          float(np.median([m.hema_p99 for m in measured])))


def normalise(rgb: np.ndarray, measured: ImageStain, reference: StainReference) -> np.ndarray:
    """RGB uint8 image recomposed in the reference's colours: haematoxylin scaled to its strength, DAB OD
    kept."""
    if rgb.size == 0:
        return rgb
    conc = deconvolve(rgb, measured.stains)[..., :2]
    scale = reference.hema_p99 / measured.hema_p99 if measured.hema_p99 > 0 else 1.0
    conc[..., 0] *= float(np.clip(scale, MIN_SCALE, MAX_SCALE))
    np.maximum(conc, 0.0, out=conc)
    return compose(conc, reference.stains)


class NormalisedSource:
    """A slide whose pixels come back normalised to a reference; everything else is the wrapped slide's."""

    def __init__(self, source: SlideSource, reference: StainReference, measured: ImageStain | None = None) -> None:
        self.inner = source
        self.reference = reference
        self.measured = measured if measured is not None else measure_stain(tissue_sample(source))

    def read_region(self, level: int, l0_x: int, l0_y: int, lvl_w: int, lvl_h: int) -> np.ndarray:
        """The wrapped slide's region, normalised."""
        return normalise(self.inner.read_region(level, l0_x, l0_y, lvl_w, lvl_h), self.measured, self.reference)

    def thumbnail(self, max_size: int) -> np.ndarray:
        """The wrapped slide's thumbnail, normalised."""
        return normalise(self.inner.thumbnail(max_size), self.measured, self.reference)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def reference_of(input_spec: Mapping[str, Any], where: str = "model card") -> StainReference | None:
    """The stain reference a card's input_spec declares, or None when it declares none."""
    d = input_spec.get(SPEC_KEY)
    return None if d is None else StainReference.from_dict(d, where)


class SourceNormaliser:
    """Slides as a model with this reference expects to see them; the last slide's measurement is kept, so
    the cores of one TMA are normalised alike and measured once."""

    def __init__(self, reference: StainReference | None) -> None:
        self.reference = reference
        self._last: NormalisedSource | None = None

    def __call__(self, source: SlideSource) -> SlideSource:
        """The slide itself when there is no reference, else its normalised view."""
        if self.reference is None:
            return source
        if self._last is None or self._last.inner is not source:
            self._last = NormalisedSource(source, self.reference)
        return self._last  # type: ignore[return-value]


def source_normaliser(input_spec: Mapping[str, Any], where: str = "model card") -> SourceNormaliser:
    """The normaliser a card's input_spec asks for (one that changes nothing when it declares none);
    CheckpointError naming `where` for a malformed reference."""
    try:
        return SourceNormaliser(reference_of(input_spec, where))
    except ValueError as e:
        raise CheckpointError(str(e)) from e


def refuse_normalisation(input_spec: Mapping[str, Any], where: str, scorer: str) -> None:
    """CheckpointError when a card asks for stain normalisation that `scorer` does not do (its tile features
    are cached unnormalised): refused, not silently ignored."""
    if SPEC_KEY in input_spec:
        raise CheckpointError(f"{where}: the card asks for stain normalisation (input_spec.{SPEC_KEY}), "
                              f"which the {scorer} does not do; use the model without it")
