"""On-disk cache of tile features: one `.npz` per (slide identity, extractor identity, tile spec, region),
written atomically, so scoring a slide again (another aggregator, another threshold) skips the backbone.

Slide identity: the resolved path, file size and modification time (ns) and the level-0 size; a slide
without a file on disk (an in-memory array) is keyed by its `uid`, which lives as long as the object.
Region identity: its level-0 box and a hash of its tissue mask. The default folder is
`${XDG_CACHE_HOME:-~/.cache}/her2viewer/features`. A file that cannot be read is ignored (and recomputed).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_bytes
from ..slide.base import SlideSource
from ..slide.region import Region
from .tiling import TileGrid, TileSpec

log = logging.getLogger(__name__)

CACHE_FORMAT = "her2viewer-features/1"


def default_cache_dir() -> Path:
    """`${XDG_CACHE_HOME:-~/.cache}/her2viewer/features`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "her2viewer" / "features"


def slide_identity(source: SlideSource) -> dict[str, Any]:
    """Path, size, mtime and dimensions of the slide file (or its uid when it has no file)."""
    ident: dict[str, Any] = {"dims": list(source.dimensions)}
    path = Path(str(getattr(source, "path", "") or ""))
    if str(path) and path.is_file():
        st = path.stat()
        ident.update(path=str(path.resolve()), size=st.st_size, mtime_ns=st.st_mtime_ns)
    else:
        ident["uid"] = str(getattr(source, "uid", id(source)))
    return ident


def region_identity(region: Region) -> dict[str, Any]:
    """The region's box and a digest of its tissue mask."""
    ident: dict[str, Any] = {"bbox": [int(v) for v in region.l0_bbox]}
    if region.mask is not None:
        m = region.mask
        h = hashlib.sha256(np.packbits(np.asarray(m.mask, bool)).tobytes())
        h.update(repr((m.mask.shape, tuple(m.l0_origin), float(m.downsample))).encode())
        ident["mask"] = h.hexdigest()[:16]
    return ident


def cache_key(source: SlideSource, region: Region, extractor_id: dict[str, Any], spec: TileSpec) -> str:
    """Hex digest naming the cache file."""
    doc = {"format": CACHE_FORMAT, "slide": slide_identity(source), "region": region_identity(region),
           "extractor": extractor_id, "tiles": spec.to_dict()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@dataclass
class CachedBag:
    """Features of a region's tiles and the tile grid they came from."""

    features: np.ndarray  # (n, dim) float32
    grid: TileGrid


class FeatureCache:
    """A folder of `<key>.npz` feature files."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path_for(self, key: str) -> Path:
        """The file of a key."""
        return self.root / f"{key[:40]}.npz"

    def load(self, key: str) -> CachedBag | None:
        """The cached bag of `key`, or None when absent or unreadable."""
        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                grid = TileGrid(z["l0_xy"].astype(np.int64), z["grid_rc"].astype(np.int32),
                                tuple(meta["l0_origin"]), float(meta["l0_tile_size"]), tuple(meta["shape"]),
                                int(meta["tile_px"]))
                feats = z["features"].astype(np.float32)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as e:
            log.warning("ignoring the unreadable feature cache file %s (%s)", path, e)
            return None
        if len(feats) != len(grid):
            log.warning("ignoring the inconsistent feature cache file %s", path)
            return None
        return CachedBag(feats, grid)

    def save(self, key: str, bag: CachedBag) -> Path:
        """Write the bag atomically (features as float16 to halve the size)."""
        g = bag.grid
        meta = {"format": CACHE_FORMAT, "l0_origin": list(g.l0_origin), "l0_tile_size": g.l0_tile_size,
                "shape": list(g.shape), "tile_px": g.tile_px}
        buf = io.BytesIO()
        np.savez(buf, features=bag.features.astype(np.float16), l0_xy=g.l0_xy, grid_rc=g.grid_rc,
                 meta=np.array(json.dumps(meta)))
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
        return path
