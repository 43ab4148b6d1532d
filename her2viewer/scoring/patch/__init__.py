"""The patch pipeline (method "patch"): a patch classifier, per-class patch counts, a slide aggregator."""
