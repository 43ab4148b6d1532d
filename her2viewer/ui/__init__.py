"""Everything Qt: main window, slide view, overlays, panels. The only package allowed to import Qt."""
