"""The content identity of a slide file, so that a moved or renamed slide can be found and relinked."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

#: bytes hashed at each end of the file (whole-slide images are gigabytes: the ends and the size identify them)
HASH_SPAN = 1 << 20


def content_hash(path: str | Path) -> str | None:
    """sha256 of a file's size, first and last MiB (None when it cannot be read)."""
    p = Path(path)
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):  # a pipe or a device would block or never end
            return None
        size = st.st_size
        h = hashlib.sha256(str(size).encode())
        with p.open("rb") as f:
            h.update(f.read(HASH_SPAN))
            if size > HASH_SPAN:
                f.seek(max(HASH_SPAN, size - HASH_SPAN))
                h.update(f.read(HASH_SPAN))
    except OSError:
        return None
    return h.hexdigest()
