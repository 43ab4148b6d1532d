"""Two writers of one slide's annotations: an flock per file plus a last-seen version check.

Each save takes an exclusive `flock` on a lock file (the kernel drops it when a process dies, so a crash
leaves no stale lock; the file records the owner's pid, host and time for people). Under the lock the
annotation file's version (inode, mtime, size: an atomic replace always makes a new inode) must still be
the one this writer last loaded or saved; otherwise another writer saved in between, and this writer's data
goes to `<file>.conflict-<time>-<pid>` instead: nothing is silently overwritten.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from .geojson import AnnotationIOError

#: how long a save waits for another writer's save to finish
LOCK_TIMEOUT_S = 10.0

Version = tuple[int, int, int]  # (inode, mtime_ns, size)


class ConcurrentEditError(AnnotationIOError):
    """Another writer saved the same annotation file since this one loaded it; names both files."""

    def __init__(self, path: str | Path, conflict_copy: str | Path) -> None:
        self.conflict_copy = str(conflict_copy)
        super().__init__(path, "another viewer or process changed these annotations since they were opened; "
                               f"your version was kept in {conflict_copy} (nothing was overwritten)")


def file_version(path: Path) -> Version | None:
    """The file's (inode, mtime_ns, size), or None when it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@contextlib.contextmanager
def locked(lock_path: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path` (created with the owner's pid, host and time)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise AnnotationIOError(lock_path, f"another process holds the annotation lock "
                                                       f"({_owner(fd)})") from e
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now():%Y-%m-%d %H:%M:%S}\n"
                  .encode(), 0)
        yield
    finally:
        os.close(fd)  # closing drops the flock


def _owner(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "owner unknown"
    except OSError:
        return "owner unknown"


def conflict_copy_path(path: Path) -> Path:
    """`<file>.conflict-<time>-<pid>` beside `path`."""
    return path.with_name(f"{path.name}.conflict-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}")
