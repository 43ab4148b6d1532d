"""Forking worker processes safely after OpenCV has run: a child forked while the parent's OpenCV thread
pool has been used hangs in its first OpenCV call that touches the pool (`cv2.setNumThreads`, a parallel
resize). Fork with OpenCV at one thread, and give the parent its threads back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import cv2


@contextmanager
def opencv_single_threaded() -> Iterator[None]:
    """OpenCV at one thread inside the block (fork worker processes there), its previous count after."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)
