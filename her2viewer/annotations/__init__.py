"""Annotations: model (AnnotationSet, classes), QuPath-compatible GeoJSON, autosave store, patch labels."""
