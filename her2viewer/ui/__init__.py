"""Everything Qt: main window, slide view, overlays, panels. The only package allowed to import Qt."""

from .qt_compat import protect_singletons

protect_singletons()
