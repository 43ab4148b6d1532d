"""What identifies a scoring run in the result cache: its parameters and the model's checksum."""

from __future__ import annotations

import hashlib
from typing import Any

from ..scoring.base import ScoreOptions
from ..slide.region import Region
from .result_cache import params_for


def run_params(options: ScoreOptions, method: str, scope: str | Region = "auto", exclude: Any = None
               ) -> dict[str, Any]:
    """The cache parameters of a run of `method`: `params_for`, plus a user-set pixel size, a forced run and
    the excluded (Ignore) area, each of which gives another result."""
    params = params_for(options, method, scope)
    if getattr(options, "mpp", None) is not None:
        params.setdefault("mpp", float(options.mpp))
    if getattr(options, "force", False):
        params.setdefault("force", True)
    if exclude is not None:
        import shapely

        params["exclude"] = hashlib.sha256(shapely.to_wkb(shapely.normalize(exclude))).hexdigest()
    return params


def model_sha256_for(method: str, options: ScoreOptions) -> str | None:
    """The sha256 of the checkpoint a run would use (the options' model or the method's bundled default);
    None for methods without a checkpoint. Raises CheckpointError for a named but unreadable checkpoint."""
    from ..models.checkpoint import checkpoint_exists, default_model_path, read_card

    if options.model_path:
        return read_card(options.model_path).sha256 or None
    stem = default_model_path(method)
    if checkpoint_exists(stem):
        return read_card(stem).sha256 or None
    return None
