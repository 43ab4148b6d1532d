"""Reading slides: one `SlideSource` protocol, one backend per file, a shared byte-bounded tile cache."""

from .array_source import ArraySlide
from .base import SlideBase, SlideOpenError, SlideSource

__all__ = ["ArraySlide", "SlideBase", "SlideOpenError", "SlideSource"]
