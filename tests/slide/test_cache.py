"""TileCache: LRU order, the byte bound (also under concurrent readers), one load per key, settings."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from her2viewer.slide import cache as cache_mod
from her2viewer.slide.cache import TileCache


def arr(nbytes: int, value: int = 0) -> np.ndarray:
    return np.full(nbytes, value, np.uint8)


def test_lru_eviction_by_bytes():
    c = TileCache(max_bytes=300)
    c.put("a", arr(100))
    c.put("b", arr(100))
    c.put("c", arr(100))
    assert c.get("a") is not None  # a is now the most recent
    c.put("d", arr(100))
    assert "b" not in c and {"a", "c", "d"} <= {k for k in ("a", "c", "d") if k in c}
    assert c.nbytes == 300 and c.stats()["evictions"] == 1


def test_replacing_a_key_keeps_the_count_right():
    c = TileCache(max_bytes=1000)
    c.put("a", arr(100))
    c.put("a", arr(250))
    assert c.nbytes == 250 and len(c) == 1


def test_item_bigger_than_the_bound_is_returned_not_kept():
    c = TileCache(max_bytes=100)
    out = c.get_or_load("big", lambda: arr(500))
    assert out.nbytes == 500 and "big" not in c and c.nbytes == 0


def test_cached_arrays_are_read_only():
    c = TileCache(max_bytes=1000)
    a = c.get_or_load("k", lambda: arr(10))
    with pytest.raises(ValueError):
        a[0] = 1


def test_stats_and_clear():
    c = TileCache(max_bytes=1000)
    c.get_or_load("k", lambda: arr(10))
    c.get_or_load("k", lambda: arr(10))
    assert c.get("missing") is None
    s = c.stats()
    assert (s["hits"], s["misses"], s["items"], s["nbytes"]) == (1, 2, 1, 10)
    c.clear()
    assert c.nbytes == 0 and len(c) == 0


def test_concurrent_callers_share_one_load():
    c = TileCache(max_bytes=10_000)
    calls = []
    start = threading.Barrier(8)

    def loader():
        calls.append(1)
        time.sleep(0.2)
        return arr(100, 7)

    def worker(_):
        start.wait()
        return c.get_or_load("same", loader)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(worker, range(8)))
    assert len(calls) == 1
    assert all(r is results[0] for r in results)
    assert c.stats()["waits"] == 7


def test_failed_load_is_not_cached_and_is_retried():
    c = TileCache(max_bytes=1000)

    def boom():
        raise OSError("disk on fire")

    with pytest.raises(OSError):
        c.get_or_load("k", boom)
    assert c.get_or_load("k", lambda: arr(5)).nbytes == 5


def test_bound_holds_under_concurrent_readers():
    c = TileCache(max_bytes=64 * 1024)
    over = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if c.nbytes > c.max_bytes:
                over.append(c.nbytes)

    def hammer(seed):
        rng = np.random.default_rng(seed)
        for _ in range(2000):
            key = int(rng.integers(200))
            size = 1000 + (key * 37) % 7000
            got = c.get_or_load(key, lambda s=size, k=key: arr(s, k % 256))
            assert got.nbytes == size and got[0] == key % 256
            if c.nbytes > c.max_bytes:
                over.append(c.nbytes)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hammer, range(8)))
    stop.set()
    watcher.join()
    assert not over
    s = c.stats()
    assert s["evictions"] > 0 and s["hits"] > 0
    assert sum(c.peek(k).nbytes for k in range(200) if k in c) == c.nbytes <= c.max_bytes


def test_default_cache_honours_env_and_setter(monkeypatch):
    monkeypatch.setattr(cache_mod, "_default", None)
    monkeypatch.setenv("HER2VIEWER_CACHE_MB", "16")
    c = cache_mod.default_cache()
    assert c.max_bytes == 16 * 2**20 and cache_mod.default_cache() is c
    c.put("x", arr(4 * 2**20))
    cache_mod.set_default_cache_bytes(2**20)
    assert c.max_bytes == 2**20 and c.nbytes == 0
    monkeypatch.setattr(cache_mod, "_default", None)
    monkeypatch.setenv("HER2VIEWER_CACHE_MB", "lots")
    assert cache_mod.default_cache().max_bytes == cache_mod.DEFAULT_MAX_BYTES
    monkeypatch.setattr(cache_mod, "_default", None)
