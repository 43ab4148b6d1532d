"""MIL bags of a slide file for training and evaluation: the regions the scorer would score (TMA cores or
the tissue, `her2viewer.tissue.regions.regions_for`), each with its cached tile features."""

from __future__ import annotations

from pathlib import Path

from ..progress import Task
from ..slide.region import Region
from . import CachedBag, FeatureCache, FeatureExtractor, TileSpec, extract_bag


def slide_bags(path: str | Path, extractor: FeatureExtractor, spec: TileSpec, *, cache: FeatureCache | None = None,
               scope: str = "auto", task: Task | None = None) -> list[tuple[Region, CachedBag]]:
    """(region, bag) for every region of the slide at `path` that the scorer would score with `scope`."""
    from ..slide import open_slide
    from ..tissue.regions import regions_for

    task = task or Task()
    with open_slide(path) as source:
        _, regions = regions_for(source, scope)
        out = []
        for i, region in enumerate(regions):
            sub = task.sub(i / len(regions), (i + 1) / len(regions))
            out.append((region, extract_bag(source, region, extractor, spec, cache=cache, task=sub)))
    return out
