"""One open slide: its source, tiles, overlay layers, display settings and view (a tab of the main window)."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from her2viewer.slide.base import SlideSource
from her2viewer.slide.tiles import TileLayer

from .display import DisplaySettings
from .layers import LayerStack
from .slide_view import SlideView


class SlideTab(QWidget):
    """Owns a slide and everything shown over it; closing the tab closes the slide."""

    def __init__(self, source: SlideSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.tile_layer = TileLayer(source)
        self.layers = LayerStack()
        self.display = DisplaySettings()
        self.view = SlideView(source, self.tile_layer, layers=self.layers)
        #: the pixel size the slide had before the user set one: (mpp, mpp_source, rel_uncertainty) or None
        self.auto_pixel_size: tuple | None = None
        if getattr(source, "mpp_source", None) in ("estimated", "assumed"):
            self.auto_pixel_size = (source.mpp, source.mpp_source, getattr(source, "mpp_uncertainty", None))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)

    @property
    def path(self) -> str:
        return str(self.source.path)

    def set_display(self, display: DisplaySettings) -> None:
        """Show this slide with new display settings (the stain views unmix with the slide's own vectors)."""
        if display.stains is None and getattr(self.source, "stain_vectors", None) is not None:
            display = display.with_(stains=self.source.stain_vectors)
        self.display = display
        self.view.set_display(display)

    def dispose(self) -> None:
        """Stop loading tiles and close the slide."""
        self.view.loader.close()
        self.source.close()
