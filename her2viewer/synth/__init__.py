"""Synthetic HER2 IHC cores, TMA slides and whole slides with labels from the ASCO/CAP rule on their cells.

`core.generate_core` draws one core; `dataset.write_dataset` writes many (and TMA / WSI slides) with
labels.csv; `demo.demo_slide_path` returns the cached demo TMA slide.
"""

#: bump when the generated pixels or labels change for a given seed.
GENERATOR_VERSION = "synth-1.1"
