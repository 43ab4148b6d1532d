"""Attention-MIL scoring (method "mil"): tile features, an attention aggregator, the attention heatmap."""
