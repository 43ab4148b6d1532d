"""A raw walk of a TIFF's directory chain before tifffile or OpenSlide sees the file.

A corrupted 4-byte pointer can make the IFD chain loop (tifffile and OpenSlide then walk forever), and a
patched width or height can make a reader allocate tens of GiB. `guard_tiff` follows the chain by raw
offsets with a visited set and a page cap, and refuses declared sizes that the file cannot hold, so every
TIFF opener fails fast with a message instead.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from .base import SlideOpenError

#: more directories than this (top-level plus SubIFDs) is treated as damage
MAX_PAGES = 4096
#: entries in one directory
MAX_TAGS = 4096
#: one side of an image (a 200,000 px wide slide is already unusual)
MAX_SIDE = 1_000_000
#: pixels of one image (width x height)
MAX_PIXELS = 2**36
#: one tile or strip, in pixels (width x rows): decoded whole, so bounded as plain images are
MAX_SEGMENT_PIXELS = 200_000_000
#: offsets read from one TileOffsets / StripOffsets array
MAX_SEGMENTS = 16 * 2**20

_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
_INT_FMT = {1: "B", 3: "H", 4: "I", 13: "I", 16: "Q", 6: "b", 8: "h", 9: "i", 17: "q", 18: "Q"}
_WIDTH, _LENGTH, _ROWS_PER_STRIP = 256, 257, 278
_STRIP_OFFSETS, _STRIP_COUNTS, _TILE_W, _TILE_L = 273, 279, 322, 323
_TILE_OFFSETS, _TILE_COUNTS, _SPP, _PLANAR, _SUBIFDS = 324, 325, 277, 284, 330


@dataclass
class _Entry:
    type: int
    count: int
    value_at: int  # file offset of the value (inline or pointed to)


def require_regular_file(path: str | Path) -> os.stat_result:
    """The file's stat, or SlideOpenError when it is missing or not a regular file (a pipe would block)."""
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise SlideOpenError(path, "the file does not exist") from exc
    except PermissionError as exc:
        raise SlideOpenError(path, "permission denied") from exc
    except OSError as exc:
        raise SlideOpenError(path, f"it cannot be read ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise SlideOpenError(path, "it is a directory, not a slide file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a named pipe" if stat.S_ISFIFO(st.st_mode) else "a device or socket"
        raise SlideOpenError(path, f"it is {kind}, not a regular file")
    return st


class _Walker:
    """Reads directories of one open TIFF file by raw offsets."""

    def __init__(self, path: str | Path, fh, size: int) -> None:
        self.path, self.fh, self.size = path, fh, size
        head = self._read(0, 16)
        self.bo = "<" if head[:2] == b"II" else ">"
        version = struct.unpack(self.bo + "H", head[2:4])[0]
        self.big = version == 43
        if self.big:
            self.first = struct.unpack(self.bo + "Q", head[8:16])[0]
        else:
            self.first = struct.unpack(self.bo + "I", head[4:8])[0]

    def _read(self, offset: int, n: int) -> bytes:
        self.fh.seek(offset)
        data = self.fh.read(n)
        if len(data) < n:
            raise SlideOpenError(self.path, f"the file is truncated (the TIFF points to byte {offset + n}, "
                                            f"the file has {self.size})")
        return data

    def entries(self, offset: int) -> tuple[dict[int, _Entry], int]:
        """The tags of the directory at `offset` and the offset of the next directory (0 at the end)."""
        count_fmt, entry_size, off_fmt = ("Q", 20, "Q") if self.big else ("H", 12, "I")
        count_size = struct.calcsize(count_fmt)
        (n,) = struct.unpack(self.bo + count_fmt, self._read(offset, count_size))
        if n > MAX_TAGS:
            raise SlideOpenError(self.path, f"a TIFF directory declares {n} entries (damaged)")
        raw = self._read(offset + count_size, n * entry_size + struct.calcsize(off_fmt))
        tags: dict[int, _Entry] = {}
        inline = 8 if self.big else 4
        for i in range(n):
            e = raw[i * entry_size : (i + 1) * entry_size]
            tag, typ = struct.unpack(self.bo + "HH", e[:4])
            cnt = struct.unpack(self.bo + ("Q" if self.big else "I"), e[4 : 4 + (8 if self.big else 4)])[0]
            value_pos = offset + count_size + i * entry_size + (12 if self.big else 8)
            nbytes = _TYPE_SIZE.get(typ, 1) * cnt
            if nbytes > inline:
                value_pos = struct.unpack(self.bo + off_fmt, e[-inline:])[0]
            tags[tag] = _Entry(typ, cnt, value_pos)
        (nxt,) = struct.unpack(self.bo + off_fmt, raw[n * entry_size :])
        return tags, nxt

    def ints(self, entry: _Entry | None, limit: int = MAX_SEGMENTS) -> list[int]:
        """The integer values of a tag (empty when absent or of a non-integer type)."""
        if entry is None or entry.type not in _INT_FMT or entry.count == 0:
            return []
        if entry.count > limit:
            raise SlideOpenError(self.path, f"a TIFF tag declares {entry.count} values (damaged)")
        fmt = _INT_FMT[entry.type]
        data = self._read(entry.value_at, entry.count * struct.calcsize(fmt))
        return list(struct.unpack(f"{self.bo}{entry.count}{fmt}", data))


def _check_page(w: _Walker, tags: dict[int, _Entry], page: int) -> None:
    """Refuse a directory whose declared size or segment layout the file cannot hold."""
    path = w.path
    width = (w.ints(tags.get(_WIDTH), 1) or [0])[0]
    length = (w.ints(tags.get(_LENGTH), 1) or [0])[0]
    if width > MAX_SIDE or length > MAX_SIDE or width * length > MAX_PIXELS:
        raise SlideOpenError(path, f"page {page} declares an absurd image size ({width} x {length} px)")
    if not width or not length:
        return
    spp = (w.ints(tags.get(_SPP), 1) or [1])[0]
    planes = spp if (w.ints(tags.get(_PLANAR), 1) or [1])[0] == 2 else 1
    if _TILE_OFFSETS in tags:
        tw = (w.ints(tags.get(_TILE_W), 1) or [0])[0]
        tl = (w.ints(tags.get(_TILE_L), 1) or [0])[0]
        if not tw or not tl or tw * tl > MAX_SEGMENT_PIXELS:
            raise SlideOpenError(path, f"page {page} declares an absurd tile size ({tw} x {tl} px)")
        needed = -(-width // tw) * -(-length // tl) * planes
        offsets_tag, counts_tag = tags[_TILE_OFFSETS], tags.get(_TILE_COUNTS)
    elif _STRIP_OFFSETS in tags:
        rows = min((w.ints(tags.get(_ROWS_PER_STRIP), 1) or [length])[0] or length, length)
        if width * rows > MAX_SEGMENT_PIXELS:
            raise SlideOpenError(path, f"page {page} declares an absurd strip size ({width} x {rows} px)")
        needed = -(-length // rows) * planes
        offsets_tag, counts_tag = tags[_STRIP_OFFSETS], tags.get(_STRIP_COUNTS)
    else:
        return
    if offsets_tag.count < needed:
        raise SlideOpenError(path, f"page {page} declares {width} x {length} px but holds only "
                                   f"{offsets_tag.count} of the {needed} tiles or strips that needs (damaged)")
    offsets, counts = w.ints(offsets_tag), w.ints(counts_tag)
    end = max((o + c for o, c in zip(offsets, counts, strict=False) if c), default=0)
    if end > w.size:
        raise SlideOpenError(path, f"the file is truncated (image data runs to byte {end}, the file has {w.size})")


def guard_tiff(path: str | Path, size: int | None = None) -> int:
    """Walk the TIFF's directory chain (and SubIFDs) by raw offsets; return the number of directories.

    Raises SlideOpenError for a loop in the chain, more than MAX_PAGES directories, a pointer past the end
    of the file, or a directory whose declared size its tiles or strips cannot hold.
    """
    st = require_regular_file(path)
    size = st.st_size if size is None else size
    with open(path, "rb") as fh:
        w = _Walker(path, fh, size)
        lenient = not w.big and size >= 2**32
        todo: list[tuple[int, bool]] = [(w.first, True)]  # (offset, on the main chain)
        seen: set[int] = set()
        while todo:
            offset, main = todo.pop()
            if offset == 0:
                continue
            if offset in seen:
                if main:  # SubIFD chains may share directories; the main chain must never come back
                    raise SlideOpenError(path, f"the TIFF directory chain loops back to byte {offset} (damaged)")
                continue
            if len(seen) >= MAX_PAGES:
                raise SlideOpenError(path, f"the TIFF has more than {MAX_PAGES} directories (damaged)")
            if offset >= size and not lenient:
                raise SlideOpenError(path, f"the file is truncated (the TIFF points to byte {offset}, "
                                           f"the file has {size})")
            seen.add(offset)
            try:
                tags, nxt = w.entries(offset)
                _check_page(w, tags, len(seen) - 1)
            except SlideOpenError:
                if lenient:  # 32-bit offsets of a > 4 GiB classic TIFF (NDPI) wrap: leave it to the reader
                    return len(seen)
                raise
            todo.append((nxt, main))
            todo.extend((sub, False) for sub in w.ints(tags.get(_SUBIFDS), MAX_PAGES))
    return len(seen)
