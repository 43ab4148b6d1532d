"""A thread-safe LRU cache of decoded tiles, bounded in bytes and shared by all readers of the process."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 512 * 2**20
ENV_CACHE_MB = "HER2VIEWER_CACHE_MB"


class TileCache:
    """Byte-bounded LRU of numpy arrays; `get_or_load` decodes each missing key once even when raced."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self._max_bytes = int(max_bytes)
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._inflight: dict[Hashable, Future[np.ndarray]] = {}
        self._lock = threading.Lock()
        self._nbytes = 0
        self._hits = self._misses = self._evictions = self._waits = 0

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached arrays."""
        return self._nbytes

    @property
    def max_bytes(self) -> int:
        """The byte bound."""
        return self._max_bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable) -> np.ndarray | None:
        """The cached array for `key` (now most recently used), or None."""
        with self._lock:
            arr = self._items.get(key)
            if arr is None:
                self._misses += 1
                return None
            self._items.move_to_end(key)
            self._hits += 1
            return arr

    def peek(self, key: Hashable) -> np.ndarray | None:
        """The cached array for `key` without touching LRU order or statistics."""
        with self._lock:
            return self._items.get(key)

    def put(self, key: Hashable, array: np.ndarray) -> np.ndarray:
        """Store `array` (made read-only) under `key`, evicting least recently used entries; returns it."""
        array.flags.writeable = False
        with self._lock:
            self._store(key, array)
        return array

    def get_or_load(self, key: Hashable, loader: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached array for `key`, else `loader()` stored; concurrent callers share one load."""
        with self._lock:
            arr = self._items.get(key)
            if arr is not None:
                self._items.move_to_end(key)
                self._hits += 1
                return arr
            fut = self._inflight.get(key)
            owner = fut is None
            if owner:
                fut = Future()
                self._inflight[key] = fut
                self._misses += 1
            else:
                self._waits += 1
        assert fut is not None
        if not owner:
            return fut.result()
        try:
            arr = loader()
            arr.flags.writeable = False
        except BaseException as exc:
            with self._lock:
                self._inflight.pop(key, None)
            fut.set_exception(exc)
            raise
        with self._lock:
            self._store(key, arr)
            self._inflight.pop(key, None)
        fut.set_result(arr)
        return arr

    def resize(self, max_bytes: int) -> None:
        """Change the byte bound, evicting as needed."""
        with self._lock:
            self._max_bytes = int(max_bytes)
            self._evict(0)

    def clear(self) -> None:
        """Drop every cached array (loads in flight still finish)."""
        with self._lock:
            self._items.clear()
            self._nbytes = 0

    def stats(self) -> dict[str, int]:
        """Counters: hits, misses, evictions, waits (joined a load in flight), items, nbytes, max_bytes."""
        with self._lock:
            return {"hits": self._hits, "misses": self._misses, "evictions": self._evictions,
                    "waits": self._waits, "items": len(self._items), "nbytes": self._nbytes,
                    "max_bytes": self._max_bytes}

    # -- internals (call with the lock held) -------------------------------------------------------
    def _store(self, key: Hashable, array: np.ndarray) -> None:
        size = int(array.nbytes)
        old = self._items.pop(key, None)
        if old is not None:
            self._nbytes -= int(old.nbytes)
        if size > self._max_bytes:
            return
        self._evict(size)
        self._items[key] = array
        self._nbytes += size

    def _evict(self, incoming: int) -> None:
        while self._items and self._nbytes + incoming > self._max_bytes:
            _, old = self._items.popitem(last=False)
            self._nbytes -= int(old.nbytes)
            self._evictions += 1


_default: TileCache | None = None
_default_lock = threading.Lock()


def _env_max_bytes() -> int:
    raw = os.environ.get(ENV_CACHE_MB)
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        return max(0, int(float(raw) * 2**20))
    except ValueError:
        log.warning("ignoring %s=%r: not a number of MiB", ENV_CACHE_MB, raw)
        return DEFAULT_MAX_BYTES


def default_cache() -> TileCache:
    """The process-wide tile cache (512 MiB unless HER2VIEWER_CACHE_MB or `set_default_cache_bytes`)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = TileCache(_env_max_bytes())
        return _default


def set_default_cache_bytes(max_bytes: int) -> TileCache:
    """Set the byte bound of the process-wide cache (creating it if needed); returns it."""
    cache = default_cache()
    cache.resize(max_bytes)
    return cache
