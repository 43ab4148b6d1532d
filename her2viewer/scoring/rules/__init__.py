"""Rule-based ASCO/CAP HER2 scorer: cell detection, membrane rings, the guideline decision."""
