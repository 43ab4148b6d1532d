"""Low-resolution end-to-end scoring (method "lowres"): the whole slide or core resized into a small CNN."""
