"""Tissue mask and TMA grid as overlay layers, computed on a worker thread.

The worker runs the headless functions (`tissue_mask`, `dearray`) and returns plain data; the layers (Qt
objects) are built on the main thread when the queued result arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from her2viewer.slide.base import SlideSource

from ..common.inbox import Inbox
from .layers import Layer, LayerStack, RasterLayer, Shape, VectorLayer

log = logging.getLogger(__name__)

TISSUE_MASK = "Tissue mask"
TISSUE_OUTLINE = "Tissue outline"
TMA_CORES = "TMA cores"


def tissue_layers_data(source: SlideSource) -> dict[str, Any]:
    """The tissue mask grid and outline polygons (worker side; no Qt)."""
    from her2viewer.tissue.mask import tissue_mask

    tm = tissue_mask(source)
    outlines = []
    for poly in tm.polygons:
        for ring in [poly.exterior, *poly.interiors]:
            outlines.append(np.asarray(ring.coords, np.float64))
    return {"mask": tm.mask.astype(np.float32), "downsample": float(tm.downsample), "outlines": outlines}


def build_tissue_layers(data: dict[str, Any]) -> list[Layer]:
    """Layers from `tissue_layers_data`: a translucent mask and the outlines (main thread)."""
    mask = RasterLayer(TISSUE_MASK, data["mask"], cell_size=data["downsample"], colormap="#2080ff",
                       vmin=0.0, vmax=1.0, threshold=0.5, opacity=0.2, show_legend=False)
    outline = VectorLayer(TISSUE_OUTLINE, [Shape("polygon", pts, color="#1060e0") for pts in data["outlines"]],
                          line_width=1.5)
    return [mask, outline]


def tma_layers_data(source: SlideSource) -> dict[str, Any]:
    """The TMA cores as boxes with their grid labels (worker side; no Qt)."""
    from her2viewer.tissue.tma import dearray

    cores = dearray(source)
    return {"boxes": [(c.l0_bbox, c.id) for c in cores]}


def build_tma_layers(data: dict[str, Any]) -> list[Layer]:
    """A vector layer of labelled core boxes (main thread)."""
    shapes = [Shape("box", bbox, color="#e07000", label=label) for bbox, label in data["boxes"]]
    return [VectorLayer(TMA_CORES, shapes, line_width=2.0)]


ANALYSES: dict[str, tuple[Callable[[SlideSource], dict], Callable[[dict], list[Layer]]]] = {
    "tissue": (tissue_layers_data, build_tissue_layers),
    "tma": (tma_layers_data, build_tma_layers),
}


class OverlayJobs(QObject):
    """Runs analyses for overlay layers off the main thread and adds the layers to a stack when done."""

    sigFinished = Signal(str)                # analysis name
    sigFailed = Signal(str, str)             # analysis name, message for the user

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="overlays")
        self.running = 0
        self._inbox = Inbox(self._on_result, self)

    def start(self, name: str, source: SlideSource, stack: LayerStack) -> None:
        """Compute analysis `name` ("tissue" or "tma") for `source`; its layers go onto `stack`."""
        compute, _ = ANALYSES[name]
        self.running += 1

        def work() -> None:
            try:
                self._inbox.post((name, stack, compute(source), None))
            except Exception as exc:  # reported to the user, the window stays usable
                log.exception("overlay %s failed for %s", name, source.path)
                self._inbox.post((name, stack, None, f"{type(exc).__name__}: {exc}"))

        self._pool.submit(work)

    def _on_result(self, item: tuple[str, LayerStack, Any, str | None]) -> None:
        name, stack, data, error = item
        self.running -= 1
        if error is not None:
            self.sigFailed.emit(name, error)
            return
        for layer in ANALYSES[name][1](data):
            stack.add(layer)
        self.sigFinished.emit(name)

    def close(self) -> None:
        """Stop taking work (a running analysis finishes in the background)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
