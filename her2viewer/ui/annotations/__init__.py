"""Annotations in the viewer: each slide's annotation session (set, autosave, undo, selection), its overlay
layer, the drawing tools, the list panel, the class editor and the menus and tool bar that tie them into the
main window (`actions`)."""
