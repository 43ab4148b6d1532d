"""Torch networks and the checkpoint format (safetensors + JSON model card); no slide I/O here."""
