"""Input checks run before any score is suggested: the pixel size with its provenance (file, user,
estimated from nuclei, assumed), the stain (HER2 DAB IHC, H&E or unknown) with per-slide stain vectors,
tissue present, focus, and enough tumour cells for the rules. `run_qc` gives one `QCReport`, whose
`to_dict()` is the result's `qc` object (../shared/DESIGN.md)."""

from .checks import QCParams, QCReport, run_qc
from .pixel_size import PixelSize, estimate_mpp, resolve_pixel_size

__all__ = ["PixelSize", "QCParams", "QCReport", "estimate_mpp", "resolve_pixel_size", "run_qc"]
