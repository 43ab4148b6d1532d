"""Reading slides: one `SlideSource` protocol, one backend per file, a shared byte-bounded tile cache."""

from .array_source import ArraySlide
from .base import SlideBase, SlideOpenError, SlideSource
from .cache import TileCache, default_cache, set_default_cache_bytes
from .open import open_slide
from .tiles import TileLayer

__all__ = ["ArraySlide", "SlideBase", "SlideOpenError", "SlideSource", "TileCache", "TileLayer",
           "default_cache", "open_slide", "set_default_cache_bytes"]
