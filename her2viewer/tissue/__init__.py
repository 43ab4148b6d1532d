"""Tissue detection (Otsu + morphology + watershed) and TMA dearraying (round cores, grid labels)."""
