"""Everything Qt: the only package allowed to import Qt. Rooms, each importing only the ones below it:

    app, main_window          starting the viewer; the window that wires the rooms together
    scoring | annotations     the scoring dock, engine and panels; the annotation tools and panels
    review                    accepting or overriding a score
    viewer                    slide tabs, the slide view, tiles, overlay layers, display settings
    common                    QApplication helpers, worker hand-over, background jobs, score colours
"""
